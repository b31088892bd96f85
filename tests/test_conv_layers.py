"""Conv2D, pooling and BatchNormalization layers: Keras shapes, counts, errors, PyTorch, training."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import gradcheck, layers
from glassnet.engine import Tensor
from glassnet.layers import (AveragePooling2D, BatchNormalization, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
                             GlobalMaxPooling2D, MaxPooling2D)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def cifar_cnn():
    """The tutorial's CIFAR-10 CNN."""
    return gn.Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])


# -- shapes and parameter counts (as Keras's summary) ------------------------------------------------
def test_cifar_cnn_shapes_and_parameters():
    model = cifar_cnn()
    assert model._shapes == [(None, 30, 30, 32), (None, 15, 15, 32), (None, 13, 13, 64), (None, 6, 6, 64),
                             (None, 2304), (None, 64), (None, 10)]
    # 3·3·3·32 + 32 = 896;  3·3·32·64 + 64 = 18,496;  2304·64 + 64 = 147,520;  64·10 + 10 = 650
    assert [layer.count_params() for layer in model.layers] == [896, 0, 18496, 0, 0, 147520, 650]
    assert model.count_params() == 167562
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 167,562 (654.54 KB)" in lines
    assert model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0).shape == (2, 10)


def test_conv2d_weights_have_keras_names_and_shapes():
    layer = Conv2D(8, 3, input_shape=(9, 9, 2))
    layer.build((None, 9, 9, 2))
    assert [(w.name, w.shape) for w in layer.weights] == [("kernel", (3, 3, 2, 8)), ("bias", (8,))]
    limit = np.sqrt(6 / (3 * 3 * 2 + 3 * 3 * 8))              # glorot_uniform: fan_in KH·KW·C, fan_out KH·KW·F
    assert np.abs(layer.kernel.data).max() <= limit and np.all(layer.bias.data == 0)
    assert layer.kernel.dtype == np.float32
    assert len(Conv2D(8, 3, use_bias=False)(np.zeros((1, 5, 5, 2))).shape) == 4


@pytest.mark.parametrize("kwargs, in_shape, out_shape", [
    (dict(filters=4, kernel_size=3), (None, 28, 28, 1), (None, 26, 26, 4)),
    (dict(filters=4, kernel_size=3, padding="same"), (None, 28, 28, 1), (None, 28, 28, 4)),
    (dict(filters=4, kernel_size=(3, 5), strides=2), (None, 15, 15, 3), (None, 7, 6, 4)),
    (dict(filters=4, kernel_size=3, strides=2, padding="SAME"), (None, 15, 16, 3), (None, 8, 8, 4)),
])
def test_conv2d_output_shapes(kwargs, in_shape, out_shape):
    layer = Conv2D(**kwargs)
    assert layer.compute_output_shape(in_shape) == out_shape
    y = layer(np.zeros((1,) + in_shape[1:], np.float32))
    assert y.shape == (1,) + out_shape[1:] and y.dtype == np.float32


@pytest.mark.parametrize("layer, in_shape, out_shape", [
    (MaxPooling2D(), (None, 13, 13, 64), (None, 6, 6, 64)),
    (MaxPooling2D(padding="same"), (None, 13, 13, 64), (None, 7, 7, 64)),
    (MaxPooling2D(3, strides=1), (None, 5, 6, 2), (None, 3, 4, 2)),
    (AveragePooling2D((2, 3)), (None, 8, 9, 2), (None, 4, 3, 2)),
    (GlobalAveragePooling2D(), (None, 5, 6, 7), (None, 7)),
    (GlobalMaxPooling2D(keepdims=True), (None, 5, 6, 7), (None, 1, 1, 7)),
])
def test_pooling_output_shapes(layer, in_shape, out_shape):
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer(np.zeros((2,) + in_shape[1:])).shape == (2,) + out_shape[1:]


def test_max_pooling_strides_default_to_pool_size():
    assert MaxPooling2D((3, 3)).strides == (3, 3) and MaxPooling2D().pool_size == (2, 2)
    assert MaxPooling2D().padding == "valid"


def test_global_pooling_values():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(GlobalAveragePooling2D()(x), x.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(GlobalMaxPooling2D()(x), x.max(axis=(1, 2)))
    gradcheck(lambda t: GlobalAveragePooling2D()(t), x.astype(np.float64))
    gradcheck(lambda t: GlobalMaxPooling2D()(t), x.astype(np.float64))


def test_flatten_of_images_is_channels_last_order():
    x = np.arange(2 * 3 * 2 * 4, dtype=np.float32).reshape(2, 3, 2, 4)      # (N, H, W, C)
    np.testing.assert_array_equal(Flatten()(x), x.reshape(2, -1))           # Keras: C fastest, then W, then H


# -- bad inputs 28–30 --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=0, kernel_size=3), "filters"),
    (dict(filters=8, kernel_size=0), "kernel_size"),
    (dict(filters=8, kernel_size=(3, -1)), "kernel_size"),
    (dict(filters=8, kernel_size=3, strides=0), "strides"),
    (dict(filters=8, kernel_size=3, padding="vaild"), "expected one of 'valid', 'same'.*Did you mean 'valid'"),
    (dict(filters=8, kernel_size=3, data_format="channels_first"), "channels_last"),
])
def test_conv2d_construction_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs)


def test_pooling_construction_errors():
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling2D(0)
    with pytest.raises(ValueError, match="padding"):
        AveragePooling2D(padding="full")


def test_conv2d_on_images_without_a_channel_axis():
    model = gn.Sequential([Conv2D(8, 3)])
    with pytest.raises(ValueError, match=r"expected input of shape \(N, H, W, C\).*x\[\.\.\., None\]"):
        model.build((None, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        MaxPooling2D()(np.zeros((1, 28, 28)))


def test_conv2d_on_channels_first_images():
    with pytest.raises(ValueError, match=r"channels-first.*transpose\(0, 2, 3, 1\)"):
        Conv2D(8, 3)(np.zeros((2, 3, 32, 32)))
    layer = Conv2D(8, 3)
    layer(np.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match=r"expected 3 input channels.*transpose\(0, 2, 3, 1\)"):
        layer(np.zeros((1, 32, 32, 4)))


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match="output spatial size would be 0"):
        gn.Sequential([Conv2D(4, 5, input_shape=(3, 3, 1))])
    with pytest.raises(ValueError, match="output spatial size would be 0"):
        MaxPooling2D(4)(np.zeros((1, 3, 8, 1)))
    assert Conv2D(4, 5, padding="same")(np.zeros((1, 3, 3, 1))).shape == (1, 3, 3, 4)


# -- config round trip ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [
    Conv2D(6, (3, 2), strides=(2, 1), padding="same", activation="relu", use_bias=False),
    MaxPooling2D((3, 3), strides=2, padding="same"), AveragePooling2D(), GlobalAveragePooling2D(keepdims=True),
    GlobalMaxPooling2D(), BatchNormalization(momentum=0.9, epsilon=1e-5, center=False),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config({**config, "name": config["name"] + "_clone"})
    assert {**clone.get_config(), "name": config["name"]} == config


# -- BatchNormalization ----------------------------------------------------------------------------------
def test_batch_norm_weights_in_keras_order():
    layer = BatchNormalization()
    layer.build((None, 4, 4, 3))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert layer.count_params() == 12
    model = gn.Sequential([Dense(4, input_shape=(3,)), BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    assert " Non-trainable params: 8 (32.00 B)" in lines          # moving_mean, moving_variance


def test_batch_norm_training_uses_batch_statistics_and_updates_moving_ones():
    x = np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)    # means (2, 20), biased variances (1, 100)
    layer = BatchNormalization(momentum=0.9)
    y = layer(Tensor(x), training=True).data
    np.testing.assert_allclose(y, [[-1, -1], [1, 1]] / np.sqrt(1 + np.array([1e-3, 1e-5])), rtol=1e-6)
    np.testing.assert_allclose(layer.moving_mean.data, [0.1 * 2, 0.1 * 20], rtol=1e-6)        # 0.9·0 + 0.1·mean
    np.testing.assert_allclose(layer.moving_variance.data, [0.9 + 0.1 * 1, 0.9 + 0.1 * 100], rtol=1e-6)
    inference = layer(x)                                                                      # moving statistics
    np.testing.assert_allclose(inference, (x - layer.moving_mean.data) / np.sqrt(layer.moving_variance.data + 1e-3),
                               rtol=1e-6)
    before = layer.moving_mean.data.copy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.moving_mean.data, before)


def test_frozen_batch_norm_runs_in_inference_mode():
    layer = BatchNormalization(trainable=False)
    x = np.array([[1.0], [3.0]], dtype=np.float32)
    np.testing.assert_allclose(layer(Tensor(x), training=True).data, x / np.sqrt(1.001), rtol=1e-6)
    assert np.all(layer.moving_mean.data == 0)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training):
    rng = np.random.default_rng(1)
    layer = BatchNormalization(dtype="float64")
    layer.build((None, 3, 2, 4))
    layer.set_weights([rng.random(4) + 0.5, rng.standard_normal(4), rng.standard_normal(4), rng.random(4) + 0.5])
    layer.momentum = 1.0                     # keep the moving statistics fixed while differencing
    gradcheck(lambda x, gamma, beta: _bn_with(layer, x, gamma, beta, training),
              rng.standard_normal((3, 3, 2, 4)), layer.gamma.data, layer.beta.data)


def _bn_with(layer, x, gamma, beta, training):
    layer.gamma, layer.beta = gamma, beta
    return layer.call(x, training=training)


@needs_torch
def test_batch_norm_matches_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5, 3, 6)).astype(np.float32) * 3 + 1
    gamma, beta = rng.random(6).astype(np.float32) + 0.5, rng.standard_normal(6).astype(np.float32)
    layer = BatchNormalization()
    layer.build((None, 5, 3, 6))
    layer.set_weights([gamma, beta, np.zeros(6), np.ones(6)])
    xt = Tensor(x, requires_grad=True)
    out = layer(xt, training=True)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)

    x_t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    w_t, b_t = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    rm, rv = torch.zeros(6), torch.ones(6)
    ref = F.batch_norm(x_t, rm, rv, w_t, b_t, training=True, momentum=1 - 0.99, eps=1e-3)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(xt.grad, x_t.grad.numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(layer.gamma.grad, w_t.grad.numpy(), **tol)
    np.testing.assert_allclose(layer.beta.grad, b_t.grad.numpy(), **tol)
    np.testing.assert_allclose(layer.moving_mean.data, rm.numpy(), **tol)
    m = x.shape[0] * x.shape[1] * x.shape[2]                   # PyTorch's running_var uses the unbiased variance
    np.testing.assert_allclose(1 + (layer.moving_variance.data - 1) * m / (m - 1), rv.numpy(), **tol)
    # inference: both use the moving statistics
    layer.set_weights([gamma, beta, rm.numpy(), rv.numpy()])
    ref = F.batch_norm(x_t, rm, rv, w_t, b_t, training=False, eps=1e-3)
    np.testing.assert_allclose(layer(x), ref.detach().numpy().transpose(0, 2, 3, 1), **tol)


# -- whole layers: float64 gradcheck, PyTorch, training ------------------------------------------------------
def test_conv2d_layer_gradcheck_float64():
    layer = Conv2D(3, (3, 2), strides=2, padding="same", activation="tanh", dtype="float64")
    layer.build((None, 5, 4, 2))
    assert layer.kernel.dtype == np.float64
    x = np.random.default_rng(3).standard_normal((2, 5, 4, 2))

    def f(x, kernel, bias):
        layer.kernel, layer.bias = kernel, bias
        return layer.call(x)
    gradcheck(f, x, layer.kernel.data, layer.bias.data)


@needs_torch
def test_cifar_cnn_matches_torch():
    model = cifar_cnn()
    rng = np.random.default_rng(4)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    conv1, conv2 = model.layers[0], model.layers[2]
    with torch.no_grad():
        for t, layer in ((net[0], conv1), (net[3], conv2)):
            t.weight.copy_(torch.tensor(layer.kernel.data.transpose(3, 2, 0, 1)))
            t.bias.copy_(torch.tensor(layer.bias.data))
        ref = net(torch.tensor(x.transpose(0, 3, 1, 2))).permute(0, 2, 3, 1).reshape(2, -1).numpy()
    features = gn.Sequential(model.layers[:5])(x)                   # up to Flatten, channels-last order
    np.testing.assert_allclose(features, ref, rtol=1e-4, atol=1e-5)


def test_tiny_cnn_trains():
    rng = np.random.default_rng(5)
    x = rng.random((64, 8, 8, 1), dtype=np.float32) * 0.5
    y = rng.integers(0, 2, 64)
    x[y == 1, :4] += 0.5                 # class 1: a bright top half
    model = gn.Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(),
                           BatchNormalization(), GlobalAveragePooling2D(), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_layers_exported_with_keras_aliases():
    assert layers.MaxPool2D is MaxPooling2D and layers.AvgPool2D is AveragePooling2D
    assert layers.GlobalAvgPool2D is GlobalAveragePooling2D and layers.Convolution2D is Conv2D
