"""Losses: hand-checkable values, gradcheck (float64), PyTorch autograd, fusion rules, target checks."""

import numpy as np
import pytest

from glassnet import losses
from glassnet.activations import sigmoid, softmax
from glassnet.engine import Tensor
from glassnet.gradcheck import gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(0)
N, K = 5, 4


def probs(shape, low=0.05):
    p = RNG.uniform(low, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


LABELS = np.array([0, 3, 1, 2, 3])
ONE_HOT = np.eye(K)[LABELS]
SOFT = probs((N, K))                                          # soft targets, rows sum to 1
BIN01 = RNG.integers(0, 2, (N, 3)).astype(float)
WEIGHTS = np.array([1.0, 0.5, 2.0, 0.0, 1.5])


# -- hand-checkable values ---------------------------------------------------------------------------
def test_keras_mse_example_is_49_5():
    y_true = np.array([[1, 9, 2], [-5, -2, 6]], dtype="float32")
    y_pred = np.array([[4, 8, 12], [8, 1, 3]], dtype="float32")
    # squared errors 9, 1, 100 | 169, 9, 9 → per sample 110/3, 187/3 → mean 49.5
    assert float(losses.MeanSquaredError()(y_true, y_pred)) == pytest.approx(49.5)


def test_notes_absolute_errors_5_3_1():
    y_true, y_pred = np.array([[10.0, 10, 10]]), np.array([[15.0, 7, 11]])
    assert losses.mean_absolute_error(y_true, y_pred).tolist() == [3.0]        # (5 + 3 + 1) / 3
    assert losses.mean_squared_error(y_true, y_pred)[0] == pytest.approx(35 / 3)   # (25 + 9 + 1) / 3
    assert losses.mse is losses.mean_squared_error and losses.MAE is losses.mean_absolute_error


def test_crossentropy_hand_values():
    p = np.array([[0.1, 0.8, 0.1], [0.5, 0.25, 0.25]])
    np.testing.assert_allclose(losses.categorical_crossentropy([[0, 1, 0], [1, 0, 0]], p),
                               [-np.log(0.8), -np.log(0.5)], rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 2], p),
                               [-np.log(0.8), -np.log(0.25)], rtol=1e-12)
    np.testing.assert_allclose(losses.binary_crossentropy([[1.0, 0.0]], np.array([[0.5, 0.5]])),
                               [np.log(2)], rtol=1e-12)
    # logits 0 → σ = 0.5 → log 2; softmax of equal logits → 1/K
    np.testing.assert_allclose(losses.binary_crossentropy([[1.0]], np.zeros((1, 1)), from_logits=True),
                               [np.log(2)], rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([2], np.zeros((1, 4)), from_logits=True),
                               [np.log(4)], rtol=1e-12)


def test_cce_normalises_and_sparse_does_not():
    p = np.array([[1.0, 3.0]])                               # CCE: 3/4 after normalising
    assert losses.categorical_crossentropy([[0, 1]], p)[0] == pytest.approx(-np.log(0.75))
    p = np.array([[0.2, 0.3]])                               # sparse: log Σq − log q_y (TF backend)
    assert losses.sparse_categorical_crossentropy([1], p)[0] == pytest.approx(np.log(0.5) - np.log(0.3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_probabilities_exactly_0_and_1_are_clipped_to_finite(dtype):
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    eps = 1e-7
    cce = losses.categorical_crossentropy([[1, 0, 0], [1, 0, 0]], p)
    assert np.isfinite(cce).all() and cce[1] < 1e-6
    assert cce[0] == pytest.approx(-np.log(eps), rel=1e-3)    # −log ε ≈ 16.118
    assert np.isfinite(losses.sparse_categorical_crossentropy([0, 0], p)).all()
    bce = losses.binary_crossentropy(np.array([[1.0, 0.0, 1.0]]), p[:1])
    assert np.isfinite(bce).all()
    t = Tensor(p, requires_grad=True)
    losses.CategoricalCrossentropy()([[1, 0, 0], [1, 0, 0]], t).backward()
    assert np.isfinite(t.grad).all()


def test_huge_logits_do_not_overflow():
    z = np.array([[1000.0, -1000.0, 0.0]])
    assert np.isfinite(losses.categorical_crossentropy([[0, 1, 0]], z, from_logits=True)).all()
    assert losses.sparse_categorical_crossentropy([0], z, from_logits=True)[0] == 0.0
    assert np.isfinite(losses.binary_crossentropy([[0.0, 1.0, 1.0]], z, from_logits=True)).all()


# -- gradients: central differences (float64) and PyTorch autograd -------------------------------------
# name, glassnet loss class kwargs, y_true, x (y_pred or logits), torch per-sample function
CASES = [
    ("mse", losses.MeanSquaredError, {}, RNG.normal(size=(N, 3)), RNG.normal(size=(N, 3)),
     lambda y, p: F.mse_loss(p, y, reduction="none").mean(-1)),
    ("mae", losses.MeanAbsoluteError, {}, RNG.normal(size=(N, 3)), RNG.normal(size=(N, 3)),
     lambda y, p: F.l1_loss(p, y, reduction="none").mean(-1)),
    ("bce", losses.BinaryCrossentropy, {}, BIN01, RNG.uniform(0.05, 0.95, (N, 3)),
     lambda y, p: F.binary_cross_entropy(p, y, reduction="none").mean(-1)),
    ("bce_logits", losses.BinaryCrossentropy, {"from_logits": True}, BIN01, RNG.normal(0, 3, (N, 3)),
     lambda y, z: F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(-1)),
    ("cce", losses.CategoricalCrossentropy, {}, SOFT, RNG.uniform(0.1, 1.0, (N, K)),    # not normalised
     lambda y, p: -(y * torch.log(p / p.sum(-1, keepdim=True))).sum(-1)),
    ("cce_logits", losses.CategoricalCrossentropy, {"from_logits": True}, SOFT, RNG.normal(0, 2, (N, K)),
     lambda y, z: F.cross_entropy(z, y, reduction="none")),
    ("sparse", losses.SparseCategoricalCrossentropy, {}, LABELS, RNG.uniform(0.1, 1.0, (N, K)),
     lambda y, p: F.nll_loss(torch.log_softmax(torch.log(p), -1), y.long(), reduction="none")),
    ("sparse_logits", losses.SparseCategoricalCrossentropy, {"from_logits": True}, LABELS,
     RNG.normal(0, 2, (N, K)), lambda y, z: F.cross_entropy(z, y.long(), reduction="none")),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, cls, kwargs, y, x, torch_fn", CASES, ids=IDS)
@pytest.mark.parametrize("sample_weight", [None, WEIGHTS], ids=["unweighted", "weighted"])
def test_gradcheck_float64(name, cls, kwargs, y, x, torch_fn, sample_weight):
    loss = cls(**kwargs)
    assert gradcheck(lambda t: loss(y, t, sample_weight=sample_weight), x).ok
    assert gradcheck(lambda t: getattr(losses, loss.name)(y, t, **kwargs), x).ok   # per-sample vector


@pytest.mark.parametrize("name, cls, kwargs, y, x, torch_fn", CASES, ids=IDS)
@pytest.mark.parametrize("sample_weight", [None, WEIGHTS], ids=["unweighted", "weighted"])
def test_matches_torch_autograd(name, cls, kwargs, y, x, torch_fn, sample_weight):
    t = Tensor(x, requires_grad=True, dtype="float64")
    value = cls(**kwargs)(y, t, sample_weight=sample_weight)
    value.backward()
    xt = torch.tensor(x, requires_grad=True)
    per_sample = torch_fn(torch.tensor(y), xt)
    w = torch.ones(N, dtype=torch.float64) if sample_weight is None else torch.tensor(sample_weight)
    expected = (per_sample * w).sum() / N                    # "sum_over_batch_size"
    expected.backward()
    np.testing.assert_allclose(float(value.data), expected.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad, xt.grad.numpy(), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name, cls, kwargs, y, x, torch_fn", CASES, ids=IDS)
def test_float32_preserved_and_arrays_in_arrays_out(name, cls, kwargs, y, x, torch_fn):
    x32 = x.astype("float32")
    per_sample = getattr(losses, cls().name)(y, x32, **kwargs)
    assert isinstance(per_sample, np.ndarray) and per_sample.dtype == np.float32 and per_sample.shape == (N,)
    scalar = cls(**kwargs)(y, x32)
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar.dtype == np.float32
    t = Tensor(x32, requires_grad=True)
    out = cls(**kwargs)(y, t, sample_weight=WEIGHTS)
    assert isinstance(out, Tensor) and out.dtype == np.float32
    out.backward()
    assert t.grad.dtype == np.float32 and t.grad.shape == x.shape


# -- fusion: softmax/sigmoid outputs are computed from their logits -----------------------------------
def _unfused(p):
    return p * 1.0                                           # a plain mul: no ._logits, no fusion


@pytest.mark.parametrize("loss, activation, y", [
    (losses.CategoricalCrossentropy(), softmax, ONE_HOT),
    (losses.SparseCategoricalCrossentropy(), softmax, LABELS),
    (losses.BinaryCrossentropy(), sigmoid, ONE_HOT),
], ids=["softmax+cce", "softmax+sparse", "sigmoid+bce"])
def test_fused_gradient_equals_composite_where_not_clipped(loss, activation, y):
    z = RNG.normal(0, 1.5, (N, K))
    fused_z = Tensor(z, requires_grad=True, dtype="float64")
    out = activation(fused_z)
    fused = loss(y, out, sample_weight=WEIGHTS)
    assert fused._parents[0]._parents[0] is not out          # the gradient bypasses the activation node
    fused.backward()
    plain_z = Tensor(z, requires_grad=True, dtype="float64")
    plain = loss(y, _unfused(activation(plain_z)), sample_weight=WEIGHTS)
    plain.backward()
    np.testing.assert_allclose(fused.data, plain.data, rtol=1e-10)
    np.testing.assert_allclose(fused_z.grad, plain_z.grad, rtol=1e-7, atol=1e-12)
    assert gradcheck(lambda t: loss(y, activation(t), sample_weight=WEIGHTS), z).ok
    assert gradcheck(lambda t: loss.call(y, activation(t)), z).ok     # per sample, random upstream g


def test_fused_gradient_is_p_minus_y_even_when_saturated():
    z = Tensor(np.array([[60.0, -60.0, 0.0]]), requires_grad=True, dtype="float64")
    losses.categorical_crossentropy(np.array([[0.0, 1.0, 0.0]]), softmax(z)).sum().backward()
    p = softmax(z.data)
    np.testing.assert_allclose(z.grad, p - [[0, 1, 0]], atol=1e-12)   # clipping would give 0 here
    s = Tensor(np.array([[-40.0]]), requires_grad=True, dtype="float64")
    losses.binary_crossentropy(np.array([[1.0]]), sigmoid(s)).sum().backward()
    np.testing.assert_allclose(s.grad, sigmoid(s.data) - 1, atol=1e-12)


def test_any_activation_logits_fuse_with_any_cross_entropy_as_in_keras():
    """Keras 3 (``_get_logits``) swaps in ``_keras_logits`` whatever activation set them."""
    z = RNG.normal(0, 2, (N, K))
    p_soft = softmax(Tensor(z, dtype="float64"))
    np.testing.assert_allclose(losses.binary_crossentropy(ONE_HOT, p_soft).data,
                               losses.binary_crossentropy(ONE_HOT, z, from_logits=True), rtol=1e-12)
    p_sig = sigmoid(Tensor(z, dtype="float64"))
    np.testing.assert_allclose(losses.categorical_crossentropy(ONE_HOT, p_sig).data,
                               losses.categorical_crossentropy(ONE_HOT, z, from_logits=True), rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, p_sig).data,
                               losses.sparse_categorical_crossentropy(LABELS, z, from_logits=True), rtol=1e-12)
    # and it is not what the probabilities alone would give
    assert not np.allclose(losses.sparse_categorical_crossentropy(LABELS, p_sig).data,
                           losses.sparse_categorical_crossentropy(LABELS, p_sig.data))


def test_softmax_over_another_axis_does_not_fuse():
    z = RNG.normal(0, 2, (N, K))
    p = softmax(Tensor(z, dtype="float64"), axis=0)
    expected = losses.categorical_crossentropy(ONE_HOT, p.data)
    np.testing.assert_allclose(losses.categorical_crossentropy(ONE_HOT, p).data, expected, rtol=1e-12)
    expected = losses.sparse_categorical_crossentropy(LABELS, p.data)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, p).data, expected, rtol=1e-12)


def test_from_logits_true_on_a_softmax_output_warns_and_computes_what_was_asked():
    z = RNG.normal(0, 2, (N, K))
    p = softmax(Tensor(z))
    with pytest.warns(UserWarning, match="from_logits=True.*softmax.*Was this intended"):
        out = losses.CategoricalCrossentropy(from_logits=True)(ONE_HOT, p)
    expected = losses.CategoricalCrossentropy(from_logits=True)(ONE_HOT, p.data)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    with pytest.warns(UserWarning, match="binary_crossentropy.*sigmoid activation"):
        losses.binary_crossentropy(BIN01, sigmoid(Tensor(z[:, :3])), from_logits=True)


def test_logits_with_from_logits_false_raise():
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*from_logits=True"):
        losses.binary_crossentropy([[1.0]], np.array([[3.2]]))
    with pytest.raises(ValueError, match="look like logits"):
        losses.SparseCategoricalCrossentropy()([0], np.array([[-1.0, 2.0]]))
    with pytest.raises(ValueError, match="has negative values.*from_logits=True"):
        losses.categorical_crossentropy([[0, 1]], np.array([[-1.0, 2.0]]))


# -- shapes, reductions, names --------------------------------------------------------------------
def test_label_axis_of_size_1_and_rank_1_targets():
    p = np.array([[0.2], [0.9]])
    np.testing.assert_allclose(losses.binary_crossentropy([0.0, 1.0], p),
                               losses.binary_crossentropy([[0.0], [1.0]], p))
    assert losses.mean_squared_error([1.0, 2.0], np.array([[1.0], [4.0]])).tolist() == [0.0, 4.0]
    assert losses.mean_squared_error([[1.0], [2.0]], np.array([1.0, 4.0])).tolist() == [0.0, 4.0]
    q = probs((2, 3))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([[2], [0]], q),
                               losses.sparse_categorical_crossentropy([2, 0], q))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([2.0, 0.0], q),
                               losses.sparse_categorical_crossentropy([2, 0], q))
    t = Tensor(np.array([1.0, 4.0]), requires_grad=True)
    losses.MeanSquaredError()([[1.0], [2.0]], t).backward()
    assert t.grad.shape == (2,) and t.grad.tolist() == [0.0, 2.0]     # d/dp (p − y)²/2 = (p − y)


def test_reductions_and_sample_weight_shapes():
    y, p = np.zeros((4, 1)), np.array([[1.0], [2.0], [3.0], [4.0]])   # per-sample 1, 4, 9, 16
    w = np.array([1.0, 0.0, 1.0, 0.0])
    assert float(losses.MeanSquaredError()(y, p)) == pytest.approx(7.5)
    assert float(losses.MeanSquaredError()(y, p, sample_weight=w)) == pytest.approx(10 / 4)
    assert float(losses.MeanSquaredError()(y, p, sample_weight=w[:, None])) == pytest.approx(10 / 4)
    assert float(losses.MeanSquaredError(reduction="sum")(y, p, sample_weight=w)) == 10.0
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(y, p, sample_weight=w), [1, 0, 9, 0])
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(y, p), [1, 4, 9, 16])
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`.*Received: reduction='avg'"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*Expected one weight per sample"):
        losses.MeanSquaredError()(y, p, sample_weight=[1.0, 2.0, 3.0])


def test_shape_mismatch_errors_name_the_fix():
    with pytest.raises(ValueError, match="same shape.*sparse_categorical_crossentropy"):
        losses.categorical_crossentropy([1, 2], probs((2, 3)))
    with pytest.raises(ValueError, match=r"got \(2, 3\).*categorical_crossentropy, or convert them with y.argmax"):
        losses.sparse_categorical_crossentropy(np.eye(3)[[1, 2]], probs((2, 3)))
    with pytest.raises(ValueError, match=r"label 3 out of range \[0, 3\)"):
        losses.sparse_categorical_crossentropy([1, 3], probs((2, 3)))
    with pytest.raises(ValueError, match="only supports the last axis"):
        losses.sparse_categorical_crossentropy([1, 2], probs((2, 3)), axis=0)


def test_names_get_serialize():
    assert [losses.get(n).name for n in ("mse", "MAE", "bce", "categorical_crossentropy")] == [
        "mean_squared_error", "mean_absolute_error", "binary_crossentropy", "categorical_crossentropy"]
    assert isinstance(losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get(losses.mean_absolute_error), losses.MeanAbsoluteError)
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    assert loss.get_config() == {"name": "binary_crossentropy", "reduction": "sum_over_batch_size",
                                 "from_logits": True}
    config = losses.serialize(loss)
    assert config["class_name"] == "BinaryCrossentropy" and set(config) == {
        "module", "class_name", "config", "registered_name"}
    again = losses.deserialize(config)
    assert isinstance(again, losses.BinaryCrossentropy) and again.from_logits
    custom = losses.get(lambda y, p: (p - y) ** 2)
    assert isinstance(custom, losses.Loss)
    assert float(custom(np.zeros(2), np.array([1.0, 3.0]))) == 5.0
    with pytest.raises(ValueError, match="Unknown loss: 'categorical_crossentropi'.*Did you mean 'categorical_crossentropy'"):
        losses.get("categorical_crossentropy"[:-1] + "i")
    with pytest.raises(ValueError, match="Unknown loss: 'crossentropy'.*Expected one of.*'mse'"):
        losses.get("crossentropy")
    with pytest.raises(ValueError, match="Unknown loss class 'os.system'"):
        losses.deserialize({"class_name": "os.system", "config": {}})


# -- validate_targets: bad targets are refused before training -------------------------------------
def test_validate_one_hot_with_sparse_loss():
    with pytest.raises(ValueError, match=r"expects integer labels of shape \(N,\) or \(N, 1\); got \(6, 10\)"
                                         r".*use categorical_crossentropy or y.argmax\(-1\)"):
        losses.validate_targets("sparse_categorical_crossentropy", np.eye(10)[:6], (None, 10))


def test_validate_integer_labels_with_categorical_loss():
    with pytest.raises(ValueError, match=r"expects one-hot targets of shape \(N, 10\).*shape \(6,\)"
                                         r".*sparse_categorical_crossentropy.*to_categorical"):
        losses.validate_targets("categorical_crossentropy", np.arange(6), (None, 10))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.validate_targets(losses.CategoricalCrossentropy(), np.arange(6)[:, None], (None, 10))


@pytest.mark.parametrize("bad, match", [(10, r"label 10 out of range \[0, 10\)"),
                                        (-1, r"label -1 out of range \[0, 10\)")])
def test_validate_labels_out_of_range(bad, match):
    with pytest.raises(ValueError, match=match):
        losses.validate_targets("sparse_categorical_crossentropy", np.array([0, 3, bad]), (None, 10))


def test_validate_non_integral_and_string_labels():
    losses.validate_targets("sparse_categorical_crossentropy", np.array([0.0, 1.0, 2.0]), (None, 10))
    with pytest.raises(ValueError, match="integral class labels.*2.5"):
        losses.validate_targets("sparse_categorical_crossentropy", np.array([0.0, 1.0, 2.5]), (None, 10))
    with pytest.raises(TypeError, match=r"numeric.*'cat'.*np.unique\(y, return_inverse=True\)"):
        losses.validate_targets("sparse_categorical_crossentropy", np.array(["cat", "dog"]), (None, 2))
    with pytest.raises(TypeError, match="return_inverse=True"):
        losses.validate_targets("mse", ["cat", "dog"], (None, 1))


def test_validate_bce_targets_outside_0_1():
    losses.validate_targets("binary_crossentropy", np.array([0, 1, 1]), (None, 1))
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]; y contains 2.*softmax.*sparse_categorical"):
        losses.validate_targets("binary_crossentropy", np.array([0, 1, 2]), (None, 1))


def test_validate_nan_and_inf_in_regression_targets():
    y = np.zeros((20, 1))
    y[12, 0] = y[15, 0] = np.nan
    with pytest.raises(ValueError, match=r"y contains 2 NaN values \(first at index \(12, 0\)\)"):
        losses.validate_targets("mse", y, (None, 1))
    with pytest.raises(ValueError, match=r"y contains 1 Inf values \(first at index \(3,\)\)"):
        losses.validate_targets("mae", np.array([0.0, 1.0, 2.0, np.inf]), (None, 1))


def test_validate_shapes():
    losses.validate_targets("mse", np.zeros(5), (None, 1))
    losses.validate_targets("mse", np.zeros((5, 3)), (None, 3))
    losses.validate_targets("sparse_categorical_crossentropy", np.zeros((5, 1)), (None, 10))
    losses.validate_targets("categorical_crossentropy", np.eye(10)[:5], (None, 10))
    with pytest.raises(ValueError, match=r"y of shape \(5, 3\) does not fit the model output shape \(None, 10\)"):
        losses.validate_targets("mse", np.zeros((5, 3)), (None, 10))
    with pytest.raises(ValueError, match=r"y of shape \(5, 4\) does not fit.*\(None, 10\)"):
        losses.validate_targets("categorical_crossentropy", np.zeros((5, 4)), (None, 10))
    with pytest.raises(ValueError, match=r"y of shape \(5, 2, 2\) does not fit"):
        losses.validate_targets("sparse_categorical_crossentropy", np.zeros((5, 2, 2)), (None, 10))
    losses.validate_targets(lambda y, p: (y - p) ** 2, np.zeros((5, 7)), (None, 10))   # custom: no shape rule
