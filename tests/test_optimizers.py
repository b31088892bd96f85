"""Optimizers: golden steps by hand, agreement with torch.optim / a NumPy transcription of Keras,
in-place float32 updates, hyper-parameter validation and lookup by name."""
import tracemalloc
import warnings

import numpy as np
import pytest

from glassnet import optimizers
from glassnet.engine import Variable


def _var(value, dtype="float32"):
    return Variable(np.array(value, dtype=dtype), name="w", dtype=dtype)


def _grads(steps, shape, seed=0):
    return list(np.random.default_rng(seed).standard_normal((steps,) + shape))


def test_adam_first_step_moves_each_weight_by_lr_sign_g():
    # keras adam_test: m = 0.1 g, v = 0.001 g², alpha = lr·sqrt(0.001)/0.1, so the step is lr·g/|g|
    w = _var([1.0, 2.0, 3.0, 4.0], "float64")
    g = np.array([0.5, -2.0, 0.1, -30.0])
    optimizers.Adam(learning_rate=0.5).apply_gradients([(g, w)])
    moved = np.array([1.0, 2.0, 3.0, 4.0]) - w.data
    np.testing.assert_allclose(moved, 0.5 * np.sign(g), rtol=1e-4)
    # exactly: lr·g / (|g| + epsilon / sqrt(1 - beta_2)), so epsilon shows only for tiny gradients
    np.testing.assert_allclose(moved, 0.5 * g / (np.abs(g) + 1e-7 / np.sqrt(0.001)), rtol=1e-12)


def test_sgd_plain_and_momentum_by_hand():
    w = _var([1.0])
    optimizers.SGD(0.1).apply_gradients([(np.array([2.0]), w)])
    np.testing.assert_allclose(w.data, [0.8], rtol=1e-7)                 # w - lr·g = 1 - 0.1·2
    w, opt = _var([0.0]), optimizers.SGD(0.1, momentum=0.9)
    for expected in [-0.1, -0.29, -0.561]:          # velocity: -0.1, -0.19, -0.271; w += velocity
        opt.apply_gradients([(np.array([1.0]), w)])
        np.testing.assert_allclose(w.data, [expected], rtol=1e-6)
    w, opt = _var([0.0]), optimizers.SGD(0.1, momentum=0.9, nesterov=True)
    for expected in [-0.19, -0.461]:                 # w += 0.9·velocity - 0.1·g
        opt.apply_gradients([(np.array([1.0]), w)])
        np.testing.assert_allclose(w.data, [expected], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.9}, {"momentum": 0.5, "nesterov": True}])
def test_sgd_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    w0 = np.random.default_rng(1).standard_normal((3, 4))
    w, wt = _var(w0, "float64"), torch.tensor(w0, requires_grad=True)
    opt, topt = optimizers.SGD(0.05, **kwargs), torch.optim.SGD([wt], lr=0.05, **kwargs)
    for g in _grads(6, (3, 4)):
        opt.apply_gradients([(g, w)])
        wt.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"amsgrad": True}])
def test_adam_matches_torch_when_epsilon_vanishes(kwargs):
    # With epsilon -> 0, Keras's alpha·m/sqrt(v) and PyTorch's lr·m̂/sqrt(v̂) are the same number.
    torch = pytest.importorskip("torch")
    w0 = np.random.default_rng(2).standard_normal(5)
    w, wt = _var(w0, "float64"), torch.tensor(w0, requires_grad=True)
    opt = optimizers.Adam(0.01, epsilon=1e-30, **kwargs)
    topt = torch.optim.Adam([wt], lr=0.01, eps=1e-30, **kwargs)
    for g in _grads(8, (5,), seed=3):
        opt.apply_gradients([(g, w)])
        wt.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.8}, {"centered": True}])
def test_rmsprop_matches_torch_when_epsilon_vanishes(kwargs):
    torch = pytest.importorskip("torch")
    w0 = np.random.default_rng(4).standard_normal(5)
    w, wt = _var(w0, "float64"), torch.tensor(w0, requires_grad=True)
    opt = optimizers.RMSprop(0.01, rho=0.9, epsilon=1e-30, **kwargs)
    topt = torch.optim.RMSprop([wt], lr=0.01, alpha=0.9, eps=1e-30, **kwargs)
    for g in _grads(8, (5,), seed=5):
        opt.apply_gradients([(g, w)])
        wt.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-10)


def _keras_adam(w, grads, lr, b1, b2, eps, amsgrad=False):
    """A plain transcription of keras/src/optimizers/adam.py: update_step."""
    m, v, v_hat = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (np.square(g) - v) * (1 - b2)
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
        w = w - (m * alpha) / (np.sqrt(v_hat if amsgrad else v) + eps)
    return w


def _keras_rmsprop(w, grads, lr, rho, momentum, eps, centered):
    """A plain transcription of keras/src/optimizers/rmsprop.py: update_step."""
    v, mom, avg = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        v = rho * v + (1 - rho) * np.square(g)
        if centered:
            avg = rho * avg + (1 - rho) * g
            denominator = v - np.square(avg) + eps
        else:
            denominator = v + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment
    return w


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_keras_formulas(amsgrad):
    w0 = np.random.default_rng(6).standard_normal((4, 3))
    grads = _grads(10, (4, 3), seed=7)
    w = _var(w0, "float64")
    opt = optimizers.Adam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-3, amsgrad=amsgrad)
    for g in grads:
        opt.apply_gradients([(g, w)])
    np.testing.assert_allclose(w.data, _keras_adam(w0, grads, 0.02, 0.8, 0.99, 1e-3, amsgrad), rtol=1e-12)
    w32 = _var(w0)                                                        # float32 agrees within 1e-5
    opt32 = optimizers.Adam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-3, amsgrad=amsgrad)
    for g in grads:
        opt32.apply_gradients([(g.astype("float32"), w32)])
    np.testing.assert_allclose(w32.data, _keras_adam(w0, grads, 0.02, 0.8, 0.99, 1e-3, amsgrad), atol=1e-5)


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.7, False), (0.0, True), (0.7, True)])
def test_rmsprop_matches_keras_formulas(momentum, centered):
    w0 = np.random.default_rng(8).standard_normal(6)
    grads = _grads(10, (6,), seed=9)
    w = _var(w0, "float64")
    opt = optimizers.RMSprop(0.01, rho=0.8, momentum=momentum, epsilon=1e-2, centered=centered)
    for g in grads:
        opt.apply_gradients([(g, w)])
    expected = _keras_rmsprop(w0, grads, 0.01, 0.8, momentum, 1e-2, centered)
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)


@pytest.mark.parametrize("opt", [optimizers.SGD(0.1), optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                 optimizers.Adam(amsgrad=True), optimizers.RMSprop(centered=True, momentum=0.5)],
                         ids=["sgd", "nesterov", "adam", "rmsprop"])
def test_updates_in_place_keep_float32_and_count_iterations(opt):
    w = _var(np.ones((3, 2)))
    b = _var(np.zeros(2))
    arrays = (w.data, b.data)
    for _ in range(3):
        opt.apply_gradients([(np.full((3, 2), 0.5), w), (np.ones(2, dtype="float64"), b), (None, b)])
    assert (w.data, b.data) == arrays or (w.data is arrays[0] and b.data is arrays[1])
    assert w.data.dtype == np.float32 and b.data.dtype == np.float32
    assert not np.array_equal(w.data, np.ones((3, 2)))
    assert opt.iterations == 3


@pytest.mark.parametrize("make", [optimizers.SGD, lambda: optimizers.SGD(momentum=0.9), optimizers.Adam,
                                  optimizers.RMSprop])
def test_steady_state_step_allocates_nothing_big(make):
    opt, w = make(), _var(np.zeros((500, 500)))                           # 1 MB of weights
    g = np.ones((500, 500), dtype="float32")
    opt.apply_gradients([(g, w)])                                         # first step creates the slots
    tracemalloc.start()
    opt.apply_gradients([(g, w)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50_000


@pytest.mark.parametrize("value, exc, words", [
    (-0.01, ValueError, "learning_rate"), (float("nan"), ValueError, "learning_rate"),
    (float("inf"), ValueError, "learning_rate"), (True, TypeError, "learning_rate"),
    ("0.1", TypeError, "learning_rate"),
])
def test_learning_rate_validation(value, exc, words):
    with pytest.raises(exc, match=words):
        optimizers.Adam(learning_rate=value)
    opt = optimizers.SGD()
    with pytest.raises(exc, match=words):
        opt.learning_rate = value


def test_zero_learning_rate_warns_and_setter_works():
    with pytest.warns(UserWarning, match="no learning will happen"):
        optimizers.SGD(learning_rate=0)
    opt = optimizers.Adam()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.learning_rate = 1e-4                                          # callbacks may lower it
    assert opt.learning_rate == 1e-4 and isinstance(opt.learning_rate, float)


@pytest.mark.parametrize("make, words", [
    (lambda: optimizers.Adam(beta_1=1.0), "beta_1"),
    (lambda: optimizers.Adam(epsilon=0), "epsilon"),
    (lambda: optimizers.RMSprop(rho=-0.1), "rho"),
    (lambda: optimizers.SGD(momentum=-0.5), "momentum"),
])
def test_bad_hyper_parameters(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_unknown_keywords_and_legacy_lr():
    with pytest.raises(TypeError, match="'decay'"):
        optimizers.Adam(decay=0.1)
    with pytest.raises(TypeError, match="use `learning_rate`"):
        optimizers.SGD(lr=0.1)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for variable 'w' of shape \(2,\)"):
        optimizers.SGD().apply_gradients([(np.zeros(3), _var([1.0, 2.0]))])


def test_get_by_name_instance_and_config():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("Adam"), optimizers.Adam)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    opt = optimizers.SGD(0.1, momentum=0.9)
    assert optimizers.get(opt) is opt
    for opt in [optimizers.SGD(0.1, momentum=0.9, nesterov=True), optimizers.Adam(0.002, amsgrad=True),
                optimizers.RMSprop(centered=True)]:
        again = type(opt).from_config(opt.get_config())
        assert again.get_config() == opt.get_config()
        assert optimizers.get(optimizers.serialize(opt)).get_config() == opt.get_config()
    assert optimizers.Adam().get_config() == {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9,
                                              "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
    assert optimizers.SGD().get_config() == {"name": "SGD", "learning_rate": 0.01, "momentum": 0.0,
                                             "nesterov": False}


def test_unknown_name_lists_valid_names_and_suggests():
    with pytest.raises(ValueError, match=r"Unknown optimizer: 'adma' \(did you mean 'adam'\?\)\. Valid names: 'adam', 'rmsprop', 'sgd'"):
        optimizers.get("adma")
    with pytest.raises(TypeError, match="optimizer"):
        optimizers.get(3)


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1, momentum=0.9), lambda: optimizers.SGD(0.1),
                                  lambda: optimizers.Adam(0.01, amsgrad=True), lambda: optimizers.RMSprop(
                                      0.01, momentum=0.5, centered=True)])
def test_get_state_set_state_resume_exactly(make):
    grads = _grads(6, (3,), seed=10)
    w_ref, ref = _var([1.0, 2.0, 3.0]), make()
    for g in grads:
        ref.apply_gradients([(g, w_ref)])
    w, first = _var([1.0, 2.0, 3.0]), make()
    for g in grads[:3]:
        first.apply_gradients([(g, w)])
    state = first.get_state([w])
    assert all(a.shape == (3,) for a in state)
    w2, second = _var(w.data), make()                     # a fresh optimizer, as after load_model
    second.set_state([w2], state)
    second.iterations = first.iterations
    for g in grads[3:]:
        second.apply_gradients([(g, w2)])
    np.testing.assert_array_equal(w2.data, w_ref.data)
    with pytest.raises(ValueError, match="set_state"):
        second.set_state([w2], state + [np.zeros(3)])
