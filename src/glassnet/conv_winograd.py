"""Winograd's minimal filtering F(2×2, 3×3): the conv products of a 3×3 kernel whose output is
max-pooled 2×2, with 2.25 times fewer multiplications (Lavin & Gray, 2015).

``conv_fused.conv2d_block`` uses it for a 3×3, stride-1 convolution followed by a 2×2 max pool, when
the input has at least ``MIN_CHANNELS`` channels. Each 2×2 pooling window of the conv output is one
Winograd tile: its four outputs come from the 4×4 input patch ``d = x[2i:2i+4, 2j:2j+4]`` as ::

    U = G w Gᵀ            (4×4, per input channel and filter: the kernel, transformed once per call)
    V = Bᵀ d B            (4×4, per patch and channel: additions only)
    M[ξν] = V[ξν] · U[ξν]  (16 matrix products, one per position ξν: (patches × C)·(C × F))
    Y = Aᵀ M A            (2×2, per patch and filter: the four conv outputs of the pooling window)

so a window costs 16·C·F multiply-adds instead of 4·9·C·F. Backward, the same matrices transposed::

    dM = A dY Aᵀ,   dU[ξν] = V[ξν]ᵀ·dM[ξν],   dw = Gᵀ dU G
    dV[ξν] = dM[ξν]·U[ξν]ᵀ,   dd = B dV Bᵀ

and each patch's dd is added back onto the 4×4 pixels it came from (neighbouring patches overlap by
two rows or columns). The results equal the im2col products' up to float rounding (a few units in the
last place of float32): Winograd only regroups the same sum. The last row of Bᵀ and the last column
of Aᵀ are negated here (the two signs cancel in M), so that dM's every block is a sum or difference of
two others.
"""
import numpy as np

MIN_CHANNELS = 16            # fewer input channels: the transforms cost more than the products save
_CHUNK_BYTES = 512 << 10     # M is computed this many bytes at a time, so Aᵀ M A reads it from cache

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]])
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, 1]])
_GG = np.kron(_G, _G)        # (16, 9): U[ξ·4+ν] = Σ G[ξ,a]·G[ν,b]·w[a·3+b]
_AA = np.kron(_AT, _AT)      # (4, 16): Y[a·2+b] = Σ Aᵀ[a,ξ]·Aᵀ[b,ν]·M[ξ·4+ν]
SLOTS = (0, 3, 12, 15)       # dM's block that equals dY[k] for pool window offset k = a·2+b


def applies(kernel_hw, strides, pool, channels):
    """Whether ``conv2d_block`` computes this layer's products the Winograd way."""
    return (tuple(kernel_hw) == (3, 3) and tuple(strides) == (1, 1) and pool is not None
            and tuple(pool) == (2, 2) and channels >= MIN_CHANNELS)


def kernel_transform(w):
    """U = G w Gᵀ: the (3, 3, C, F) kernel as 16 (C, F) matrices."""
    c, f = w.shape[2:]
    return (_GG.astype(w.dtype) @ w.reshape(9, c * f)).reshape(16, c, f)


def input_transform(xs, qh, qw, v, planes, rows):
    """v[ξ·4+ν] = (Bᵀ d B)[ξν] for the qh × qw patches of each sample of xs (m, H, W, C), one row of
    v per patch (sample, patch row, patch column). Scratch: ``planes`` (2, 2, m, qh + 1, qw + 1, C),
    ``rows`` (4, 2, m, qh, qw + 1, C).

    xs is first split into its four planes of even/odd rows and columns: pixel p of every patch
    (along either axis) is then a slice of one plane, shifted by ⌊p/2⌋, and each step below is a
    handful of additions on large arrays."""
    for rp in range(2):
        for cp in range(2):
            np.copyto(planes[rp, cp], xs[:, rp:2 * qh + 2:2, cp:2 * qw + 2:2])
    even, odd = planes[0], planes[1]                                 # (column parity, m, qh + 1, qw + 1, C)
    d = [even[:, :, :qh], odd[:, :, :qh], even[:, :, 1:], odd[:, :, 1:]]     # patch row p, all columns
    np.subtract(d[0], d[2], out=rows[0])                             # Bᵀ d: the rows
    np.add(d[1], d[2], out=rows[1])
    np.subtract(d[2], d[1], out=rows[2])
    np.subtract(d[3], d[1], out=rows[3])
    e = [rows[:, 0, ..., :qw, :], rows[:, 1, ..., :qw, :], rows[:, 0, ..., 1:, :], rows[:, 1, ..., 1:, :]]
    v5 = v.reshape(4, 4, *e[0].shape[1:])
    np.subtract(e[0], e[2], out=v5[:, 0])                            # (Bᵀ d) B: the columns
    np.add(e[1], e[2], out=v5[:, 1])
    np.subtract(e[2], e[1], out=v5[:, 2])
    np.subtract(e[3], e[1], out=v5[:, 3])


def chunk_rows(f, itemsize):
    """Patches per chunk of M (16 × rows × F values)."""
    return max(1, _CHUNK_BYTES // (16 * f * itemsize))


def outputs(v, u, m_buf, y_buf):
    """Yield ``(lo, hi, y)``: y[k] (hi − lo, F) holds the conv outputs at pool window offset k of
    patches [lo, hi), computed a chunk at a time (M in ``m_buf``, y in ``y_buf``, flat scratch)."""
    rows, f = v.shape[1], u.shape[2]
    step = len(m_buf) // (16 * f)
    aa = _AA.astype(v.dtype)
    for lo in range(0, rows, step):
        hi = min(lo + step, rows)
        mc = m_buf[:16 * (hi - lo) * f].reshape(16, hi - lo, f)
        np.matmul(v[:, lo:hi], u, out=mc)
        y = y_buf[:4 * (hi - lo) * f].reshape(4, hi - lo, f)
        np.matmul(aa, mc.reshape(16, -1), out=y.reshape(4, -1))
        yield lo, hi, y


def backward(dm, v, u, dx, qh, qw, scratch):
    """Gradients from dm (16, patches, F), whose blocks ``SLOTS[k]`` hold dY[k] on entry: returns dw
    as (9·C, F) (None if v is None), and writes the input's gradient into dx (m, H, W, C) unless it
    is None (its rows and columns past the patches, from 2·qh + 2 and 2·qw + 2 on, are left as they
    are: zeros). ``scratch``: dV (16, patches, C), (4, 2, m, qh, qw + 1, C), (2, 2, m, qh, qw + 1, C)
    and the planes (2, 2, m, qh + 1, qw + 1, C)."""
    for a in (0, 12):                                                # dM = A dY Aᵀ: first along ν ...
        np.add(dm[a], dm[a + 3], out=dm[a + 1])
        np.subtract(dm[a], dm[a + 3], out=dm[a + 2])
    np.add(dm[0:4], dm[12:16], out=dm[4:8])                          # ... then along ξ
    np.subtract(dm[0:4], dm[12:16], out=dm[8:12])
    dw = None
    if v is not None:
        du = np.matmul(v.transpose(0, 2, 1), dm)                     # (16, C, F)
        c, f = du.shape[1:]
        dw = (_GG.T.astype(du.dtype) @ du.reshape(16, c * f)).reshape(9 * c, f)
    if dx is not None:
        dv, cols, rows, planes = scratch
        np.matmul(dm, u.transpose(0, 2, 1), out=dv)
        dv = dv.reshape(4, 4, dx.shape[0], qh, qw, dx.shape[3])
        even_c, odd_c = cols[:, 0], cols[:, 1]                      # dV Bᵀ (the columns: e0 = dV[:, 0],
        e1 = np.subtract(dv[:, 1], dv[:, 2], out=odd_c[..., :qw, :])  # e1, e2 = dV[:, 1] ± dV[:, 2] ∓ …,
        np.subtract(e1, dv[:, 3], out=e1)                            # e3 = dV[:, 3]) added onto the even
        e2 = np.add(dv[:, 1], dv[:, 2], out=dv[:, 2])                # and odd columns of the patches:
        np.subtract(e2, dv[:, 0], out=e2)                            # cols[ξ, column parity]
        cols[..., qw, :] = 0
        odd_c[..., 1:, :] += dv[:, 3]
        even_c[..., :qw, :] = dv[:, 0]
        even_c[..., 1:, :] += e2
        dd1 = np.subtract(cols[1], cols[2], out=rows[0])             # B (…): the rows (cols[ξ], all columns)
        np.subtract(dd1, cols[3], out=dd1)
        dd2 = np.add(cols[1], cols[2], out=rows[1])
        np.subtract(dd2, cols[0], out=dd2)
        even, odd = planes[0], planes[1]
        even[:, :, qh] = 0
        odd[:, :, qh] = 0
        even[:, :, :qh] = cols[0]                                    # patch rows 0 and 2 onto even rows,
        even[:, :, 1:] += dd2                                        # 1 and 3 onto odd rows
        odd[:, :, :qh] = dd1
        odd[:, :, 1:] += cols[3]
        for rp in range(2):
            for cp in range(2):
                dx[:, rp:2 * qh + 2:2, cp:2 * qw + 2:2] = planes[rp, cp]
    return dw


__all__ = ["applies", "kernel_transform", "input_transform", "outputs", "backward", "MIN_CHANNELS", "SLOTS"]
