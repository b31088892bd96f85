"""conv_winograd: Winograd's F(2×2, 3×3) inside conv_fused.conv2d_block (3×3 conv, stride 1, 2×2 max pool,
at least ``MIN_CHANNELS`` input channels), against the three separate ops, PyTorch and finite differences.

Winograd regroups the conv's sums, so in float64 it must agree with the im2col ops to rounding (1e-10),
and exactly where every value is a small dyadic number (the ties below).
"""
import itertools

import numpy as np
import pytest

from glassnet import _blas, _parallel, activations, conv, conv_fused, conv_winograd, gradcheck
from glassnet.engine import Tensor

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

C = conv_winograd.MIN_CHANNELS


def unfused(x, kernel, bias=None, padding="valid", relu=False):
    out = conv.conv2d(x, kernel, bias, (1, 1), padding)
    return conv.max_pool2d(activations.relu(out) if relu else out, (2, 2), (2, 2), "valid")


def fused(x, kernel, bias=None, padding="valid", relu=False):
    return conv_fused.conv2d_block(x, kernel, bias, (1, 1), padding, relu=relu, pool=(2, 2))


def run(fn, x, k, b, g=None, grads=(True, True, True), **kwargs):
    """(out, dx, dk, db) of fn(x, k, b) with ``backward(g)``; None where no gradient is asked for."""
    xt, kt = Tensor(x, requires_grad=grads[0]), Tensor(k, requires_grad=grads[1])
    bt = None if b is None else Tensor(b, requires_grad=grads[2])
    out = fn(xt, kt, bt, **kwargs)
    if out.requires_grad:
        out.backward(np.random.default_rng(7).standard_normal(out.shape).astype(out.dtype) if g is None else g)
    return out.data, xt.grad, kt.grad, None if bt is None else bt.grad


def assert_close(got, expected, **tol):
    for name, a, e in zip(("out", "dx", "dkernel", "dbias"), got, expected):
        if e is None:
            assert a is None, f"{name}: expected no gradient"
        else:
            assert a is not None and a.shape == e.shape, name
            np.testing.assert_allclose(a, e, err_msg=name, **tol)


def data(n, h, w, c, f, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, h, w, c)).astype(dtype), rng.standard_normal((3, 3, c, f)).astype(dtype),
            rng.standard_normal(f).astype(dtype))


@pytest.fixture
def used(monkeypatch):
    """How many conv2d_block calls took the Winograd route (each transforms its kernel once)."""
    calls, real = [], conv_winograd.kernel_transform

    def spy(*args):
        calls.append(1)
        return real(*args)
    monkeypatch.setattr(conv_winograd, "kernel_transform", spy)
    return calls


@pytest.fixture(params=["sequential", "threaded"])
def mode(request, monkeypatch):
    """Both halves of the batch here, one after the other, or the second on a worker thread."""
    monkeypatch.setattr(_parallel, "_CORES", 1 if request.param == "sequential" else 2)
    if request.param == "threaded":
        if _blas.get_num_threads() is None:
            pytest.skip("the BLAS thread count can't be read here, so map_halves never uses its thread")
        with _blas.blas_threads(1):
            yield request.param
        return
    yield request.param


def test_applies_to_3x3_stride_1_pooled_2x2_with_enough_channels():
    assert conv_winograd.applies((3, 3), (1, 1), (2, 2), C)
    assert conv_winograd.applies((3, 3), (1, 1), (2, 2), 64)
    assert not conv_winograd.applies((3, 3), (1, 1), (2, 2), C - 1)      # few channels: im2col
    assert not conv_winograd.applies((3, 3), (1, 1), None, C)            # no pooling
    assert not conv_winograd.applies((3, 3), (1, 1), (3, 3), C)
    assert not conv_winograd.applies((3, 3), (2, 2), (2, 2), C)
    assert not conv_winograd.applies((5, 5), (1, 1), (2, 2), C)


def test_one_tile_written_out():
    """Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 2×2 cross-correlation of the 4×4 patch d with the 3×3 kernel g."""
    rng = np.random.default_rng(3)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    bt, gm, at = conv_winograd._BT, conv_winograd._G, conv_winograd._AT
    y = at @ ((gm @ g @ gm.T) * (bt @ d @ bt.T)) @ at.T
    direct = [[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(y, direct, rtol=1e-12, atol=1e-12)


GEOMETRIES = [   # n, h, w, c, f, padding
    (4, 13, 13, C, 8, "valid"),        # the MNIST convnet's second layer, smaller
    (3, 15, 12, 2 * C, 5, "valid"),    # odd batch (unequal halves), odd sizes, an unused last row
    (1, 6, 9, C, 3, "same"),           # batch 1, "same" padding
    (2, 4, 4, C + 3, 2, "valid"),      # one tile per sample
    (5, 10, 7, C, 4, "same"),
]


@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("relu", [True, False])
def test_matches_the_separate_ops(mode, used, geom, relu):
    n, h, w, c, f, padding = geom
    x, k, b = data(n, h, w, c, f, seed=sum(geom[:5]))
    got = run(fused, x, k, b, padding=padding, relu=relu)
    assert used, "the Winograd route was not taken"
    assert_close(got, run(unfused, x, k, b, padding=padding, relu=relu), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("grads", [(True, False, False), (False, True, False), (False, False, True),
                                   (False, True, True)])
def test_only_the_gradients_asked_for(used, grads):
    x, k, b = data(3, 11, 11, C, 4, seed=1)
    got = run(fused, x, k, b, grads=grads, relu=True)
    assert used
    assert_close(got, run(unfused, x, k, b, grads=grads, relu=True), rtol=1e-10, atol=1e-10)


def test_no_bias_and_inference(used):
    x, k, _ = data(2, 9, 9, C, 3, seed=2)
    assert_close(run(fused, x, k, None, relu=True), run(unfused, x, k, None, relu=True), rtol=1e-10, atol=1e-10)
    out = fused(Tensor(x), Tensor(k), None, relu=True)                  # no gradient needed: no saved arrays
    np.testing.assert_allclose(out.data, unfused(Tensor(x), Tensor(k), None, relu=True).data, rtol=1e-10)
    assert len(used) == 2


def test_float32_agrees_with_float64_to_float32_rounding(used):
    x, k, b = data(4, 13, 13, 2 * C, 16, np.float32, seed=3)
    got = run(fused, x, k, b, relu=True)
    assert all(a.dtype == np.float32 for a in got)
    exact = run(unfused, x.astype(np.float64), k.astype(np.float64), b.astype(np.float64), relu=True)
    for a, e in zip(got, exact):
        assert np.abs(a - e).max() <= 1e-5 * np.abs(e).max()


@pytest.mark.parametrize("kind", ["constant", "zeros", "zero kernel", "negative bias"])
def test_ties_go_to_the_first_maximum(used, kind):
    """Small integers: every conv output is exact either way, so every window ties and the gradient must
    land on its first (top-left) conv output, as in the separate ops and PyTorch (a gradient that went
    elsewhere would differ by the size of g, not by rounding)."""
    rng = np.random.default_rng(5)
    n, h, w, f = 2, 8, 9, 3
    x = np.full((n, h, w, C), 2.0) if kind == "constant" else (
        rng.standard_normal((n, h, w, C)) if kind == "zero kernel" else np.zeros((n, h, w, C)))
    k = np.zeros((3, 3, C, f)) if kind == "zero kernel" else rng.integers(-3, 4, (3, 3, C, f)).astype(np.float64)
    b = np.array([1.5, -0.5, 2.0]) if kind != "negative bias" else np.array([-1.5, -0.5, -2.0])
    got = run(fused, x, k, b, relu=True)
    assert used
    assert_close(got, run(unfused, x, k, b, relu=True), rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("geom", GEOMETRIES[:3])
def test_matches_torch(geom):
    n, h, w, c, f, padding = geom
    x, k, b = data(n, h, w, c, f, seed=11)
    got = run(fused, x, k, b, padding=padding, relu=True)
    g = np.random.default_rng(7).standard_normal(got[0].shape)
    x_t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    k_t = torch.tensor(k.transpose(3, 2, 0, 1), requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    out = F.max_pool2d(F.relu(F.conv2d(x_t, k_t, b_t, padding=1 if padding == "same" else 0)), 2, 2)
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    expected = (out.detach().numpy().transpose(0, 2, 3, 1), x_t.grad.numpy().transpose(0, 2, 3, 1),
                k_t.grad.numpy().transpose(2, 3, 1, 0), b_t.grad.numpy())
    assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_finite_differences():
    x, k, b = data(2, 6, 7, C, 2, seed=9)
    k *= 0.3
    result = gradcheck(lambda xt, kt, bt: fused(xt, kt, bt, relu=True), x, k, b)
    assert result


def test_a_cnn_trains_the_same_bits_twice():
    """Seeded runs through the Winograd layer are reproducible bit for bit."""
    import glassnet as keras
    L = keras.layers

    def train():
        keras.utils.set_random_seed(4)
        model = keras.Sequential([L.Conv2D(C, 3, activation="relu", input_shape=(12, 12, 2)), L.MaxPooling2D(),
                                  L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(3)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        model.fit(rng.random((40, 12, 12, 2), dtype=np.float32), rng.integers(0, 3, 40), batch_size=8,
                  epochs=2, verbose=0)
        return model.get_weights()
    for a, b in itertools.zip_longest(train(), train()):
        np.testing.assert_array_equal(a, b)
