"""Layers: shapes, weights, config round trip, Keras's worked examples, bad arguments, gradients."""
import numpy as np
import pytest

from glassnet import layers, ops, utils
from glassnet.engine import Tensor


def run_layer_test(layer_cls, init_kwargs, input_shape, expected_output_shape, expected_num_trainable_weights=0,
                   expected_weight_shapes=None, training=False):
    """Keras's run_layer_test in small: build, call on arrays and Tensors, shapes, weights, config."""
    layer = layer_cls(**init_kwargs)
    x = np.random.default_rng(0).standard_normal(input_shape).astype("float32")
    y = layer(x, training=training)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert y.shape == expected_output_shape
    assert layer.built
    assert layer.compute_output_shape((None,) + input_shape[1:]) == (None,) + expected_output_shape[1:]
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_weight_shapes is not None:
        assert {w.name: w.shape for w in layer.weights} == expected_weight_shapes
    assert layer.count_params() == sum(int(np.prod(s)) for s in (expected_weight_shapes or {}).values())
    yt = layer(Tensor(x), training=training)
    assert isinstance(yt, Tensor) and yt.shape == expected_output_shape
    # config round trip: same config, and with the same weights the same outputs
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    if not training:
        np.testing.assert_array_equal(clone(x), y)
    return layer


def test_dense_run_layer_test():
    run_layer_test(layers.Dense, {"units": 5}, (2, 3), (2, 5), 2, {"kernel": (3, 5), "bias": (5,)})
    run_layer_test(layers.Dense, {"units": 5, "use_bias": False, "activation": "relu"}, (2, 3), (2, 5), 1,
                   {"kernel": (3, 5)})


def test_dense_nd_input_applies_on_last_axis():
    run_layer_test(layers.Dense, {"units": 4}, (2, 3, 7), (2, 3, 4), 2, {"kernel": (7, 4), "bias": (4,)})


def test_weightless_layers_run_layer_test():
    run_layer_test(layers.Activation, {"activation": "tanh"}, (2, 3), (2, 3))
    run_layer_test(layers.Flatten, {}, (2, 3, 4, 5), (2, 60))
    run_layer_test(layers.Dropout, {"rate": 0.5}, (2, 3), (2, 3))
    run_layer_test(layers.Dropout, {"rate": 0.5, "seed": 3}, (4, 6), (4, 6), training=True)
    run_layer_test(layers.ReLU, {"max_value": 1.0}, (2, 3), (2, 3))
    run_layer_test(layers.LeakyReLU, {}, (2, 3), (2, 3))
    run_layer_test(layers.Softmax, {}, (2, 3), (2, 3))


def test_dense_correctness_keras_example():
    # keras dense_test.py: test_dense_correctness
    layer = layers.Dense(2)
    layer.build((None, 2))
    layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]]), np.array([5.0, -6.0])])
    y = layer(np.array([[10.0, 0.0]]))        # [10, 0] @ [[1, -2], [3, -4]] + [5, -6] = [15, -26]
    np.testing.assert_array_equal(y, [[15.0, -26.0]])
    assert y.dtype == np.float32


def test_dense_activation_applied_and_default_initializers():
    layer = layers.Dense(4, activation="relu")
    x = np.random.default_rng(1).standard_normal((8, 3))
    y = layer(x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, np.maximum(x.astype("float32") @ kernel + bias, 0), rtol=1e-6)
    np.testing.assert_array_equal(bias, np.zeros(4))
    assert np.abs(kernel).max() <= np.sqrt(6 / (3 + 4))
    assert layer.get_config()["activation"] == "relu"


def test_auto_names_are_unique_per_class():
    layers.reset_names()
    names = [layers.Dense(1).name, layers.Dense(1).name, layers.Flatten().name, layers.Dense(1).name]
    assert names == ["dense", "dense_1", "flatten", "dense_2"]
    assert layers.InputLayer(shape=(3,)).name == "input_layer"
    assert layers.Dense(1, name="out").name == "out"


def test_input_shape_keywords():
    assert layers.Dense(10, input_shape=(784,))._input_shape_arg == (None, 784)
    assert layers.Dense(10, input_dim=784)._input_shape_arg == (None, 784)
    assert layers.Dense(10, batch_input_shape=(None, 784))._input_shape_arg == (None, 784)
    assert layers.Dense(10)._input_shape_arg is None
    cfg = layers.Dense(10, input_shape=(784,)).get_config()
    assert layers.Dense.from_config(cfg)._input_shape_arg == (None, 784)


def test_input_function_and_input_layer():
    inp = layers.Input(shape=(784,))
    assert isinstance(inp, layers.InputLayer)
    assert inp.shape == (None, 784) and inp._input_shape_arg == (None, 784)
    assert inp.built and inp.weights == []
    x = np.ones((2, 784), dtype="float32")
    np.testing.assert_array_equal(inp(x), x)
    with pytest.raises(ValueError, match="expected samples of shape"):
        inp(np.ones((2, 28, 28)))
    assert layers.InputLayer.from_config(inp.get_config()).shape == (None, 784)
    with pytest.raises(ValueError, match="shape"):
        layers.Input()


def test_array_in_array_out_tensor_in_tensor_out():
    layer = layers.Dense(2)
    assert isinstance(layer([[1.0, 2.0, 3.0]]), np.ndarray)               # a list works too
    out = layer(np.arange(3, dtype="uint8")[None])                        # ints are cast to float32
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    t = layer(Tensor(np.ones((1, 3)), requires_grad=True))
    assert isinstance(t, Tensor) and t.requires_grad


def test_wrong_last_dimension_message_suggests_flatten():
    layer = layers.Dense(10, input_shape=(784,))
    layer.maybe_build(layer._input_shape_arg)
    with pytest.raises(ValueError, match=r"Dense expected last dimension 784, got input of shape "
                                         r"\(None, 28, 28\); add Flatten\(\) or reshape x"):
        layer(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        layers.Dense(3)(np.zeros(5))


def test_flatten_shapes():
    f = layers.Flatten()
    assert f(np.zeros((4, 28, 28))).shape == (4, 784)
    assert f(np.zeros((4, 5))).shape == (4, 5)
    assert f.compute_output_shape((None, 28, 28)) == (None, 784)
    assert f.compute_output_shape((None, None, 3)) == (None, None)
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(f(x), x.reshape(2, 12))                 # row-major, as Keras


def test_dropout_identity_at_inference_and_statistics_in_training():
    layer = layers.Dropout(0.3)
    x = np.ones((200, 500), dtype="float32")
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01                                  # P(keep) = 1 - rate
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)               # survivors scaled by 1/(1-rate)
    assert abs(y.mean() - 1.0) < 0.02                                     # E[y] = x
    assert y.dtype == np.float32


def test_dropout_gradient_is_the_mask_and_noise_shape_broadcasts():
    layer = layers.Dropout(0.5, noise_shape=(None, 1))
    x = Tensor(np.ones((6, 4)), requires_grad=True)
    y = layer(x, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)                         # dy/dx = mask / (1 - rate), x = 1
    assert np.all(y.data == y.data[:, :1])                                # one mask value per row


def test_dropout_seed_repeats_and_global_seed_controls_default():
    a = layers.Dropout(0.5, seed=7)(np.ones((10, 10)), training=True)
    b = layers.Dropout(0.5, seed=7)(np.ones((10, 10)), training=True)
    np.testing.assert_array_equal(a, b)
    utils.set_random_seed(11)
    c = layers.Dropout(0.5)(np.ones((10, 10)), training=True)
    utils.set_random_seed(11)
    d = layers.Dropout(0.5)(np.ones((10, 10)), training=True)
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, layers.Dropout(0.5)(np.ones((10, 10)), training=True))


@pytest.mark.parametrize("make, exc, words", [
    (lambda: layers.Dense(0), ValueError, "positive integer"),
    (lambda: layers.Dense(-5), ValueError, "units=-5"),
    (lambda: layers.Dense(True), TypeError, "positive int"),
    (lambda: layers.Dense(2.5), TypeError, "units=2.5"),
    (lambda: layers.Dense(3, activation="rellu"), ValueError, "did you mean 'relu'"),
    (lambda: layers.Dense(3, kernel_initializer="glorot"), ValueError, "did you mean 'glorot_normal'"),
    (lambda: layers.Dense(3, foo=1), TypeError, "'foo'"),
    (lambda: layers.Dense(3, input_shape=(0,)), ValueError, "input_shape"),
    (lambda: layers.Dropout(1.0), ValueError, r"\[0, 1\)"),
    (lambda: layers.Dropout(-0.1), ValueError, "rate=-0.1"),
    (lambda: layers.Dropout("0.5"), TypeError, "rate"),
    (lambda: layers.Flatten(data_format="channels_first"), ValueError, "channels_last"),
])
def test_bad_constructor_arguments(make, exc, words):
    with pytest.raises(exc, match=f"(?i){words}"):
        make()


def test_set_weights_checks_count_and_shapes():
    layer = layers.Dense(3)
    layer.build((None, 2))
    with pytest.raises(ValueError, match=r"'dense.*' expects 2 weight arrays .*kernel \(2, 3\).*received 1"):
        layer.set_weights([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"weight 'kernel' has shape \(2, 3\), received an array of shape \(3, 2\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    kernel = layer.kernel.data
    layer.set_weights([np.ones((2, 3)), np.ones(3)])
    assert layer.kernel.data is kernel and kernel.dtype == np.float32     # copied in place
    w = layer.get_weights()
    w[0][...] = 5                                                          # get_weights returns copies
    assert layer.kernel.data[0, 0] == 1


def test_count_params_requires_build():
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(3).count_params()


def test_trainable_false_freezes_weights():
    layer = layers.Dense(3)
    layer.build((None, 2))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert not layer.kernel.requires_grad
    assert layers.Dense.from_config(layer.get_config()).trainable is False


def test_custom_layer_without_training_argument():
    class Double(layers.Layer):
        def call(self, x):
            return x * 2.0
    np.testing.assert_array_equal(Double()(np.ones((1, 2)), training=True), [[2.0, 2.0]])


def test_dense_gradients_match_torch_linear():
    torch = pytest.importorskip("torch")
    layer = layers.Dense(4, dtype="float64")
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((5, 3))
    g_np = rng.standard_normal((5, 4))
    x = Tensor(x_np, requires_grad=True, dtype="float64")
    layer(x).backward(g_np)
    xt = torch.tensor(x_np, requires_grad=True)
    wt = torch.tensor(layer.kernel.data.T.copy(), requires_grad=True)     # torch weight is (U, D)
    bt = torch.tensor(layer.bias.data.copy(), requires_grad=True)
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(g_np))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, wt.grad.numpy().T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


def _finite_difference(f, arr, eps=1e-6):
    grad = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + eps
        plus = f()
        arr[i] = old - eps
        minus = f()
        arr[i] = old
        grad[i] = (plus - minus) / (2 * eps)                  # (f(x+h) - f(x-h)) / 2h
    return grad


@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh", "softmax"])
def test_dense_gradients_match_finite_differences_float64(activation):
    layer = layers.Dense(3, activation=activation, dtype="float64")
    rng = np.random.default_rng(4)
    x_np = rng.standard_normal((4, 2, 5))                      # N-d input: kernel on the last axis
    layer.build((None, 2, 5))
    weights = rng.standard_normal((3,))                        # a fixed projection makes a scalar loss

    def loss_value():
        return float((layer(x_np) * weights).sum())

    x = Tensor(x_np, requires_grad=True, dtype="float64")
    ops.sum(ops.mul(layer(x), weights)).backward()
    for arr, grad in [(x_np, x.grad), (layer.kernel.data, layer.kernel.grad), (layer.bias.data, layer.bias.grad)]:
        np.testing.assert_allclose(grad, _finite_difference(loss_value, arr), rtol=1e-5, atol=1e-7)


def test_layers_keep_float32():
    x = np.random.default_rng(5).standard_normal((3, 4)).astype("float32")
    for layer in [layers.Dense(2, activation="sigmoid"), layers.ReLU(), layers.LeakyReLU(), layers.Softmax(),
                  layers.Activation("relu"), layers.Flatten()]:
        assert layer(Tensor(x)).dtype == np.float32, layer
    assert layers.Dropout(0.5)(Tensor(x), training=True).dtype == np.float32


def test_relu_family_values():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    np.testing.assert_allclose(layers.LeakyReLU()(x), [[-0.6, -0.15, 0.0, 0.5, 3.0]], rtol=1e-6)
    np.testing.assert_allclose(layers.ReLU(max_value=1.0)(x), [[0, 0, 0, 0.5, 1.0]])
    np.testing.assert_allclose(layers.ReLU(negative_slope=0.1, threshold=1.0)(x),
                               [[-0.3, -0.15, -0.1, -0.05, 3.0]], rtol=1e-6)
    s = layers.Softmax()(x)
    np.testing.assert_allclose(s.sum(axis=-1), [1.0], rtol=1e-6)
