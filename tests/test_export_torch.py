"""PyTorch export and import: same outputs (NCHW on the PyTorch side), exact round trips, clear refusals."""
import numpy as np
import pytest

import glassnet
from glassnet import layers as L
from glassnet.export import from_torch, to_torch

from test_export_onnx import cifar_cnn, global_pools, mnist_cnn, mnist_mlp, randomize

torch = pytest.importorskip("torch", reason='needs the torch extra: pip install "glassnet[torch]"')
nn = torch.nn

TOL = 1e-5


def every_layer():
    """Every layer to_torch maps (average pooling only with even padding, which PyTorch can express)."""
    return glassnet.Sequential([
        L.Conv2D(4, (3, 2), strides=2, padding="same", use_bias=False, input_shape=(11, 9, 2)),
        L.BatchNormalization(), L.LeakyReLU(0.1),
        L.AveragePooling2D(3, strides=1, padding="same"),
        L.Conv2D(6, 3, padding="same", activation="tanh"),
        L.MaxPooling2D(3, strides=2, padding="same"), L.ReLU(max_value=1.5),
        L.Conv2D(5, 1, activation="leaky_relu"), L.Softmax(axis=-1),
        L.Flatten(), L.BatchNormalization(scale=False), L.Dropout(0.3), L.Dense(7, activation="sigmoid"),
        L.BatchNormalization(), L.Activation("relu"), L.Dense(3), L.Softmax()])


def torch_predict(module, x):
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy() if x.ndim == 4 else x)
    with torch.no_grad():
        return module(x).numpy()


MODELS = [(mnist_mlp, (28, 28)), (cifar_cnn, (32, 32, 3)), (mnist_cnn, (28, 28, 1)), (every_layer, (11, 9, 2)),
          (global_pools, (7, 6, 2))]


@pytest.mark.parametrize("build, shape", MODELS)
def test_to_torch_equals_predict(build, shape):
    model = randomize(build())
    x = np.random.default_rng(1).uniform(-1, 1, (6,) + shape).astype("float32")
    module = to_torch(model)
    assert isinstance(module, nn.Sequential) and not module.training
    np.testing.assert_allclose(torch_predict(module, x), model.predict(x, verbose=0), rtol=0, atol=TOL)


@pytest.mark.parametrize("build, shape", MODELS)
def test_round_trip_is_exact(build, shape):
    model = randomize(build())
    back = from_torch(to_torch(model), shape)
    assert back.input_shape == model.input_shape and back.output_shape == model.output_shape
    assert len(back.weights) == len(model.weights)
    for a, b in zip(model.get_weights(), back.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    x = np.random.default_rng(2).uniform(-1, 1, (4,) + shape).astype("float32")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_round_trip_keeps_the_layer_types():
    model = cifar_cnn()
    back = from_torch(to_torch(model), (32, 32, 3))
    def configs(m):
        return [{k: v for k, v in layer.get_config().items() if k not in ("name", "batch_input_shape")}
                for layer in m.layers]

    assert configs(back) == configs(model)


def test_layouts():
    """Linear.weight is the Dense kernel transposed; Conv2d.weight is (F, C, KH, KW); the Dense after a
    Flatten of images has its input columns permuted from (H, W, C) to PyTorch's (C, H, W) order."""
    model = randomize(mnist_cnn())
    module = to_torch(model)
    kernel = model.layers[0].kernel.data
    np.testing.assert_array_equal(module[0].weight.detach().numpy(), kernel.transpose(3, 2, 0, 1))
    dense = model.layers[3].kernel.data                                    # (13·13·30, 100), rows (h, w, c)
    torch_w = module[4].weight.detach().numpy()                            # (100, 30·13·13), columns (c, h, w)
    np.testing.assert_array_equal(torch_w.reshape(100, 30, 13, 13).transpose(2, 3, 1, 0).reshape(-1, 100), dense)


def test_asymmetric_same_padding_uses_zero_pad():
    model = glassnet.Sequential([L.Conv2D(2, 2, padding="same", input_shape=(5, 5, 1))])
    module = to_torch(model)
    assert isinstance(module[0], nn.ZeroPad2d) and module[0].padding == (0, 1, 0, 1)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_native_torch_module_with_torch_same_padding():
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 4, 4, padding="same"), nn.BatchNorm2d(4), nn.Tanh(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 7 * 7, 16), nn.LeakyReLU(0.01), nn.Dropout(0.2),
                        nn.Linear(16, 10), nn.Softmax(dim=1))
    with torch.no_grad():
        net[4].running_mean.uniform_(-1, 1)
        net[4].running_var.uniform_(0.5, 2)
    net.eval()
    model = from_torch(net, (28, 28, 1))
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), torch_predict(net, x), rtol=0, atol=TOL)


def test_training_in_torch_then_back():
    """A few optimizer steps in PyTorch, then glassnet predicts what the trained module predicts."""
    model = mnist_cnn()
    module = to_torch(model).train()
    logits = module[:-1]                                       # drop the Softmax: CrossEntropyLoss takes logits
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, eps=1e-7)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = torch.from_numpy(rng.uniform(0, 1, (8, 1, 28, 28)).astype("float32"))
        loss = nn.functional.cross_entropy(logits(x), torch.from_numpy(rng.integers(0, 10, 8)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.eval()
    back = from_torch(module, (28, 28, 1))
    x = rng.uniform(0, 1, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(back.predict(x, verbose=0), torch_predict(module, x), rtol=0, atol=TOL)


@pytest.mark.parametrize("layers, match", [
    ([L.Dense(3, activation=lambda z: z, input_shape=(4,))], "custom activation"),
    ([L.Dense(3, activation="step", input_shape=(4,))], "'step'"),
    ([L.AveragePooling2D(2, strides=1, padding="same", input_shape=(4, 4, 1))], "uneven padding"),
    ([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.Flatten()], "Flatten of images"),
    ([L.Dense(2, input_shape=(3, 3, 2))], "Dense on a 4-D input"),
    ([L.ReLU(threshold=1.0, input_shape=(3,))], "threshold"),
])
def test_to_torch_refuses_what_it_cannot_express(layers, match):
    with pytest.raises(NotImplementedError, match=match):
        to_torch(glassnet.Sequential(layers))


@pytest.mark.parametrize("module, match", [
    (nn.Sequential(nn.Linear(4, 3), nn.GELU()), "GELU"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), "dilation"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=2)), "neither 'valid' nor Keras's 'same'"),
    (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), "ceil_mode"),
])
def test_from_torch_refuses_unknown_modules(module, match):
    with pytest.raises(NotImplementedError, match=match):
        from_torch(module, (8, 8, 1) if not isinstance(module[0], nn.Linear) else (4,))


def test_from_torch_needs_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        from_torch([nn.Linear(2, 2)], (2,))
