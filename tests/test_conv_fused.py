"""conv_fused.conv2d_block against the three separate ops and PyTorch; _scratch; _parallel; Sequential's fusion.

``conv2d_block(x, kernel, bias, strides, padding, relu, pool)`` must equal
``conv.max_pool2d(relu(conv.conv2d(x, kernel, bias, strides, padding)), pool, pool)`` forward and
backward, whatever the batch split (odd batches: unequal halves), the threads, the ties and which
inputs require gradients. Every check compares with an independent computation: the unfused glassnet
ops, PyTorch, finite differences, or a rule written out here.
"""
import gc
import itertools
import os
import select
import signal
import threading

import numpy as np
import pytest

import glassnet
from glassnet import _blas, _parallel, _scratch, activations, conv, conv_fused, gradcheck
from glassnet.engine import Tensor, no_grad
from glassnet.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

try:
    import torch
    import torch.nn.functional as F
except ImportError:          # the PyTorch comparisons are skipped; everything else still runs
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

TIGHT = dict(rtol=1e-10, atol=1e-10)


# -- helpers -----------------------------------------------------------------------------------------------
def unfused(x, kernel, bias=None, strides=(1, 1), padding="valid", relu=False, pool=None):
    """The reference: the three separate glassnet ops."""
    out = conv.conv2d(x, kernel, bias, strides, padding)
    if relu:
        out = activations.relu(out)
    if pool is not None:
        out = conv.max_pool2d(out, pool, pool, "valid")
    return out


def run(fn, x, k, b, g=None, grads=(True, True, True), seed=0, **kwargs):
    """fn(x, k, b, **kwargs) forward and ``backward(g)``: (out, dx, dk, db) as arrays (None: no gradient)."""
    xt = Tensor(x, requires_grad=grads[0])
    kt = Tensor(k, requires_grad=grads[1])
    bt = None if b is None else Tensor(b, requires_grad=grads[2])
    out = fn(xt, kt, bt, **kwargs)
    if out.requires_grad:
        if g is None:
            g = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
        out.backward(g)
    return out.data, xt.grad, kt.grad, None if bt is None else bt.grad


def assert_same(got, expected, **tol):
    names = ("out", "dx", "dkernel", "dbias")
    for name, a, e in zip(names, got, expected):
        if e is None:
            assert a is None, f"{name}: expected no gradient"
            continue
        assert a is not None, f"{name}: missing"
        assert a.shape == e.shape, f"{name}: shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(a, e, err_msg=name, **tol)


def data(n, h, w, c, f, kernel_hw, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal(tuple(kernel_hw) + (c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, k, b


def conv_out_hw(h, w, kernel_hw, strides, padding):
    (sh, sw) = conv._pair(strides)
    return (conv.conv_output_size(h, kernel_hw[0], sh, padding), conv.conv_output_size(w, kernel_hw[1], sw, padding))


def blas_controllable():
    return _blas.get_num_threads() is not None


@pytest.fixture(params=["sequential", "threaded"])
def mode(request, monkeypatch):
    """Run the halves one after the other (_CORES = 1) or on two threads (_CORES = 2, BLAS on 1 thread)."""
    if request.param == "sequential":
        monkeypatch.setattr(_parallel, "_CORES", 1)
        yield request.param
        return
    if not blas_controllable():
        pytest.skip("the BLAS thread count can't be read here, so map_halves never uses its thread")
    monkeypatch.setattr(_parallel, "_CORES", 2)
    with _blas.blas_threads(1):
        yield request.param


@pytest.fixture(params=["rows", "transposed"])
def layout(request, monkeypatch):
    """Store im2col as (rows, depth) or as (depth, rows) whatever the channel count (by default the
    transposed layout is kept for few channels, see conv_fused._FEW_CHANNELS)."""
    monkeypatch.setattr(conv_fused, "_FEW_CHANNELS", 0 if request.param == "rows" else 1 << 30)
    return request.param


def cols_shape(rows, depth, channels):
    """The shape of the im2col scratch array for a layer with this many input channels."""
    return (depth, rows) if channels <= conv_fused._FEW_CHANNELS else (rows, depth)


@pytest.fixture
def worker_calls(monkeypatch):
    """The names of the threads that ran a worker half (``_parallel._in_thread``)."""
    calls, real = [], _parallel._in_thread

    def spy(fn, errors, *args):
        calls.append(threading.current_thread().name)
        return real(fn, errors, *args)
    monkeypatch.setattr(_parallel, "_in_thread", spy)
    return calls


@pytest.fixture
def fresh_scratch(monkeypatch):
    """An empty free list of our own (restored afterwards), with leftover graphs collected first."""
    gc.collect()
    monkeypatch.setattr(_scratch, "_FREE", {})
    return _scratch._FREE


# -- forward and backward = the unfused ops, float64 ------------------------------------------------------------
GEOMETRIES = [  # N, H, W, C, F, (KH, KW)
    (2, 15, 15, 1, 3, (3, 3)),      # conv output 13×13 ("valid"): pool 2 drops the last row and column
    (3, 7, 9, 3, 2, (2, 3)),        # odd batch: halves of 2 and 1; odd sizes
    (5, 8, 10, 10, 4, (3, 2)),      # C > 8, halves of 3 and 2
    (1, 6, 7, 3, 2, (1, 1)),        # batch 1: no split; 1×1 kernel
]
POOLS = [(2, 2), (3, 3), (2, 3), None]
CASES = [
    (geom, pool, relu, strides, padding, use_bias)
    for geom, pool, relu, strides, padding, use_bias in itertools.product(
        GEOMETRIES, POOLS, (False, True), (1, 2), ("valid", "same"), (True, False))
    if pool is None or all(o >= p for o, p in zip(conv_out_hw(geom[1], geom[2], geom[5], strides, padding), pool))
]


@pytest.mark.parametrize("geom, pool, relu, strides, padding, use_bias", CASES)
def test_block_equals_unfused_float64(geom, pool, relu, strides, padding, use_bias):
    n, h, w, c, f, kernel_hw = geom
    x, k, b = data(n, h, w, c, f, kernel_hw, seed=len(CASES))
    b = b if use_bias else None
    kwargs = dict(strides=strides, padding=padding, relu=relu, pool=pool)
    got = run(conv_fused.conv2d_block, x, k, b, **kwargs)
    expected = run(unfused, x, k, b, **kwargs)
    oh, ow = conv_out_hw(h, w, kernel_hw, strides, padding)
    ph, pw = pool or (1, 1)
    assert got[0].shape == (n, oh // ph, ow // pw, f)
    assert got[0].dtype == np.float64
    assert_same(got, expected, **TIGHT)


@pytest.mark.parametrize("strides, padding, pool", [((2, 1), "same", (2, 2)), ((1, 2), "valid", (3, 2)),
                                                    ((2, 1), "valid", None), ((1, 2), "same", (2, 3))])
@pytest.mark.parametrize("n", [2, 3])
def test_block_unequal_strides_equals_unfused(mode, layout, n, strides, padding, pool):
    x, k, b = data(n, 11, 9, 3, 4, (3, 2), seed=7)
    kwargs = dict(strides=strides, padding=padding, relu=True, pool=pool)
    assert_same(run(conv_fused.conv2d_block, x, k, b, **kwargs), run(unfused, x, k, b, **kwargs), **TIGHT)


@pytest.mark.parametrize("n, pool, relu, padding", [
    (5, (2, 2), True, "valid"), (3, (3, 3), False, "same"), (2, (2, 3), True, "same"),
    (7, None, True, "valid"), (4, None, False, "same"), (1, (2, 2), True, "valid")])
def test_block_equals_unfused_in_both_modes(mode, layout, n, pool, relu, padding):
    x, k, b = data(n, 13, 11, 4, 5, (3, 3), seed=11)
    kwargs = dict(strides=1, padding=padding, relu=relu, pool=pool)
    assert_same(run(conv_fused.conv2d_block, x, k, b, **kwargs), run(unfused, x, k, b, **kwargs), **TIGHT)


def test_block_keeps_float32():
    x, k, b = data(3, 9, 9, 2, 3, (3, 3), dtype=np.float32)
    out, dx, dk, db = run(conv_fused.conv2d_block, x, k, b, relu=True, pool=(2, 2))
    assert out.dtype == dx.dtype == dk.dtype == db.dtype == np.float32
    ref = run(unfused, x, k, b, relu=True, pool=(2, 2))
    assert_same((out, dx, dk, db), ref, rtol=1e-5, atol=1e-5)


def test_unused_conv_outputs_are_not_computed(monkeypatch):
    """A 13×13 conv output pooled 2×2 needs the top-left 12×12 only: im2col has N·4·6·6 rows, not N·169."""
    shapes, real = [], _scratch.take
    monkeypatch.setattr(_scratch, "take", lambda shape, dtype: shapes.append(shape) or real(shape, dtype))
    x, k, b = data(3, 15, 15, 2, 4, (3, 3))
    xt = Tensor(x, requires_grad=True)
    out = conv_fused.conv2d_block(xt, Tensor(k), Tensor(b), relu=True, pool=(2, 2))
    assert out.shape == (3, 6, 6, 4)
    assert cols_shape(3 * 4 * 6 * 6, 3 * 3 * 2, 2) in shapes and not any(3 * 13 * 13 in s for s in shapes)
    # the last row and column of x feed only conv outputs no window uses: their gradient is 0
    out.backward(np.ones(out.shape))
    assert not xt.grad[:, 14].any() and not xt.grad[:, :, 14].any()
    assert xt.grad[:, 13].any()


# -- PyTorch, float32 ----------------------------------------------------------------------------------------------
def _tf_pad(x_nchw, h, w, kernel_hw, strides, padding):
    if padding == "valid":
        return x_nchw
    (t, b), (l, r) = (conv.padding_amounts(h, kernel_hw[0], strides[0], "same"),
                      conv.padding_amounts(w, kernel_hw[1], strides[1], "same"))
    return F.pad(x_nchw, (l, r, t, b))


def torch_block(x, k, b, g, strides, padding, relu, pool):
    """PyTorch's conv2d → relu → max_pool2d on NCHW copies; results back in glassnet's layouts."""
    n, h, w, c = x.shape
    strides = conv._pair(strides)
    x_t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    k_t = torch.tensor(k.transpose(3, 2, 0, 1), requires_grad=True)          # (KH, KW, C, F) → (F, C, KH, KW)
    b_t = None if b is None else torch.tensor(b, requires_grad=True)
    out = F.conv2d(_tf_pad(x_t, h, w, k.shape[:2], strides, padding), k_t, b_t, stride=strides)
    if relu:
        out = F.relu(out)
    if pool is not None:
        out = F.max_pool2d(out, pool, pool)
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return (out.detach().numpy().transpose(0, 2, 3, 1), x_t.grad.numpy().transpose(0, 2, 3, 1),
            k_t.grad.numpy().transpose(2, 3, 1, 0), None if b_t is None else b_t.grad.numpy())


TORCH_CASES = [
    (geom, pool, relu, strides, padding)
    for geom, pool, relu, (strides, padding) in itertools.product(
        GEOMETRIES[:3], POOLS, (False, True), [(1, "valid"), (2, "same"), ((1, 2), "same")])
    if pool is None or all(o >= p for o, p in zip(conv_out_hw(geom[1], geom[2], geom[5], strides, padding), pool))
]


@needs_torch
@pytest.mark.parametrize("geom, pool, relu, strides, padding", TORCH_CASES)
def test_block_matches_torch_float32(geom, pool, relu, strides, padding):
    n, h, w, c, f, kernel_hw = geom
    x, k, b = data(n, h, w, c, f, kernel_hw, dtype=np.float32, seed=5)
    kwargs = dict(strides=strides, padding=padding, relu=relu, pool=pool)
    got = run(conv_fused.conv2d_block, x, k, b, seed=6, **kwargs)
    g = np.random.default_rng(6).standard_normal(got[0].shape).astype(np.float32)
    assert_same(got, torch_block(x, k, b, g, **kwargs), rtol=1e-4, atol=1e-4)


@needs_torch
def test_block_without_bias_matches_torch(mode):
    x, k, _ = data(3, 10, 9, 3, 4, (3, 3), dtype=np.float32, seed=8)
    kwargs = dict(strides=1, padding="same", relu=True, pool=(2, 2))
    got = run(conv_fused.conv2d_block, x, k, None, seed=9, **kwargs)
    g = np.random.default_rng(9).standard_normal(got[0].shape).astype(np.float32)
    assert_same(got, torch_block(x, k, None, g, **kwargs), rtol=1e-4, atol=1e-4)


# -- finite differences ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, strides, padding, relu, pool", [
    (3, 1, "valid", True, (2, 2)),
    (2, 1, "same", False, (2, 3)),
    (3, 2, "same", True, None),
    (1, 1, "valid", False, (3, 3)),
    (2, (1, 2), "same", True, (2, 2)),
])
def test_block_gradcheck(n, strides, padding, relu, pool):
    rng = np.random.default_rng(12)
    x, k, b = rng.standard_normal((n, 6, 7, 2)), rng.standard_normal((2, 2, 2, 3)), rng.standard_normal(3)
    result = gradcheck(lambda x, k, b: conv_fused.conv2d_block(x, k, b, strides, padding, relu, pool), x, k, b)
    assert result.ok


# -- ties: the gradient goes to the first maximum of the window, row-major ------------------------------------------------
def first_max_reference(x, k, b, g, strides, padding, relu, pool):
    """The rule written out: every window's gradient lands on its top-left conv output (all tied there);
    then conv.conv2d's own backward takes it to x, kernel and bias."""
    xt, kt, bt = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True), Tensor(b, requires_grad=True)
    z = conv.conv2d(xt, kt, bt, strides, padding)
    ph, pw = pool
    qh, qw = g.shape[1:3]
    corner = z.data[:, 0:qh * ph:ph, 0:qw * pw:pw]
    dz = np.zeros(z.shape)
    dz[:, 0:qh * ph:ph, 0:qw * pw:pw] = g * (corner > 0) if relu else g
    z.backward(dz)
    out = np.maximum(corner, 0) if relu else corner
    return out, xt.grad, kt.grad, bt.grad


def tie_inputs(kind, n, h, w, c, f):
    rng = np.random.default_rng(13)
    int_kernel = rng.integers(-3, 4, (3, 3, c, f)).astype(np.float64)     # integer sums: exact ties
    bias = np.array([1.5, -0.5, 2.0][:f])
    if kind == "zeros":
        return np.zeros((n, h, w, c)), int_kernel, bias
    if kind == "constant":
        return np.full((n, h, w, c), 2.0), int_kernel, bias
    if kind == "zero kernel":
        return rng.standard_normal((n, h, w, c)), np.zeros((3, 3, c, f)), bias
    if kind == "negative bias":                                           # ReLU zeroes everything
        return np.zeros((n, h, w, c)), int_kernel, -np.abs(bias) - 1
    raise ValueError(kind)


TIE_CASES = [
    (kind, relu, pool, padding)
    for kind, relu, pool, padding in itertools.product(
        ("zeros", "constant", "zero kernel", "negative bias"), (True, False), [(2, 2), (3, 3), (2, 3)],
        ("valid", "same"))
    if not (kind == "constant" and padding == "same")      # "same" pads with zeros: the border breaks the ties
    and not (kind == "negative bias" and not relu)
]


@pytest.mark.parametrize("kind, relu, pool, padding", TIE_CASES)
def test_ties_go_to_the_first_maximum(mode, kind, relu, pool, padding):
    x, k, b = tie_inputs(kind, 3, 9, 10, 2, 3)
    g = np.random.default_rng(14).standard_normal(
        run(conv_fused.conv2d_block, x, k, b, grads=(False, False, False), padding=padding, pool=pool)[0].shape)
    kwargs = dict(strides=1, padding=padding, relu=relu, pool=pool)
    got = run(conv_fused.conv2d_block, x, k, b, g=g, **kwargs)
    assert_same(got, run(unfused, x, k, b, g=g, **kwargs), rtol=1e-12, atol=1e-12)
    if padding == "valid":                       # every conv output of a filter is equal: all windows tie
        assert_same(got, first_max_reference(x, k, b, g, **kwargs), rtol=1e-12, atol=1e-12)
    if kind == "negative bias":
        assert not got[0].any() and not got[1].any() and not got[2].any() and not got[3].any()


@needs_torch
@pytest.mark.parametrize("kind, relu, pool, padding", [c for c in TIE_CASES if c[2] != (3, 3)])
def test_ties_match_torch(kind, relu, pool, padding):
    x, k, b = tie_inputs(kind, 2, 8, 9, 2, 3)
    kwargs = dict(strides=1, padding=padding, relu=relu, pool=pool)
    got = run(conv_fused.conv2d_block, x, k, b, seed=15, **kwargs)
    g = np.random.default_rng(15).standard_normal(got[0].shape)
    assert_same(got, torch_block(x, k, b, g, **kwargs), rtol=1e-12, atol=1e-12)     # float64 on both sides


def test_ties_explicit_example():
    """A 2×2 all-zero image, a 1×1 kernel of ones, bias 1: one window of four tied 1s."""
    x = Tensor(np.zeros((1, 2, 2, 1)), requires_grad=True)
    k = Tensor(np.full((1, 1, 1, 1), 3.0), requires_grad=True)
    b = Tensor(np.ones(1), requires_grad=True)
    out = conv_fused.conv2d_block(x, k, b, relu=True, pool=(2, 2))
    out.backward(np.full((1, 1, 1, 1), 5.0))
    assert out.data.item() == 1.0
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[15.0, 0.0], [0.0, 0.0]])     # 5 · kernel, top-left only
    assert k.grad.item() == 0.0 and b.grad.item() == 5.0


# -- which inputs require gradients; no_grad ---------------------------------------------------------------------------
@pytest.mark.parametrize("grads", [(False, True, True), (True, False, True), (True, True, False),
                                   (False, False, True), (False, True, False), (True, False, False)])
@pytest.mark.parametrize("pool", [(2, 2), None])
def test_some_inputs_without_gradients(mode, grads, pool):
    x, k, b = data(3, 9, 8, 3, 4, (3, 3), seed=16)
    kwargs = dict(strides=1, padding="same", relu=True, pool=pool)
    got = run(conv_fused.conv2d_block, x, k, b, grads=grads, **kwargs)
    expected = run(unfused, x, k, b, **kwargs)
    expected = expected[:1] + tuple(e if need else None for e, need in zip(expected[1:], grads))
    assert_same(got, expected, **TIGHT)


def test_nothing_requires_gradients_records_no_graph(fresh_scratch):
    x, k, b = data(3, 9, 8, 3, 4, (3, 3), seed=17)
    out = conv_fused.conv2d_block(Tensor(x), Tensor(k), Tensor(b), relu=True, pool=(2, 2))
    assert not out.requires_grad and out._backward is None and out._parents == ()
    np.testing.assert_allclose(out.data, unfused(Tensor(x), Tensor(k), Tensor(b), relu=True, pool=(2, 2)).data,
                               **TIGHT)
    assert not any(key[1] == np.uint8 for key in fresh_scratch)         # no argmax offsets were kept


@pytest.mark.parametrize("pool", [(2, 2), None])
def test_no_grad_inference(fresh_scratch, pool):
    x, k, b = data(5, 9, 8, 3, 4, (3, 3), seed=18)
    xt, kt, bt = (Tensor(a, requires_grad=True) for a in (x, k, b))
    with no_grad():
        out = conv_fused.conv2d_block(xt, kt, bt, relu=True, pool=pool)
    assert not out.requires_grad and out._backward is None and out._parents == ()
    np.testing.assert_allclose(out.data, unfused(Tensor(x), Tensor(k), Tensor(b), relu=True, pool=pool).data,
                               **TIGHT)
    rows = 5 * 7 * 6 if pool is None else 5 * 4 * 3 * 3            # conv 7×6; pooled: 4 offsets × 3×3 cells
    cols_key = (cols_shape(rows, 3 * 3 * 3, 3), np.dtype(np.float64))
    assert len(fresh_scratch.get(cols_key, [])) == 1                    # im2col went straight back
    assert not any(key[1] == np.uint8 for key in fresh_scratch)


# -- buffer safety -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pool", [(2, 2), None])
def test_retain_graph_twice_accumulates(mode, pool):
    x, k, b = data(3, 9, 9, 2, 3, (3, 3), seed=19)
    kwargs = dict(padding="same", relu=True, pool=pool)
    ref = run(unfused, x, k, b, seed=20, **kwargs)
    xt, kt, bt = (Tensor(a, requires_grad=True) for a in (x, k, b))
    out = conv_fused.conv2d_block(xt, kt, bt, **kwargs)
    g = np.random.default_rng(20).standard_normal(out.shape)
    out.backward(g, retain_graph=True)
    first = (xt.grad.copy(), kt.grad.copy(), bt.grad.copy())
    conv_fused.conv2d_block(Tensor(x * 3 + 1), Tensor(k), None, **kwargs)  # reuses freed buffers in between
    out.backward(g, retain_graph=True)
    assert_same((out.data,) + first, ref, **TIGHT)
    assert_same((out.data, xt.grad, kt.grad, bt.grad), (ref[0],) + tuple(2 * r for r in ref[1:]), **TIGHT)
    out.backward(g)                                                   # the third frees the graph
    np.testing.assert_allclose(kt.grad, 3 * ref[2], **TIGHT)
    with pytest.raises(RuntimeError, match="already freed"):
        out.backward(g)


@pytest.mark.parametrize("pool", [(2, 2), (3, 2), None])
def test_two_graphs_alive_at_once(mode, pool):
    """Two forward passes of the same shapes before either backward: each keeps its own buffers."""
    kwargs = dict(padding="valid", relu=True, pool=pool)
    inputs = [data(3, 10, 9, 3, 4, (3, 3), seed=s) for s in (21, 22)]
    refs = [run(unfused, *xkb, seed=23 + i, **kwargs) for i, xkb in enumerate(inputs)]
    tensors = [tuple(Tensor(a, requires_grad=True) for a in xkb) for xkb in inputs]
    outs = [conv_fused.conv2d_block(*t, **kwargs) for t in tensors]
    with no_grad():                                                   # more traffic through the free list
        for _ in range(2):
            conv_fused.conv2d_block(Tensor(inputs[0][0] - 1), Tensor(inputs[1][1]), Tensor(inputs[0][2]), **kwargs)
    for i in (1, 0):                                                  # backward in the other order
        g = np.random.default_rng(23 + i).standard_normal(outs[i].shape)
        outs[i].backward(g)
        xt, kt, bt = tensors[i]
        assert_same((outs[i].data, xt.grad, kt.grad, bt.grad), refs[i], **TIGHT)


def test_freed_graph_gives_its_buffers_back(fresh_scratch):
    n, h, w, c, f = 3, 9, 9, 2, 4                     # conv 7×7, pooled 2×2 → 3×3 (K = 4 offsets, 9 cells)
    cols_key = (cols_shape(n * 4 * 9, 3 * 3 * c, c), np.dtype(np.float64))
    offsets_key = ((n * 9, f), np.dtype(np.uint8))
    z_keys = [((m * 9, f), np.dtype(np.float64)) for m in (2, 1)]   # one offset's conv output, per half
    x, k, b = data(n, h, w, c, f, (3, 3), seed=24)
    xt, kt, bt = (Tensor(a, requires_grad=True) for a in (x, k, b))
    out = conv_fused.conv2d_block(xt, kt, bt, relu=True, pool=(2, 2))
    assert not fresh_scratch.get(cols_key) and not fresh_scratch.get(offsets_key)   # the graph holds them
    assert all(len(fresh_scratch[key]) == 1 for key in z_keys)   # the conv output before pooling is not needed
    out.backward(np.ones(out.shape), retain_graph=True)
    assert not fresh_scratch.get(cols_key) and not fresh_scratch.get(offsets_key)   # still readable
    out.backward(np.ones(out.shape))                                                  # frees the graph
    assert len(fresh_scratch[cols_key]) == 1 and len(fresh_scratch[offsets_key]) == 1
    assert all(a.shape == key[0] and a.dtype == key[1] for key, arrays in fresh_scratch.items() for a in arrays)

    out2 = conv_fused.conv2d_block(Tensor(x, requires_grad=True), Tensor(k), Tensor(b), relu=True, pool=(2, 2))
    assert not fresh_scratch.get(cols_key)                                           # taken again
    del out2                                                                          # dropped without backward
    assert len(fresh_scratch[cols_key]) == 1 and len(fresh_scratch[offsets_key]) == 1
    _scratch.clear()
    assert _scratch._FREE == {}


def test_take_and_give(fresh_scratch):
    a, b2, c3 = (np.empty((4, 5)) for _ in range(3))
    _scratch.give(a, None, b2, c3)                           # None is skipped; at most _PER_SHAPE kept
    key = ((4, 5), np.dtype(np.float64))
    assert len(fresh_scratch[key]) == _scratch._PER_SHAPE == 2
    assert all(x is a or x is b2 for x in fresh_scratch[key])
    got = [_scratch.take((4, 5), np.float64) for _ in range(3)]
    assert {id(got[0]), id(got[1])} == {id(a), id(b2)}      # the kept ones come back ...
    assert got[2] is not a and got[2] is not b2 and got[2].shape == (4, 5) and got[2].dtype == np.float64
    _scratch.give(np.empty((4, 5), np.float32))              # ... and a dtype is a different kind of array
    fresh = _scratch.take((4, 5), np.float64)
    assert fresh.dtype == np.float64 and fresh is not a and fresh is not b2
    assert _scratch.take((4, 5), "float32").dtype == np.float32


def test_give_keeps_at_most_shapes(fresh_scratch):
    for i in range(_scratch._SHAPES + 3):
        _scratch.give(np.empty((i + 1, 2)))
    assert len(fresh_scratch) == _scratch._SHAPES
    kept = {key[0] for key in fresh_scratch}
    assert (1, 2) not in kept and (3, 2) not in kept                # the oldest shapes went first
    assert (_scratch._SHAPES + 3, 2) in kept


def test_saved_gives_back_when_freed(fresh_scratch):
    a = np.empty((3, 3), np.float32)
    saved = _scratch.Saved(cols=a, offsets=None)
    assert saved.cols is a and saved.offsets is None and not fresh_scratch
    del saved
    assert fresh_scratch[((3, 3), np.dtype(np.float32))] == [a]


# -- halves and threads ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8])
def test_halves_cover_the_batch(n):
    parts = _parallel.halves(n)
    assert len(parts) == (1 if n < 2 else 2)
    np.testing.assert_array_equal(np.concatenate([np.arange(n)[s] for s in parts]), np.arange(n))
    assert all(s.step in (None, 1) for s in parts)
    sizes = [s.stop - s.start for s in parts]
    assert sum(sizes) == n and sizes == sorted(sizes, reverse=True) and sizes[0] - sizes[-1] <= 1


def test_halves_do_not_depend_on_cores(monkeypatch):
    monkeypatch.setattr(_parallel, "_CORES", 1)
    one = [_parallel.halves(n) for n in range(10)]
    monkeypatch.setattr(_parallel, "_CORES", 16)
    assert [_parallel.halves(n) for n in range(10)] == one


@pytest.fixture
def threads_on(monkeypatch):
    if not blas_controllable():
        pytest.skip("the BLAS thread count can't be read here, so map_halves never uses its thread")
    monkeypatch.setattr(_parallel, "_CORES", 2)
    with _blas.blas_threads(1):
        yield


def test_map_halves_runs_the_second_half_in_a_thread(threads_on, worker_calls):
    seen = []
    results = _parallel.map_halves(lambda i, s: seen.append((i, threading.current_thread().name)) or (i, s), 5)
    assert results == [(0, slice(0, 3)), (1, slice(3, 5))]
    assert worker_calls and worker_calls[0].startswith("glassnet-half")
    assert dict(seen)[1].startswith("glassnet-half") and dict(seen)[0] == threading.current_thread().name


def test_map_halves_sequential(monkeypatch, worker_calls):
    monkeypatch.setattr(_parallel, "_CORES", 1)
    assert _parallel.map_halves(lambda i, s: (i, s), 7) == [(0, slice(0, 4)), (1, slice(4, 7))]
    assert _parallel.map_halves(lambda i, s: (i, s), 1) == [(0, slice(0, 1))]
    assert not worker_calls


def test_map_halves_propagates_a_worker_exception(threads_on, worker_calls):
    first_done = threading.Event()

    def fn(i, s):
        if i == 1:
            raise ValueError("second half failed")
        first_done.set()
        return "ok"
    with pytest.raises(ValueError, match="second half failed"):
        _parallel.map_halves(fn, 4)
    assert worker_calls and first_done.is_set()
    assert _parallel.map_halves(lambda i, s: i, 4) == [0, 1]          # the pool still works afterwards


def test_map_halves_waits_for_the_worker_when_the_first_half_fails(threads_on):
    worker_finished = threading.Event()

    def fn(i, s):
        if i == 0:
            raise KeyError("first")
        threading.Event().wait(0.05)
        worker_finished.set()
    with pytest.raises(KeyError):
        _parallel.map_halves(fn, 2)
    assert worker_finished.is_set()                                  # joined before the error came out


def test_map_halves_sequential_propagates_exceptions(monkeypatch):
    monkeypatch.setattr(_parallel, "_CORES", 1)

    def fn(i, s):
        if i == 1:
            raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        _parallel.map_halves(fn, 3)


def test_worker_uses_the_callers_floating_point_settings(threads_on, worker_calls):
    def divide(i, s):
        return np.float64(1.0) / np.float64(0.0)
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            _parallel.map_halves(lambda i, s: divide(i, s) if i == 1 else None, 2)
    with np.errstate(divide="ignore"):
        assert _parallel.map_halves(divide, 2) == [np.inf, np.inf]
    assert len(worker_calls) == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, pool, relu, padding, use_bias", [
    (2, (2, 2), True, "valid", True), (3, (3, 3), True, "same", True), (5, (2, 3), False, "same", False),
    (7, None, True, "same", True), (4, None, False, "valid", False)])
def test_threads_do_not_change_the_numbers(monkeypatch, worker_calls, dtype, n, pool, relu, padding, use_bias):
    if not blas_controllable():
        pytest.skip("the BLAS thread count can't be read here, so map_halves never uses its thread")
    x, k, b = data(n, 12, 11, 3, 5, (3, 3), dtype=dtype, seed=25)
    b = b if use_bias else None
    kwargs = dict(strides=1, padding=padding, relu=relu, pool=pool)
    results = {}
    with _blas.blas_threads(1):
        for cores in (2, 1):
            monkeypatch.setattr(_parallel, "_CORES", cores)
            before = len(worker_calls)
            results[cores] = run(conv_fused.conv2d_block, x, k, b, seed=26, **kwargs)
            assert (len(worker_calls) > before) == (cores == 2)     # forward and backward used the thread
    for threaded, sequential in zip(results[2], results[1]):
        if sequential is None:
            assert threaded is None
        else:
            assert np.array_equal(threaded, sequential)
    tol = TIGHT if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    assert_same(results[2], run(unfused, x, k, b, seed=26, **kwargs), **tol)


# -- Sequential: the fused plan --------------------------------------------------------------------------------------------
def reference_forward(model, x, dtype=np.float64):
    """The model's forward pass with the separate ops on copies of its weights (Tensors that take gradients)."""
    t = Tensor(np.asarray(x, dtype))
    weights = []
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            k = Tensor(layer.kernel.data.astype(dtype), requires_grad=True)
            b = Tensor(layer.bias.data.astype(dtype), requires_grad=True)
            weights += [k, b]
            t = layer.activation(conv.conv2d(t, k, b, layer.strides, layer.padding))
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            op = conv.max_pool2d if isinstance(layer, MaxPooling2D) else conv.avg_pool2d
            t = op(t, layer.pool_size, layer.strides, layer.padding)
        elif isinstance(layer, Flatten):
            t = t.reshape(t.shape[0], -1)
        elif isinstance(layer, Dense):
            k = Tensor(layer.kernel.data.astype(dtype), requires_grad=True)
            b = Tensor(layer.bias.data.astype(dtype), requires_grad=True)
            weights += [k, b]
            t = layer.activation(t @ k + b)
        else:
            raise AssertionError(f"no reference for {layer}")
    return t, weights


def cnn(first_activation="relu", second_activation=None, size=13, dtype=None):
    return glassnet.Sequential([
        Conv2D(4, 3, activation=first_activation, input_shape=(size, size, 2), dtype=dtype),   # 13 → 11
        MaxPooling2D(dtype=dtype),                                                             # 11 → 5 (drops one)
        Conv2D(3, 2, activation=second_activation, dtype=dtype),                               # 5 → 4
        MaxPooling2D(dtype=dtype),                                                             # 4 → 2
        Flatten(dtype=dtype),
        Dense(3, activation="softmax", dtype=dtype)])


@pytest.fixture
def pool_calls(monkeypatch):
    """The ``pool`` argument of every conv2d_block call."""
    calls, real = [], conv_fused.conv2d_block

    def spy(*args, **kwargs):
        calls.append(kwargs.get("pool", args[6] if len(args) > 6 else None))
        return real(*args, **kwargs)
    monkeypatch.setattr(conv_fused, "conv2d_block", spy)
    return calls


def test_sequential_fuses_conv_and_pooling(pool_calls):
    model = cnn()
    x = np.random.default_rng(27).random((5, 13, 13, 2), dtype=np.float32)
    predicted = model.predict(x, verbose=0)
    assert len(model._plan) == 4 < len(model.layers) == 6
    assert pool_calls == [(2, 2), (2, 2)]                               # both pairs ran as one op
    per_layer = model.layer_outputs(x)
    assert [a.shape for a in per_layer] == [(5, 11, 11, 4), (5, 5, 5, 4), (5, 4, 4, 3), (5, 2, 2, 3), (5, 12), (5, 3)]
    np.testing.assert_allclose(predicted, per_layer[-1], rtol=1e-5, atol=1e-6)
    ref, _ = reference_forward(model, x)
    np.testing.assert_allclose(predicted, ref.data, rtol=1e-5, atol=1e-6)


def test_sequential_fused_gradients_match_the_separate_ops():
    model = cnn()
    x = np.random.default_rng(28).random((3, 13, 13, 2), dtype=np.float32)
    out = model(Tensor(x))
    g = np.random.default_rng(29).standard_normal(out.shape).astype(np.float32)
    for w in model.weights:
        w.zero_grad()
    out.backward(g)
    ref, ref_weights = reference_forward(model, x)
    ref.backward(g.astype(np.float64))
    np.testing.assert_allclose(out.data, ref.data, rtol=1e-5, atol=1e-6)
    for w, r in zip(model.weights, ref_weights):
        np.testing.assert_allclose(w.grad, r.grad, rtol=1e-4, atol=1e-5, err_msg=w.name)


def test_sequential_tanh_conv_is_not_fused(pool_calls):
    model = cnn(first_activation="tanh", second_activation="relu")
    x = np.random.default_rng(30).random((3, 13, 13, 2), dtype=np.float32)
    predicted = model.predict(x, verbose=0)
    assert len(model._plan) == 5                                        # only the second pair fused
    assert pool_calls == [None, (2, 2)]
    np.testing.assert_allclose(predicted, model.layer_outputs(x)[-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predicted, reference_forward(model, x)[0].data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", [lambda: MaxPooling2D(2, strides=1), lambda: MaxPooling2D(2, padding="same"),
                                     lambda: MaxPooling2D((3, 3), strides=2), lambda: AveragePooling2D(2)],
                         ids=["max-strides-1", "max-same", "max-overlapping", "average"])
def test_sequential_other_pooling_is_not_fused(pool_calls, pooling):
    layer = pooling()
    model = glassnet.Sequential([Conv2D(3, 3, activation="relu", input_shape=(9, 9, 2)), layer,
                                 Flatten(), Dense(2)])
    x = np.random.default_rng(31).random((3, 9, 9, 2), dtype=np.float32)
    predicted = model.predict(x, verbose=0)
    assert len(model._plan) == len(model.layers) == 4
    assert pool_calls == [None]
    assert isinstance(layer, AveragePooling2D) or not conv_fused.can_pool(layer)
    np.testing.assert_allclose(predicted, reference_forward(model, x)[0].data, rtol=1e-5, atol=1e-5)


def tiny_training_run(seed, cores, monkeypatch, dtype=None, epochs=2):
    monkeypatch.setattr(_parallel, "_CORES", cores)
    rng = np.random.default_rng(32)
    x = rng.random((23, 9, 9, 1)).astype(np.float32)
    y = rng.integers(0, 2, 23)
    x[y == 1, :4] += 0.5
    glassnet.utils.set_random_seed(seed)
    model = glassnet.Sequential([Conv2D(3, 3, activation="relu", input_shape=(9, 9, 1), dtype=dtype),
                                 MaxPooling2D(dtype=dtype), Flatten(dtype=dtype),
                                 Dense(2, activation="softmax", dtype=dtype)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None, 9, 9, 1))
    initial = model.get_weights()
    history = model.fit(x, y, epochs=epochs, batch_size=5, verbose=0)     # batches of 5 and a last one of 3
    return model, initial, history


def test_seeded_fit_is_bit_identical(monkeypatch, worker_calls):
    a, initial, _ = tiny_training_run(3, 2, monkeypatch)
    b, _, _ = tiny_training_run(3, 2, monkeypatch)
    c, _, _ = tiny_training_run(3, 1, monkeypatch)                      # the halves one after the other
    if blas_controllable():
        assert worker_calls                                             # the first two runs used the thread
    assert len(a._plan) < len(a.layers)
    assert not np.array_equal(initial[0], a.get_weights()[0])          # it trained
    for wa, wb, wc in zip(a.get_weights(), b.get_weights(), c.get_weights()):
        assert np.array_equal(wa, wb) and np.array_equal(wa, wc)


def test_float64_model_trains(monkeypatch):
    glassnet.config.set_floatx("float64")
    try:
        model, initial, history = tiny_training_run(4, 2, monkeypatch, epochs=3)
        x = np.random.default_rng(33).random((4, 9, 9, 1))
        out = model.predict(x, verbose=0)
    finally:
        glassnet.config.set_floatx("float32")
    assert all(w.dtype == np.float64 for w in model.get_weights() + initial)
    assert out.dtype == np.float64
    assert all(np.isfinite(v) for v in history.history["loss"])
    assert not np.array_equal(initial[0], model.get_weights()[0])
    # float64 all the way: the fused forward and gradients equal the separate ops tightly
    np.testing.assert_allclose(out, reference_forward(model, x)[0].data, **TIGHT)
    t = model(Tensor(x))
    assert t.dtype == np.float64
    g = np.random.default_rng(34).standard_normal(t.shape)
    for w in model.weights:
        w.zero_grad()
    t.backward(g)
    ref, ref_weights = reference_forward(model, x)
    ref.backward(g)
    for w, r in zip(model.weights, ref_weights):
        assert w.grad.dtype == np.float64
        np.testing.assert_allclose(w.grad, r.grad, err_msg=w.name, **TIGHT)


def test_float64_layers_without_floatx():
    model = cnn(dtype="float64")
    x = np.random.default_rng(35).random((3, 13, 13, 2))
    out = model(Tensor(x))
    assert out.dtype == np.float64 and all(w.dtype == np.float64 for w in model.get_weights())
    np.testing.assert_allclose(out.data, reference_forward(model, x)[0].data, **TIGHT)


def test_predictions_from_several_threads_at_once():
    """Several threads share the worker thread and the scratch free list: each gets its own answer."""
    model = cnn()
    rng = np.random.default_rng(41)
    inputs = [rng.random((6, 13, 13, 2), dtype=np.float32) for _ in range(4)]
    expected = [model.layer_outputs(x)[-1] for x in inputs]            # layer by layer, one thread
    results, errors = {}, []

    def run(i):
        try:
            for _ in range(25):
                results[i] = model.predict(inputs[i], verbose=0)
                np.testing.assert_allclose(results[i], expected[i], rtol=1e-5, atol=1e-6)
        except Exception as exc:                                          # noqa: BLE001 (reported below)
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert sorted(results) == [0, 1, 2, 3]


def test_a_gc_pass_inside_the_free_list_does_not_deadlock():
    """A Saved freed by the cyclic GC while the free list's lock is held must not hang (RLock)."""
    class Cycle:
        pass
    node = Cycle()
    node.me, node.saved = node, _scratch.Saved(a=np.empty(3))        # freed only by the cyclic GC
    del node
    with _scratch._LOCK:
        gc.collect()                                                    # Saved.__del__ → give → _LOCK again
    _scratch.clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_worker_thread(monkeypatch):
    """After the parent used the worker thread, a forked child (multiprocessing's default on Linux)
    must not wait forever on the parent's thread, which the child does not have."""
    monkeypatch.setattr(_parallel, "_CORES", 2)
    model = cnn()
    x = np.random.default_rng(43).random((6, 13, 13, 2), dtype=np.float32)
    with _blas.blas_threads(1):
        expected = model(x)                                              # starts the worker here
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                                          # the child
        try:
            with _blas.blas_threads(1):
                ok = np.allclose(model(x), expected, rtol=1e-6, atol=1e-7)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = b""
    for _ in range(100):                                                  # up to 10 s
        if select.select([read], [], [], 0.1)[0]:
            answer = os.read(read, 1)
            break
    os.close(read)
    if not answer:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert answer == b"1", "the forked child hung or computed a wrong answer"


def test_changing_the_activation_after_build_is_honoured():
    """The fused plan is made at build(); a Conv2D whose activation changes later must not keep
    running as ReLU + pooling in one op."""
    model = cnn()
    x = np.random.default_rng(44).random((4, 13, 13, 2), dtype=np.float32)
    model.predict(x, verbose=0)
    model.layers[0].activation = activations.get("tanh")
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layer_outputs(x)[-1], rtol=1e-5, atol=1e-6)
    ref, _ = reference_forward(model, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.data, rtol=1e-5, atol=1e-6)


def test_the_free_list_keeps_at_most_max_bytes(fresh_scratch, monkeypatch):
    monkeypatch.setattr(_scratch, "_MAX_BYTES", 1000)
    small, big = np.empty(100, np.float32), np.empty(300, np.float32)        # 400 and 1,200 bytes
    _scratch.give(big)
    assert _scratch.kept_bytes() == 0                                      # larger than the cap alone
    _scratch.give(small, np.empty(100, np.float32), np.empty(50, np.float64))   # 400 + 400 + 400 > 1000
    assert _scratch.kept_bytes() == 800
    x = Tensor(np.random.default_rng(45).random((4, 40, 40, 3)), requires_grad=True)
    out = conv_fused.conv2d_block(x, Tensor(np.ones((3, 3, 3, 8))), relu=True, pool=(2, 2))
    out.backward(np.ones(out.shape))
    del out
    assert _scratch.kept_bytes() <= 1000                                   # its MB-sized arrays were let go
