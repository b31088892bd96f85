"""Activations: hand-checkable values, numerical stability, dtypes, gradients (finite differences
and PyTorch), and lookup by name."""
import numpy as np
import pytest

import glassnet
from glassnet import activations
from glassnet.activations import leaky_relu, linear, relu, sigmoid, softmax, step, tanh
from glassnet.engine import Tensor
from glassnet.gradcheck import gradcheck

try:
    import torch
except ImportError:  # the rest of the file still runs
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="needs torch (pytest.importorskip('torch'))")


# -- hand-checkable values ------------------------------------------------------------------------------
def test_linear_is_the_identity():
    x = np.array([-1.5, 0.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(linear(x), x)
    t = Tensor(x, requires_grad=True)
    assert linear(t) is t


def test_step_fires_only_above_zero():
    np.testing.assert_array_equal(step(np.array([-2.0, 0.0, 1e-30, 3.0])), [0.0, 0.0, 1.0, 1.0])


def test_sigmoid_values():
    # σ(0) = 1/2;  σ(ln 3) = 1/(1 + 1/3) = 3/4;  σ(−z) = 1 − σ(z)
    np.testing.assert_allclose(sigmoid(np.array([0.0, np.log(3.0), -np.log(3.0)])),
                               [0.5, 0.75, 0.25], rtol=1e-15)


def test_tanh_values():
    # tanh(ln 2) = (2 − 1/2) / (2 + 1/2) = 3/5
    np.testing.assert_allclose(tanh(np.array([0.0, np.log(2.0)])), [0.0, 0.6], rtol=1e-15)


def test_relu_values():
    np.testing.assert_array_equal(relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])


def test_leaky_relu_default_slope_is_keras_0_2_and_notes_slope_is_0_1():
    x = np.array([-10.0, 0.0, 5.0])
    np.testing.assert_array_equal(leaky_relu(x), [-2.0, 0.0, 5.0])
    np.testing.assert_array_equal(leaky_relu(x, negative_slope=0.1), [-1.0, 0.0, 5.0])   # max(0.1z, z)
    np.testing.assert_array_equal(leaky_relu(x, negative_slope=0), relu(x))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "0.2", None, True])
def test_leaky_relu_rejects_a_bad_slope(bad):
    with pytest.raises(ValueError, match=r"negative_slope must be a finite number >= 0\. Received"):
        leaky_relu(np.zeros(2), negative_slope=bad)


def test_softmax_values():
    # e^0 : e^(ln 3) = 1 : 3
    np.testing.assert_allclose(softmax(np.array([[0.0, np.log(3.0)], [5.0, 5.0]])),
                               [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)


# -- numerical stability (NumPy warnings are errors in these tests) ----------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_is_finite_and_exact_at_plus_minus_1000(dtype):
    s = sigmoid(np.array([-1000.0, -50.0, 1000.0], dtype=dtype))
    assert s[0] == 0.0 and s[2] == 1.0
    np.testing.assert_allclose(s[1], np.exp(-50.0), rtol=1e-6)      # no 1 − 1 cancellation
    t = Tensor([-1000.0, 1000.0], requires_grad=True, dtype=dtype)
    sigmoid(t).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 0.0])


def test_softmax_sums_to_one_and_is_stable_at_1e4():
    x = np.random.default_rng(0).standard_normal((4, 5)) * 10
    np.testing.assert_allclose(softmax(x).sum(axis=-1), np.ones(4), rtol=1e-15)
    np.testing.assert_allclose(softmax(x, axis=0).sum(axis=0), np.ones(5), rtol=1e-15)
    np.testing.assert_array_equal(softmax(np.array([1e4, 0.0, -1e4], dtype=np.float32)), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(softmax(x + 1e4), softmax(x), rtol=1e-10)           # shift invariant


def test_softmax_of_a_scalar_is_an_error():
    with pytest.raises(ValueError, match="at least one axis.*sigmoid"):
        softmax(np.float64(1.0))


# -- arrays in, arrays out; dtypes ------------------------------------------------------------------------
ALL = [linear, step, sigmoid, tanh, relu, leaky_relu, softmax]


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arrays_in_arrays_out_with_the_dtype_kept(fn, dtype):
    out = fn(np.array([[-1.0, 0.5, 2.0]], dtype=dtype))
    assert type(out) is np.ndarray and out.dtype == dtype and out.shape == (1, 3)


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_integers_and_lists_become_float32(fn):
    assert fn(np.array([[-1, 0, 2]])).dtype == np.float32
    assert fn([[-1, 0, 2]]).dtype == np.float32


@pytest.mark.parametrize("fn", [sigmoid, tanh, relu, leaky_relu, softmax], ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tensors_in_differentiable_tensors_out(fn, dtype):
    t = Tensor([[-1.0, 0.5, 2.0]], requires_grad=True, dtype=dtype)
    out = fn(t)
    assert isinstance(out, Tensor) and out.requires_grad and out.dtype == dtype
    (out * Tensor([[1.0, 2.0, 3.0]], dtype=dtype)).sum().backward()
    assert t.grad.dtype == dtype and t.grad.shape == (1, 3)


@pytest.mark.parametrize("fn", [sigmoid, softmax], ids=lambda f: f.__name__)
def test_sigmoid_and_softmax_keep_their_logits_for_the_losses(fn):
    z = Tensor([[0.5, -1.0]], requires_grad=True)
    assert fn(z)._logits is z
    assert relu(z)._logits is None


def test_step_is_forward_only():
    z = Tensor([-1.0, 2.0], requires_grad=True)
    out = step(z)
    np.testing.assert_array_equal(out.data, [0.0, 1.0])
    with pytest.raises(RuntimeError, match=r"Cannot backpropagate through the 'step'.*activation='sigmoid'"):
        out.sum().backward()
    with glassnet.no_grad():                  # inference needs no gradient: fine
        np.testing.assert_array_equal(step(z).data, [0.0, 1.0])


# -- gradients --------------------------------------------------------------------------------------------
def _inputs(shape=(3, 4)):
    x = np.random.default_rng(1).standard_normal(shape) * 2
    return np.where(np.abs(x) < 0.1, 0.5, x)          # away from the kink of relu / leaky_relu


GRAD_CASES = [
    pytest.param(sigmoid, lambda x: x.sigmoid(), id="sigmoid"),
    pytest.param(tanh, lambda x: x.tanh(), id="tanh"),
    pytest.param(relu, lambda x: x.relu(), id="relu"),
    pytest.param(leaky_relu, lambda x: torch.nn.functional.leaky_relu(x, 0.2), id="leaky_relu"),
    pytest.param(lambda x: leaky_relu(x, negative_slope=0.1),
                 lambda x: torch.nn.functional.leaky_relu(x, 0.1), id="leaky_relu_0.1"),
    pytest.param(softmax, lambda x: x.softmax(-1), id="softmax"),
    pytest.param(lambda x: softmax(x, axis=0), lambda x: x.softmax(0), id="softmax_axis0"),
    pytest.param(linear, lambda x: x, id="linear"),
]


@pytest.mark.parametrize("fn, torch_fn", GRAD_CASES)
def test_gradient_matches_finite_differences(fn, torch_fn):
    result = gradcheck(fn, _inputs())
    assert result.ok, str(result)


def test_softmax_gradient_over_a_middle_axis():
    result = gradcheck(lambda x: softmax(x, axis=1), _inputs((2, 3, 4)))
    assert result.ok, str(result)


@requires_torch
@pytest.mark.parametrize("fn, torch_fn", GRAD_CASES)
def test_gradient_matches_torch(fn, torch_fn):
    x = _inputs()
    g = np.random.default_rng(2).standard_normal(x.shape)
    t = Tensor(x, requires_grad=True, dtype="float64")
    fn(t).backward(g)
    tt = torch.tensor(x, requires_grad=True)
    out = torch_fn(tt)
    np.testing.assert_allclose(fn(x), out.detach().numpy(), rtol=1e-12, atol=1e-15)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


@requires_torch
def test_gradient_at_exactly_zero_matches_torch():
    # relu'(0) = 0 and leaky_relu'(0) = negative_slope, as in PyTorch (and TensorFlow)
    for fn, torch_fn in [(relu, torch.relu), (leaky_relu, lambda x: torch.nn.functional.leaky_relu(x, 0.2))]:
        t = Tensor([0.0], requires_grad=True, dtype="float64")
        fn(t).sum().backward()
        tt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        torch_fn(tt).sum().backward()
        np.testing.assert_array_equal(t.grad, tt.grad.numpy())


# -- lookup by name ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["linear", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"])
def test_get_and_serialize_round_trip(name):
    fn = activations.get(name)
    assert fn is getattr(activations, name)
    assert activations.serialize(fn) == name
    assert activations.serialize(name) == name


def test_get_none_and_callables():
    assert activations.get(None) is linear
    assert activations.serialize(None) == "linear"
    custom = lambda x: x * 2  # noqa: E731
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="Cannot serialize the custom activation"):
        activations.serialize(custom)


@pytest.mark.parametrize("typo, suggestion", [("rleu", "relu"), ("sigmod", "sigmoid"),
                                              ("ReLU", "relu"), ("softmx", "softmax")])
def test_get_unknown_name_lists_valid_names_and_suggests_one(typo, suggestion):
    with pytest.raises(ValueError, match=rf"Unknown activation: '{typo}'\. Expected one of 'linear', "
                                         rf"'step', .*Did you mean '{suggestion}'\?"):
        activations.get(typo)


def test_get_rejects_other_types():
    with pytest.raises(ValueError, match=r"Could not interpret activation identifier.*Received: 3 \(int\)"):
        activations.get(3)


def test_public_namespace():
    assert glassnet.sigmoid is sigmoid and glassnet.softmax is softmax and glassnet.relu is relu
    assert glassnet.tanh is tanh and glassnet.leaky_relu is leaky_relu
    assert glassnet.activations.get is activations.get
