"""Conv2D → ReLU → MaxPooling2D as one op: ``conv.conv2d``, ``relu`` and ``conv.max_pool2d`` arranged for speed.

Conv2D layers run through ``conv2d_block``; ``Sequential`` also hands it the MaxPooling2D that
follows a Conv2D with ReLU (or no activation). Per half of the batch (``_parallel``: the two
halves run on two cores)::

    cols = im2col(x)                  rows ordered (pool window offset k, sample, pooled row, pooled column)
    z    = cols @ kernel              the one matrix product (bias not yet added): z[k] is a block of rows
    p    = max_k z[k],  a = the first k that holds it (row-major in the window, as PyTorch)
    out  = relu(p + bias)

Three choices make it fast. Pooling comes before the bias and the ReLU because
``max(relu(z + b)) = relu(max(z) + b)`` (both are non-decreasing): the same numbers, with bias and
ReLU on a quarter of the pixels. The offset-major row order makes pooling a maximum of contiguous
blocks. And conv outputs that no pool window uses (the last row and column of a 13×13 map pooled
2×2) are never computed. Backward::

    gp = g · 1[out > 0]                dz[k] = gp · 1[a = k]
    dkernel = Σ_halves Σ_k cols[k]ᵀ·dz[k]     dbias = Σ gp     dx = col2im(dz · kernelᵀ)

(dz is also laid back onto the conv output's grid for dx, so that col2im is one strided add per
kernel offset rather than one per kernel offset and window offset.)

A 3×3, stride-1 conv pooled 2×2 on at least ``conv_winograd.MIN_CHANNELS`` input channels (the
second conv of the tutorial CNNs) computes z another way: Winograd's F(2×2, 3×3) (``conv_winograd``)
gives each pooling window's four conv outputs from its 4×4 input patch with 16 multiplications per
input channel and filter instead of 36, and needs no im2col; the pooling, bias, ReLU and dz[k] are the
same. It rounds differently from the im2col products (within a few float32 ulps).

Without pooling there is one offset (k = 0) and ``dz = gp``. Each half runs both passes one window
offset at a time (forward: its im2col block, its product, the running maximum; backward: dz[k] and
its dkernel product), so each block is used while it is in cache. With few input channels (c ≤ 3,
an image model's first layer) cols is stored transposed, (depth, rows), which makes the im2col copy
run along pooled columns rather than along c values. The large arrays (cols, one offset's z and dz,
the column gradients) come from ``_scratch``'s free list.

One difference from the separate ops: the window's maximum is taken before the bias is added, so
two values that differ by less than the rounding of ``+ bias`` are not a tie here. The forward
values are the same (Winograd's: up to rounding); the gradient goes to the larger one, where the
separate ops and PyTorch give it to the first of the rounded equals. Tested against the three
separate ops, PyTorch and finite differences in tests/test_conv_fused.py and tests/test_conv_winograd.py.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _parallel, _scratch, conv_winograd
from .conv import _crop, _geometry, _pair, pad
from .engine import is_grad_enabled, make


_FEW_CHANNELS = 3          # up to this many input channels, cols is stored transposed (see conv2d_block)


def _keep_max(zk, k, out, offsets):
    """out = max(out, zk), and offsets = k where zk is strictly larger (a tie keeps the first offset).

    As k only grows, the offset is the largest k whose block beat the running maximum:
    ``offsets = max(offsets, k·[zk > out])``, without branches (a masked assignment branches on
    every pixel and, with random masks, measured ten times slower).
    """
    if offsets is not None:
        np.maximum(offsets, np.multiply(np.greater(zk, out), offsets.dtype.type(k)), out=offsets)
    np.maximum(out, zk, out=out)


def conv2d_block(x, kernel, bias=None, strides=(1, 1), padding="valid", relu=False, pool=None):
    """relu?(maxpool?(conv2d(x, kernel)) + bias): x (N, H, W, C) Tensor → (N, OH', OW', F) Tensor.

    ``pool`` is None or a (PH, PW) window with stride equal to it and "valid" padding; ``relu``
    applies ReLU last. Same values as ``conv.conv2d`` → ``activations.relu`` → ``conv.max_pool2d``.
    """
    (sh, sw) = strides = _pair(strides)
    n, h, w, c = x.shape
    kh, kw, kc, f = kernel.shape
    if kc != c:
        raise ValueError(f"conv2d: the kernel expects {kc} input channels, got input of shape {x.shape}")
    pads, oh, ow = _geometry(x.shape, (kh, kw), strides, padding)
    ph, pw = pool or (1, 1)
    qh, qw = oh // ph, ow // pw                      # the output: pooled, or the whole conv output
    if qh < 1 or qw < 1:
        raise ValueError(f"max pooling: output spatial size would be 0: a {ph}×{pw} window on the "
                         f"{oh}×{ow} conv output. Use a smaller pool_size or larger images.")
    dtype = np.result_type(x.data, kernel.data)
    xp = pad(x.data.astype(dtype, copy=False), pads)
    depth, k_count, cells = kh * kw * c, ph * pw, qh * qw
    wm = kernel.data.astype(dtype, copy=False).reshape(depth, f)
    b = None if bias is None else bias.data
    parents = (x, kernel) if bias is None else (x, kernel, bias)
    need_grad = is_grad_enabled() and any(t.requires_grad for t in parents)

    # cols is stored transposed, (depth, rows), when there are few input channels: the im2col copy
    # then runs along pooled columns rather than along c values (im2col and product for 3×3 kernels,
    # 32 filters, measured: c = 1 0.36 → 0.21 ms, c = 3 0.55 → 0.51 ms; from c = 4 on, slower)
    transposed = c <= _FEW_CHANNELS
    # a 3×3 conv pooled 2×2 on many channels: its products the Winograd way (conv_winograd)
    wino = conv_winograd.applies((kh, kw), strides, pool, c)

    def blocks(cols, s):
        """The rows of cols that belong to samples s, one (m·cells, depth) matrix per window offset."""
        r = slice(s.start * k_count * cells, s.stop * k_count * cells)
        if transposed:
            return cols[:, r].reshape(depth, k_count, -1).transpose(1, 2, 0)
        return cols[r].reshape(k_count, -1, depth)

    out = np.empty((n, qh, qw, f), dtype)
    offset_type = np.uint8 if k_count <= 256 else np.intp
    offsets = _scratch.take((n * cells, f), offset_type) if pool is not None and need_grad else None
    halves = _parallel.halves(n)
    if wino:
        cols, u = None, conv_winograd.kernel_transform(kernel.data.astype(dtype, copy=False))
        vs = [_scratch.take((16, (s.stop - s.start) * cells, c), dtype) for s in halves]
        chunk = min(conv_winograd.chunk_rows(f, np.dtype(dtype).itemsize), (halves[0].stop - halves[0].start) * cells)
        temps = [(_scratch.take((2, 2, s.stop - s.start, qh + 1, qw + 1, c), dtype),
                  _scratch.take((4, 2, s.stop - s.start, qh, qw + 1, c), dtype),
                  _scratch.take((16 * chunk * f,), dtype), _scratch.take((4 * chunk * f,), dtype)) for s in halves]
        zk = [a for arrays in temps for a in arrays]
    else:
        cols = _scratch.take((depth, n * k_count * cells) if transposed else (n * k_count * cells, depth), dtype)
        zk = [_scratch.take(((s.stop - s.start) * cells, f), dtype) if k_count > 1 else None for s in halves]

    def forward_winograd(i, s):
        """The input transform of the half's patches, then the products and the pooling a chunk of
        patches at a time (conv_winograd), so that each chunk of M is used while in cache."""
        m, v = s.stop - s.start, vs[i]
        planes, rows, m_buf, y_buf = temps[i]
        conv_winograd.input_transform(xp[s], qh, qw, v, planes, rows)
        o = out[s].reshape(m * cells, f)
        a = None if offsets is None else offsets[s.start * cells:s.stop * cells]
        for lo, hi, y in conv_winograd.outputs(v, u, m_buf, y_buf):
            np.copyto(o[lo:hi], y[0])
            if a is not None:
                a[lo:hi].fill(0)
            for k in range(1, k_count):
                _keep_max(y[k], k, o[lo:hi], None if a is None else a[lo:hi])
        if b is not None:
            o += b
        if relu:
            np.maximum(o, 0, out=o)

    def forward(i, s):
        """One pool window offset at a time, so each block of cols and z is used while in cache."""
        m = s.stop - s.start
        windows = sliding_window_view(xp[s], (kh, kw), axis=(1, 2))[:, ::sh, ::sw]   # (m, OH, OW, C, KH, KW)
        cols_k = blocks(cols, s)
        if transposed:                               # (k, m, qh, qw, kh, kw, c) views of the block
            block = cols_k.transpose(0, 2, 1).reshape(k_count, kh, kw, c, m, qh, qw)
            block = block.transpose(0, 4, 5, 6, 1, 2, 3)
        else:
            block = cols_k.reshape(k_count, m, qh, qw, kh, kw, c)
        o = out[s].reshape(m * cells, f)
        a = None if offsets is None else offsets[s.start * cells:s.stop * cells]
        for k in range(k_count):
            pi, pj = divmod(k, pw)
            np.copyto(block[k], windows[:, pi::ph, pj::pw][:, :qh, :qw].transpose(0, 1, 2, 4, 5, 3))
            if k == 0:                               # z for offset 0 goes straight into out
                np.matmul(cols_k[0], wm, out=o)
                if a is not None:
                    a.fill(0)
            else:
                np.matmul(cols_k[k], wm, out=zk[i])
                _keep_max(zk[i], k, o, a)
        if b is not None:
            o += b
        if relu:
            np.maximum(o, 0, out=o)
    _parallel.map_halves(forward_winograd if wino else forward, n)
    _scratch.give(*zk)
    if not need_grad:
        _scratch.give(cols, *(vs if wino else ()))
        return make(out, parents, None, "conv2d_block")
    saved = _scratch.Saved(cols=cols, offsets=offsets,      # back to the free list with the graph
                           **({f"v{i}": v for i, v in enumerate(vs)} if wino else {}))

    def backward(g):
        g = np.ascontiguousarray(g)
        dxp = np.zeros(xp.shape, dtype) if x.requires_grad else None
        wt = wm.reshape(kh * kw, c, f).transpose(0, 2, 1)           # (KH·KW, F, C)
        scratch = []
        for s in halves:
            m = s.stop - s.start
            if wino:                                                # dM, and for dx: dV and two more
                scratch.append((_scratch.take((16, m * cells, f), dtype),) + ((
                    _scratch.take((16, m * cells, c), dtype), _scratch.take((4, 2, m, qh, qw + 1, c), dtype),
                    _scratch.take((2, 2, m, qh, qw + 1, c), dtype),
                    _scratch.take((2, 2, m, qh + 1, qw + 1, c), dtype)) if dxp is not None else ()))
                continue
            scratch.append((_scratch.take((m * cells, f), dtype) if pool is not None else None,
                            _scratch.take((m, ph * qh, pw * qw, f), dtype) if pool is not None and dxp is not None
                            else None,
                            _scratch.take((m * k_count * cells, c), dtype) if dxp is not None else None))

        def part_winograd(i, s, gp):
            """dY[k] = gp · 1[a = k] straight into dM's blocks, then conv_winograd's backward."""
            dm, for_dx = scratch[i][0], scratch[i][1:]
            a = saved.offsets[s.start * cells:s.stop * cells]
            for k in range(k_count):
                np.multiply(gp, a == k, out=dm[conv_winograd.SLOTS[k]])
            v = getattr(saved, f"v{i}") if kernel.requires_grad else None
            return conv_winograd.backward(dm, v, u, None if dxp is None else dxp[s], qh, qw, for_dx)

        def part(i, s):
            """dz[k] = gp · 1[a = k], one window offset at a time (so that dz[k] is used while in
            cache): dkernel += cols[k]ᵀ · dz[k], and dz[k] laid on the conv output's grid for dx, so
            that col2im is one strided add per kernel offset."""
            m = s.stop - s.start
            gp = g[s].reshape(m * cells, f)
            if relu:
                gp = gp * (out[s].reshape(m * cells, f) > 0)
            db = np.ones(len(gp), dtype) @ gp if bias is not None and bias.requires_grad else None   # Σ_rows gp
            if wino:
                return part_winograd(i, s, gp), db
            dz, grid, dcols = scratch[i]
            cols_k = blocks(saved.cols, s)
            if pool is None:
                grid = gp.reshape(m, qh, qw, f)
                dk = cols_k[0].T @ gp if kernel.requires_grad else None
            else:
                dk = np.zeros((depth, f), dtype) if kernel.requires_grad else None
                a = saved.offsets[s.start * cells:s.stop * cells]
                for k in range(k_count):
                    np.multiply(gp, a == k, out=dz)
                    if dk is not None:                              # dkernel += cols[k]ᵀ · dz[k]
                        dk += cols_k[k].T @ dz
                    if grid is not None:                            # (the same block, on the grid)
                        pi, pj = divmod(k, pw)
                        grid[:, pi::ph, pj::pw] = dz.reshape(m, qh, qw, f)
            if dxp is not None:                                     # dx = col2im(dz · kernelᵀ), one kernel
                flat = grid.reshape(-1, f)                          # offset at a time (its block stays in cache)
                for kk in range(kh * kw):
                    ki, kj = divmod(kk, kw)
                    np.matmul(flat, wt[kk], out=dcols)              # (m·OH'·OW', C)
                    dxp[s, ki:ki + (ph * qh - 1) * sh + 1:sh, kj:kj + (pw * qw - 1) * sw + 1:sw] \
                        += dcols.reshape(m, ph * qh, pw * qw, c)
            return dk, db
        results = _parallel.map_halves(part, n)
        _scratch.give(*[a for arrays in scratch for a in arrays])
        dk = db = None
        if kernel.requires_grad:
            dk = results[0][0] if len(results) == 1 else results[0][0] + results[1][0]
            dk = dk.reshape(kernel.shape)
        if bias is not None and bias.requires_grad:
            db = results[0][1] if len(results) == 1 else results[0][1] + results[1][1]
        dx = None if dxp is None else _crop(dxp, pads, h, w)
        return (dx, dk) if bias is None else (dx, dk, db)
    return make(out, parents, backward, "conv2d_block")


def can_pool(pool_layer):
    """Whether a MaxPooling2D layer can run inside ``conv2d_block`` (disjoint windows, "valid")."""
    return pool_layer.padding == "valid" and tuple(pool_layer.strides) == tuple(pool_layer.pool_size)


__all__ = ["conv2d_block", "can_pool"]
