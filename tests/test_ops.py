"""Every primitive op, one line each: forward vs a plain-NumPy formula, backward vs central
differences (glassnet.gradcheck, float64) and vs PyTorch autograd on the same inputs.

A row is ``case(id, fn, *inputs, ref=..., torch_fn=...)``: ``fn`` runs on glassnet Tensors and,
unless overridden, also on NumPy arrays (the reference) and torch tensors. Inputs are shapes
(filled with fixed random normals) or explicit arrays. Finite differences use torch.autograd.gradcheck's
tolerances (atol 1e-5, rtol 1e-3); analytic vs analytic (glassnet vs torch, both float64) is held
to 1e-10.
"""
import numpy as np
import pytest

from glassnet import ops
from glassnet.engine import Tensor
from glassnet.gradcheck import gradcheck

try:
    import torch
except ImportError:  # the rest of the file still runs
    torch = None

_rng = np.random.default_rng(2024)


def _positive(*shape):
    return _rng.uniform(0.5, 2.0, size=shape)


def _away_from(values, *shape):
    """Normals kept ≥ 0.1 away from each value in ``values`` (kinks of abs, clip, maximum...)."""
    x = _rng.standard_normal(shape)
    for v in values:
        x = np.where(np.abs(x - v) < 0.1, v + 0.3 * np.sign(x - v + 1e-12), x)
    return x


def case(id, fn, *inputs, ref=None, torch_fn=None):
    arrays = [np.asarray(x, dtype=np.float64) if not isinstance(x, tuple)
              else np.asarray(_rng.standard_normal(x)) for x in inputs]
    return pytest.param(fn, ref or fn, torch_fn or fn, arrays, id=id)


COND = _rng.standard_normal((3, 4)) > 0
FANCY = ([0, 2, 0, 0], [1, 1, 3, 1])                  # repeated (0, 1): gradients must add up

CASES = [
    # arithmetic, with broadcasting and Python scalars
    case("add", lambda a, b: a + b, (3, 4), (3, 4)),
    case("add_broadcast_row", lambda a, b: a + b, (3, 4), (4,)),
    case("add_broadcast_both", lambda a, b: a + b, (3, 1), (1, 4)),
    case("add_scalar_left", lambda a: 2.5 + a, (3,)),
    case("sub_broadcast", lambda a, b: a - b, (2, 3, 4), (3, 1)),
    case("rsub_scalar", lambda a: 1.5 - a, (2, 3)),
    case("neg", lambda a: -a, (2, 3)),
    case("mul_broadcast", lambda a, b: a * b, (2, 3, 4), (4,)),
    case("mul_0d", lambda a, b: a * b, (5,), ()),
    case("div", lambda a, b: a / b, (3, 4), _positive(3, 4)),
    case("div_broadcast", lambda a, b: a / b, (2, 3), _positive(3)),
    case("rdiv_scalar", lambda a: 2.0 / a, _positive(4)),
    case("pow_int", lambda a: a ** 3, (3, 4)),
    case("pow_float", lambda a: a ** 2.5, _positive(3, 4)),
    case("pow_tensor_exponent", lambda a, b: a ** b, _positive(3, 4), (3, 4)),
    case("pow_exponent_broadcast", lambda a, b: a ** b, _positive(2, 3), (3,)),
    case("rpow", lambda a: 2.0 ** a, (4,)),
    # matmul: 2-D, batched, broadcast batch, and the 1-D cases
    case("matmul_2d", lambda a, b: a @ b, (3, 4), (4, 5)),
    case("matmul_batched", lambda a, b: a @ b, (2, 3, 4), (2, 4, 5)),
    case("matmul_batch_x_2d", lambda a, b: a @ b, (2, 3, 4), (4, 5)),
    case("matmul_broadcast_batch", lambda a, b: a @ b, (2, 1, 3, 4), (5, 4, 2)),
    case("matmul_1d_2d", lambda a, b: a @ b, (4,), (4, 5)),
    case("matmul_2d_1d", lambda a, b: a @ b, (3, 4), (4,)),
    case("matmul_1d_1d", lambda a, b: a @ b, (4,), (4,)),
    case("matmul_3d_1d", lambda a, b: a @ b, (2, 3, 4), (4,)),
    case("matmul_1d_3d", lambda a, b: a @ b, (4,), (2, 4, 5)),
    case("linear", ops.linear, (5, 3), (3, 2), (2,),
         ref=lambda x, k, b: x @ k + b, torch_fn=lambda x, k, b: x @ k + b),
    case("linear_no_bias", ops.linear, (5, 3), (3, 2),
         ref=lambda x, k: x @ k, torch_fn=lambda x, k: x @ k),
    case("linear_3d_input", ops.linear, (2, 5, 3), (3, 2), (2,),
         ref=lambda x, k, b: x @ k + b, torch_fn=lambda x, k, b: x @ k + b),
    # elementwise functions
    case("exp", ops.exp, (3, 4), ref=np.exp, torch_fn=lambda a: a.exp()),
    case("log", ops.log, _positive(3, 4), ref=np.log, torch_fn=lambda a: a.log()),
    case("sqrt", ops.sqrt, _positive(3, 4), ref=np.sqrt, torch_fn=lambda a: a.sqrt()),
    case("abs", ops.abs, _away_from([0], 3, 4), ref=np.abs, torch_fn=lambda a: a.abs()),
    case("sin", ops.sin, (3, 4), ref=np.sin, torch_fn=lambda a: a.sin()),
    case("cos", ops.cos, (3, 4), ref=np.cos, torch_fn=lambda a: a.cos()),
    case("maximum", ops.maximum, _away_from([0], 3, 4), np.zeros((3, 4)),
         ref=np.maximum, torch_fn=lambda a, b: a.maximum(b)),
    case("maximum_broadcast", lambda a, b: ops.maximum(a, b), _away_from([0.5, -0.5], 3, 4),
         [0.5, -0.5, 0.5, -0.5], ref=np.maximum, torch_fn=lambda a, b: a.maximum(b)),
    case("clip", lambda a: ops.clip(a, -0.5, 0.5), _away_from([-0.5, 0.5], 3, 4),
         ref=lambda a: np.clip(a, -0.5, 0.5), torch_fn=lambda a: a.clamp(-0.5, 0.5)),
    case("where", lambda a, b: ops.where(COND, a, b), (3, 4), (3, 4),
         ref=lambda a, b: np.where(COND, a, b), torch_fn=lambda a, b: torch.where(torch.tensor(COND), a, b)),
    case("where_broadcast", lambda a, b: ops.where(COND, a, b), (3, 4), (4,),
         ref=lambda a, b: np.where(COND, a, b), torch_fn=lambda a, b: torch.where(torch.tensor(COND), a, b)),
    # reductions: axis None / int / negative / tuple, keepdims
    case("sum_all", lambda a: a.sum(), (3, 4)),
    case("sum_axis0", lambda a: a.sum(axis=0), (3, 4), torch_fn=lambda a: a.sum(0)),
    case("sum_axis_neg_keepdims", lambda a: a.sum(axis=-1, keepdims=True), (2, 3, 4),
         torch_fn=lambda a: a.sum(-1, keepdim=True)),
    case("sum_axes_tuple", lambda a: a.sum(axis=(0, 2)), (2, 3, 4), torch_fn=lambda a: a.sum((0, 2))),
    case("sum_all_keepdims", lambda a: a.sum(keepdims=True), (2, 3), ref=lambda a: a.sum(keepdims=True),
         torch_fn=lambda a: a.sum((0, 1), keepdim=True)),
    case("mean_all", lambda a: a.mean(), (3, 4)),
    case("mean_axis1", lambda a: a.mean(axis=1), (3, 4), torch_fn=lambda a: a.mean(1)),
    case("mean_axes_keepdims", lambda a: a.mean(axis=(0, 2), keepdims=True), (2, 3, 4),
         torch_fn=lambda a: a.mean((0, 2), keepdim=True)),
    case("max_all", lambda a: a.max(), (3, 4), torch_fn=lambda a: a.amax()),
    case("max_axis0", lambda a: a.max(axis=0), (3, 4), torch_fn=lambda a: a.amax(0)),
    case("max_axis_neg_keepdims", lambda a: a.max(axis=-1, keepdims=True), (2, 3, 4),
         torch_fn=lambda a: a.amax(-1, keepdim=True)),
    case("max_axes_tuple", lambda a: a.max(axis=(0, 2)), (2, 3, 4), torch_fn=lambda a: a.amax((0, 2))),
    # shapes and indexing
    case("reshape", lambda a: a.reshape(4, 3), (3, 4)),
    case("reshape_tuple_infer", lambda a: a.reshape((2, -1)), (2, 3, 2)),
    case("transpose_T", lambda a: a.T, (3, 4)),
    case("transpose_axes", lambda a: a.transpose(2, 0, 1), (2, 3, 4), torch_fn=lambda a: a.permute(2, 0, 1)),
    case("transpose_negative_axes", lambda a: a.transpose(-1, 0, 1), (2, 3, 4),
         torch_fn=lambda a: a.permute(-1, 0, 1)),
    case("getitem_int", lambda a: a[1], (3, 4)),
    case("getitem_scalar", lambda a: a[1, 2], (3, 4)),
    case("getitem_slices", lambda a: a[::2, 1:3], (3, 4)),
    case("getitem_negative", lambda a: a[:, -1], (3, 4)),
    case("getitem_fancy_repeats", lambda a: a[[0, 2, 0]], (3, 4)),
    case("getitem_fancy_pairs_repeats", lambda a: a[FANCY], (3, 4),
         torch_fn=lambda a: a[torch.tensor(FANCY[0]), torch.tensor(FANCY[1])]),
    case("getitem_bool_mask", lambda a: a[COND], (3, 4), torch_fn=lambda a: a[torch.tensor(COND)]),
    case("concatenate_axis0", lambda a, b, c: ops.concatenate([a, b, c]), (1, 3), (2, 3), (3, 3),
         ref=lambda a, b, c: np.concatenate([a, b, c]), torch_fn=lambda a, b, c: torch.cat([a, b, c])),
    case("concatenate_axis_neg", lambda a, b: ops.concatenate([a, b], axis=-1), (2, 1), (2, 3),
         ref=lambda a, b: np.concatenate([a, b], -1), torch_fn=lambda a, b: torch.cat([a, b], -1)),
    # a composition: the chain rule through several ops at once
    case("composite", lambda a, b: ((a @ b).sum(axis=1) ** 2).mean(), (3, 4), (4, 2),
         torch_fn=lambda a, b: ((a @ b).sum(1) ** 2).mean()),
]


def _upstream(shape):
    """The fixed upstream gradient used for both glassnet and torch (ones for a scalar)."""
    size = int(np.prod(shape))
    return np.ones(shape) if size == 1 else np.random.default_rng(7).standard_normal(shape)


def _glassnet_grads(fn, arrays, dtype="float64"):
    tensors = [Tensor(x, requires_grad=True, dtype=dtype) for x in arrays]
    out = fn(*tensors)
    out.backward(_upstream(out.shape).astype(dtype))
    return out, [t.grad for t in tensors]


@pytest.mark.parametrize("fn, ref, torch_fn, arrays", CASES)
def test_forward_matches_numpy(fn, ref, torch_fn, arrays):
    out = fn(*[Tensor(x, dtype="float64") for x in arrays])
    expected = ref(*arrays)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn, ref, torch_fn, arrays", CASES)
def test_backward_matches_finite_differences(fn, ref, torch_fn, arrays):
    result = gradcheck(fn, *arrays)
    assert result.ok, str(result)


@pytest.mark.skipif(torch is None, reason="needs torch (pytest.importorskip('torch'))")
@pytest.mark.parametrize("fn, ref, torch_fn, arrays", CASES)
def test_backward_matches_torch(fn, ref, torch_fn, arrays):
    out, grads = _glassnet_grads(fn, arrays)
    tt = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in arrays]
    tout = torch_fn(*tt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    tout.backward(torch.tensor(_upstream(tuple(tout.shape))))
    for g, t in zip(grads, tt):
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        assert g.shape == expected.shape
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn, ref, torch_fn, arrays", CASES)
def test_dtype_preserved_through_forward_and_backward(fn, ref, torch_fn, arrays, dtype):
    out, grads = _glassnet_grads(fn, arrays, dtype=dtype)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in grads)


def test_max_ties_split_the_gradient_equally():
    """As torch.amax: tied maxima share g (finite differences cannot check this kink)."""
    a = Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True, dtype="float64")
    a.max(axis=1).sum().backward()
    np.testing.assert_allclose(a.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    if torch is not None:
        t = torch.tensor(a.data, requires_grad=True)
        t.amax(1).sum().backward()
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-15)


def test_maximum_tie_sends_the_gradient_to_the_first_argument():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 3.0], requires_grad=True)
    ops.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0])


def test_clip_passes_the_gradient_inside_the_closed_range_only():
    a = Tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    ops.clip(a, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [0, 1, 1, 1, 0])


def test_pow_exponent_gradient_is_zero_where_the_base_is_not_positive():
    a = Tensor([-2.0, 0.0, 2.0], requires_grad=True, dtype="float64")
    b = Tensor([2.0, 2.0, 2.0], requires_grad=True, dtype="float64")
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad, [0.0, 0.0, 4.0 * np.log(2.0)])
    np.testing.assert_allclose(a.grad, [-4.0, 0.0, 4.0])


def test_unbroadcast_sums_added_and_stretched_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(ops.unbroadcast(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(ops.unbroadcast(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(ops.unbroadcast(g, ()), g.sum())
    assert ops.unbroadcast(g, (2, 3, 4)) is g


def test_ops_accept_plain_arrays_and_numbers():
    out = ops.exp(np.zeros(2))
    assert isinstance(out, Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.data, [1.0, 1.0])
    np.testing.assert_array_equal(ops.maximum([1.0, -1.0], 0.0).data, [1.0, 0.0])


# -- the oracle itself: gradcheck must catch a wrong derivative ---------------------------------------
def _square_with_wrong_derivative(a):
    from glassnet.engine import make
    return make(a.data ** 2, (a,), lambda g: (g * a.data,), "bad_square")     # should be 2a


def test_gradcheck_reports_the_worst_mismatch():
    from glassnet.gradcheck import GradcheckError
    x = np.array([1.0, -3.0, 2.0])
    with pytest.raises(GradcheckError, match=r"FAILED.*\n  worst: input 0, element \(1,\): "
                                             r"analytic -3, numeric -6"):
        gradcheck(lambda a: _square_with_wrong_derivative(a).sum(), x)
    result = gradcheck(lambda a: _square_with_wrong_derivative(a).sum(), x, raise_exception=False)
    assert not result.ok and not result
    assert result.worst == (0, (1,))
    np.testing.assert_allclose(result.max_abs_error, 3.0, rtol=1e-6)
    np.testing.assert_allclose(result.max_rel_error, 0.5, rtol=1e-6)


def test_gradcheck_passes_a_correct_derivative_and_checks_every_input():
    result = gradcheck(lambda a, b: a * b + ops.exp(b), np.ones((2, 2)), Tensor([[0.5, -1.0]]))
    assert result.ok and result.worst[0] in (0, 1) and result.max_abs_error < 1e-8
    assert "gradcheck passed" in str(result)
    assert [g.shape for g in result.analytic] == [(2, 2), (1, 2)]


def test_gradcheck_explains_bad_usage():
    with pytest.raises(ValueError, match="at least one input"):
        gradcheck(lambda: Tensor(1.0))
    with pytest.raises(TypeError, match="must return a glassnet Tensor.*ndarray"):
        gradcheck(lambda a: np.asarray(a), np.ones(2))
    with pytest.raises(TypeError, match="float32 Tensor for float64 inputs"):
        gradcheck(lambda a: Tensor(a.data, dtype="float32"), np.ones(2))
    from glassnet.engine import no_grad
    with no_grad(), pytest.raises(RuntimeError, match="inside glassnet.no_grad"):
        gradcheck(lambda a: a * 2, np.ones(2))
