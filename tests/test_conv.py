"""conv.py: the notes' worked examples, the output-size rule, fast vs naive, PyTorch, gradcheck."""
import numpy as np
import pytest

from glassnet import conv, gradcheck
from glassnet.engine import Tensor

try:
    import torch
    import torch.nn.functional as F
except ImportError:          # the PyTorch comparisons are skipped; everything else still runs
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


# -- the notes' worked examples ------------------------------------------------------------------
def test_notes_max_pooling_example():
    x = np.array([[1, 4, 2, 7],
                  [2, 6, 8, 5],
                  [3, 4, 0, 7],
                  [1, 2, 3, 1]], dtype=np.float32).reshape(1, 4, 4, 1)
    out = conv.max_pool2d(Tensor(x)).data[0, :, :, 0]
    np.testing.assert_array_equal(out, [[6, 8],        # max(1,4,2,6)  max(2,7,8,5)
                                        [4, 7]])       # max(3,4,1,2)  max(0,7,3,1)
    np.testing.assert_array_equal(conv.max_pool2d_naive(x)[0, :, :, 0], out)


def test_notes_filter_example():
    """The 3×3 filter slid over a 5×5 binary image, with stride 1 and no padding (3×3 output).

    Deep learning's "convolution" is cross-correlation, as in Keras and PyTorch: the filter is laid
    on the image as it is (not flipped) and the products are summed. E.g. the top-left output is
    1·1 + 1·0 + 1·1 + 0·0 + 1·1 + 1·0 + 0·1 + 0·0 + 1·1 = 4.
    """
    image = np.array([[1, 1, 1, 0, 0],
                      [0, 1, 1, 1, 0],
                      [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]], dtype=np.float32)
    filt = np.array([[1, 0, 1],
                     [0, 1, 0],
                     [1, 0, 1]], dtype=np.float32)
    expected = [[4, 3, 4],
                [2, 4, 3],
                [2, 3, 4]]
    x, k = image.reshape(1, 5, 5, 1), filt.reshape(3, 3, 1, 1)
    np.testing.assert_array_equal(conv.conv2d(Tensor(x), Tensor(k)).data[0, :, :, 0], expected)
    np.testing.assert_array_equal(conv.conv2d_naive(x, k)[0, :, :, 0], expected)


def test_convolution_is_cross_correlation():
    # [[1, 2], [3, 4]] with the kernel [[1, 0], [0, 0]]: cross-correlation picks the top-left pixel (1);
    # a flipped (mathematical) convolution would pick the bottom-right one (4).
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32).reshape(1, 2, 2, 1)
    k = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32).reshape(2, 2, 1, 1)
    assert conv.conv2d(Tensor(x), Tensor(k)).data.item() == 1.0


# -- output size ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (32, 3, 1, "valid", 30),      # ⌊(32 − 3)/1⌋ + 1
    (15, 3, 1, "valid", 13),
    (13, 2, 2, "valid", 6),       # the leftover row is dropped
    (7, 3, 2, "valid", 3),        # ⌊(7 − 3)/2⌋ + 1
    (28, 5, 1, 2, 28),            # ⌊(28 + 4 − 5)/1⌋ + 1
    (32, 3, 1, "same", 32),       # ⌈32/1⌉
    (5, 3, 2, "same", 3),         # ⌈5/2⌉
    (2, 3, 1, "valid", 0),        # the kernel does not fit
])
def test_conv_output_size(size, kernel, stride, padding, expected):
    assert conv.conv_output_size(size, kernel, stride, padding) == expected


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (5, 3, 1, (1, 1)),            # total 2
    (6, 3, 2, (0, 1)),            # total (3 − 1)·2 + 3 − 6 = 1: the extra pixel goes at the bottom/right
    (4, 2, 2, (0, 0)),
    (5, 4, 1, (1, 2)),
])
def test_same_padding_is_asymmetric_like_tf(size, kernel, stride, expected):
    assert conv.padding_amounts(size, kernel, stride, "same") == expected


def test_output_size_zero_raises():
    with pytest.raises(ValueError, match="output spatial size would be 0"):
        conv.conv2d(Tensor(np.zeros((1, 2, 2, 1))), Tensor(np.zeros((3, 3, 1, 1))))


# -- fast vs naive ------------------------------------------------------------------------------------
CASES = [  # N, H, W, C, F, (KH, KW), strides, padding
    (1, 5, 5, 1, 1, (3, 3), 1, "valid"),
    (2, 7, 6, 3, 4, (3, 3), 1, "same"),
    (3, 9, 8, 2, 3, (3, 3), 2, "valid"),
    (2, 7, 7, 3, 2, (3, 3), 2, "same"),
    (1, 6, 9, 2, 5, (2, 3), (2, 1), "same"),
    (2, 8, 8, 4, 3, (5, 5), 1, "same"),
    (1, 4, 4, 2, 2, (1, 1), 2, "valid"),
]


@pytest.mark.parametrize("n, h, w, c, f, kernel_hw, strides, padding", CASES)
def test_conv2d_fast_equals_naive(n, h, w, c, f, kernel_hw, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    k = rng.standard_normal(kernel_hw + (c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    fast = conv.conv2d(Tensor(x), Tensor(k), Tensor(b), strides, padding).data
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, conv.conv2d_naive(x, k, b, strides, padding), rtol=1e-5, atol=1e-5)


POOL_CASES = [  # N, H, W, C, pool_size, strides, padding
    (1, 4, 4, 1, (2, 2), None, "valid"),
    (2, 7, 6, 3, (2, 2), None, "valid"),          # odd size: the last row is dropped
    (2, 7, 6, 3, (2, 2), None, "same"),
    (1, 9, 8, 2, (3, 3), (2, 2), "valid"),        # overlapping windows
    (2, 5, 7, 2, (3, 3), 1, "same"),
    (1, 6, 5, 2, (2, 3), (1, 2), "valid"),
]


@pytest.mark.parametrize("n, h, w, c, pool_size, strides, padding", POOL_CASES)
def test_pooling_fast_equals_naive(n, h, w, c, pool_size, strides, padding):
    x = np.random.default_rng(1).standard_normal((n, h, w, c)).astype(np.float32)
    fast_max = conv.max_pool2d(Tensor(x), pool_size, strides, padding).data
    fast_avg = conv.avg_pool2d(Tensor(x), pool_size, strides, padding).data
    assert fast_max.dtype == fast_avg.dtype == np.float32
    np.testing.assert_array_equal(fast_max, conv.max_pool2d_naive(x, pool_size, strides, padding))
    np.testing.assert_allclose(fast_avg, conv.avg_pool2d_naive(x, pool_size, strides, padding), rtol=1e-6, atol=1e-6)


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), Y> = <x, col2im(Y)> for every x, Y: col2im sends each patch entry back to its pixel.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 6, 3))
    kernel_hw, strides, out_hw = (3, 2), (2, 1), (3, 5)
    cols = conv.im2col(x, kernel_hw, strides, out_hw)                 # (N·OH·OW, KH·KW·C)
    y = rng.standard_normal(cols.shape)
    y_offset_major = y.reshape(-1, 6, 3).transpose(1, 0, 2)           # (KH·KW, N·OH·OW, C)
    back = conv.col2im(y_offset_major, x.shape, kernel_hw, strides, out_hw)
    np.testing.assert_allclose(np.sum(cols * y), np.sum(x * back), rtol=1e-12)


# -- gradients: finite differences in float64 ---------------------------------------------------------------
@pytest.mark.parametrize("strides, padding", [(1, "valid"), (2, "same"), ((1, 2), "same"), (2, "valid")])
def test_conv2d_gradcheck(strides, padding):
    rng = np.random.default_rng(3)
    x, k, b = rng.standard_normal((2, 5, 4, 2)), rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(3)
    gradcheck(lambda x, k, b: conv.conv2d(x, k, b, strides, padding), x, k, b)


@pytest.mark.parametrize("pool_size, strides, padding", [((2, 2), None, "valid"), ((2, 2), None, "same"),
                                                         ((3, 3), 1, "same"), ((3, 2), (2, 1), "valid")])
def test_pooling_gradcheck(pool_size, strides, padding):
    x = np.random.default_rng(4).permutation(2 * 5 * 5 * 2).reshape(2, 5, 5, 2) * 0.1   # distinct: no ties
    gradcheck(lambda x: conv.max_pool2d(x, pool_size, strides, padding), x)
    gradcheck(lambda x: conv.avg_pool2d(x, pool_size, strides, padding), x)


def test_gradients_stay_float32():
    x = Tensor(np.ones((1, 4, 4, 2), np.float32), requires_grad=True)
    k = Tensor(np.ones((3, 3, 2, 2), np.float32), requires_grad=True)
    b = Tensor(np.zeros(2, np.float32), requires_grad=True)
    out = conv.max_pool2d(conv.conv2d(x, k, b, 1, "same"))
    out.sum().backward()
    assert out.dtype == x.grad.dtype == k.grad.dtype == b.grad.dtype == np.float32


def test_max_pool_ties_go_to_the_first_maximum():
    x = Tensor(np.ones((1, 2, 2, 1)), requires_grad=True)
    conv.max_pool2d(x).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[1, 0], [0, 0]])      # as PyTorch


def test_no_graph_without_gradients():
    x = Tensor(np.ones((1, 4, 4, 1)))
    assert not conv.max_pool2d(x).requires_grad and not conv.conv2d(x, Tensor(np.ones((2, 2, 1, 1)))).requires_grad


# -- PyTorch: NHWC ↔ NCHW, kernel (KH, KW, C, F) ↔ (F, C, KH, KW), TF "same" padding via F.pad ---------------
def _tf_pad(x_nchw, h, w, kernel_hw, strides, padding, value=0.0):
    if padding == "valid":
        return x_nchw
    (t, b), (l, r) = (conv.padding_amounts(h, kernel_hw[0], strides[0], "same"),
                      conv.padding_amounts(w, kernel_hw[1], strides[1], "same"))
    return F.pad(x_nchw, (l, r, t, b), value=value)


def _nchw(a):
    return torch.tensor(a.transpose(0, 3, 1, 2), requires_grad=True)


@needs_torch
@pytest.mark.parametrize("n, h, w, c, f, kernel_hw, strides, padding", CASES)
def test_conv2d_matches_torch(n, h, w, c, f, kernel_hw, strides, padding):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    k = rng.standard_normal(kernel_hw + (c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    strides2 = conv._pair(strides)
    out = conv.conv2d(xt := Tensor(x, requires_grad=True), kt := Tensor(k, requires_grad=True),
                      bt := Tensor(b, requires_grad=True), strides, padding)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)

    x_t, k_t = _nchw(x), torch.tensor(k.transpose(3, 2, 0, 1), requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    ref = F.conv2d(_tf_pad(x_t, h, w, kernel_hw, strides2, padding), k_t, b_t, stride=strides2)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(xt.grad, x_t.grad.numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(kt.grad, k_t.grad.numpy().transpose(2, 3, 1, 0), **tol)
    np.testing.assert_allclose(bt.grad, b_t.grad.numpy(), **tol)


@needs_torch
@pytest.mark.parametrize("n, h, w, c, pool_size, strides, padding", POOL_CASES)
def test_pooling_matches_torch(n, h, w, c, pool_size, strides, padding):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    strides2 = pool_size if strides is None else conv._pair(strides)
    for name in ("max", "avg"):
        xt = Tensor(x, requires_grad=True)
        out = getattr(conv, f"{name}_pool2d")(xt, pool_size, strides, padding)
        g = rng.standard_normal(out.shape).astype(np.float32)
        out.backward(g)
        x_t = _nchw(x)
        if name == "max":
            ref = F.max_pool2d(_tf_pad(x_t, h, w, pool_size, strides2, padding, -np.inf), pool_size, strides2)
        else:   # Keras's "same" average leaves the padded cells out of the count
            total = F.avg_pool2d(_tf_pad(x_t, h, w, pool_size, strides2, padding), pool_size, strides2)
            ones = _tf_pad(torch.ones(1, 1, h, w), h, w, pool_size, strides2, padding)
            ref = total / F.avg_pool2d(ones, pool_size, strides2)
        ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
        np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(xt.grad, x_t.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)
