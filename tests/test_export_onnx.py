"""ONNX export: the graph passes onnx.checker and ONNX Runtime computes what model.predict computes."""
import re
import subprocess
import sys

import numpy as np
import pytest

import glassnet
import glassnet.export
from glassnet import cli, layers as L
from glassnet.export import to_onnx

from conftest import SHARED_DATA

try:                        # not importorskip: test_export_torch imports the model builders from here
    import onnx
    import onnxruntime as ort
except ImportError:
    onnx = ort = None
needs_onnx = pytest.mark.skipif(onnx is None, reason='needs the onnx extra: pip install "glassnet[onnx]"')

TOL = 1e-5


def randomize(model, seed=0):
    """Random weights (biases and batch-norm statistics included), variances kept positive."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 2.0, w.shape) if "variance" in w.name else
                       rng.normal(0.0, 1.0 / np.sqrt(max(np.prod(w.shape[:-1]), 1)), w.shape)
                       for w in model.weights])
    return model


def mnist_mlp():
    """The tutorial's MNIST network."""
    return glassnet.Sequential([L.Flatten(input_shape=(28, 28)), L.Dense(100, activation="relu"),
                                L.Dense(10, activation="sigmoid")])


def cifar_cnn():
    """The tutorial's CIFAR-10 CNN (167,562 parameters)."""
    return glassnet.Sequential([
        L.Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])


def mnist_cnn():
    return glassnet.Sequential([L.Conv2D(30, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                                L.MaxPooling2D(), L.Flatten(), L.Dense(100, activation="relu"),
                                L.Dense(10, activation="softmax")])


def every_layer():
    """Every mapped layer, odd sizes, 'same' padding with stride 2 (the odd pad at the bottom/right)."""
    return glassnet.Sequential([
        L.Conv2D(4, (3, 2), strides=2, padding="same", use_bias=False, input_shape=(11, 9, 2)),
        L.BatchNormalization(), L.LeakyReLU(0.1),
        L.AveragePooling2D(2, strides=1, padding="same"),
        L.Conv2D(6, 3, padding="same", activation="tanh"),
        L.MaxPooling2D(3, strides=2, padding="same"), L.ReLU(max_value=1.5),
        L.Conv2D(5, 1, activation="leaky_relu"), L.BatchNormalization(center=False),
        L.Softmax(axis=-1), L.ReLU(negative_slope=0.05),
        L.Flatten(), L.Dropout(0.3), L.Dense(7, activation="sigmoid"), L.BatchNormalization(),
        L.Activation("tanh"), L.Dense(6, activation="step"), L.Dense(3), L.Softmax()])


def global_pools():
    return glassnet.Sequential([
        L.Conv2D(3, 3, activation="relu", input_shape=(7, 6, 2)), L.GlobalMaxPooling2D(keepdims=True),
        L.Conv2D(4, 1), L.GlobalAveragePooling2D(), L.Dense(2)])


def run_onnx(model, x, tmp_path, opset=17):
    path = tmp_path / "model.onnx"
    proto = to_onnx(model, path, opset=opset)
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    return proto, session.run(None, {"input": x})[0]


@needs_onnx
@pytest.mark.parametrize("build, shape", [(mnist_mlp, (28, 28)), (cifar_cnn, (32, 32, 3)),
                                          (mnist_cnn, (28, 28, 1)), (every_layer, (11, 9, 2)),
                                          (global_pools, (7, 6, 2))])
@pytest.mark.parametrize("opset", [13, 17])
def test_onnx_runtime_equals_predict_on_random_inputs(build, shape, opset, tmp_path):
    model = randomize(build())
    x = np.random.default_rng(1).uniform(-1, 1, (5,) + shape).astype("float32")
    _, y = run_onnx(model, x, tmp_path, opset)
    expected = model.predict(x, verbose=0)
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=0, atol=TOL)


@needs_onnx
def test_oldest_opset_without_softmax_on_other_axes(tmp_path):
    model = randomize(cifar_cnn())
    x = np.random.default_rng(2).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    _, y = run_onnx(model, x, tmp_path, opset=11)
    np.testing.assert_allclose(y, model.predict(x, verbose=0), rtol=0, atol=TOL)


def _check_digits(x_train, y_train, x_test, tmp_path):
    """Train the MLP briefly on real digits, then compare on real test digits (MLP and CNN)."""
    model = mnist_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train[:2000] / 255.0, y_train[:2000], epochs=1, batch_size=64, verbose=0)
    x = (x_test[:500] / 255.0).astype("float32")
    _, y = run_onnx(model, x, tmp_path)
    np.testing.assert_allclose(y, model.predict(x, verbose=0), rtol=0, atol=TOL)
    cnn = randomize(mnist_cnn())
    _, y = run_onnx(cnn, x[:100, :, :, None], tmp_path)
    np.testing.assert_allclose(y, cnn.predict(x[:100, :, :, None], verbose=0), rtol=0, atol=TOL)


@needs_onnx
def test_onnx_on_embedded_digits(tmp_path):
    (x_train, y_train), (x_test, _) = glassnet.datasets.mnist.load_data(embedded=True)
    _check_digits(x_train, y_train, x_test, tmp_path)


@needs_onnx
def test_onnx_on_real_mnist(tmp_path, monkeypatch):
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"needs the real MNIST files in {SHARED_DATA / 'mnist'}")
    monkeypatch.setenv("GLASSNET_DATA", str(SHARED_DATA))
    (x_train, y_train), (x_test, _) = glassnet.datasets.mnist.load_data()
    assert len(x_train) == 60000
    _check_digits(x_train, y_train, x_test, tmp_path)


@needs_onnx
def test_channels_last_input_and_flatten_order(tmp_path):
    """The ONNX input is (N, H, W, C) as in glassnet, and the Dense after Flatten needs no change."""
    proto, _ = run_onnx(randomize(mnist_cnn()), np.zeros((1, 28, 28, 1), "float32"), tmp_path)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 28, 28, 1]
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Transpose", "Conv", "Relu", "MaxPool", "Transpose", "Flatten", "MatMul", "Add", "Relu",
                   "MatMul", "Add", "Softmax"]


@needs_onnx
def test_dropout_is_identity_and_batchnorm_is_in_inference_form(tmp_path):
    model = randomize(glassnet.Sequential([L.Dense(4, input_shape=(3,)), L.Dropout(0.5),
                                           L.BatchNormalization()]))
    proto, y = run_onnx(model, np.ones((2, 3), "float32"), tmp_path)
    assert [n.op_type for n in proto.graph.node] == ["MatMul", "Add", "BatchNormalization"]
    np.testing.assert_allclose(y, model.predict(np.ones((2, 3), "float32"), verbose=0), rtol=0, atol=TOL)


@needs_onnx
@pytest.mark.parametrize("layer, match", [
    (L.Dense(3, activation=lambda z: z * 2), "custom activation"),
    (L.ReLU(threshold=0.5), r"ReLU\(threshold=0.5\)"),
])
def test_unmapped_layer_is_refused_and_nothing_written(layer, match, tmp_path):
    model = glassnet.Sequential([L.Dense(4, input_shape=(3,)), layer])
    path = tmp_path / "model.onnx"
    with pytest.raises(NotImplementedError, match=match) as info:
        to_onnx(model, path)
    assert repr(layer.name) in str(info.value)
    assert not path.exists()


@needs_onnx
def test_custom_layer_class_is_refused(tmp_path):
    class Doubler(L.Layer):
        def call(self, x, training=False):
            return glassnet.ops.mul(x, 2.0)

    model = glassnet.Sequential([L.Dense(4, input_shape=(3,)), Doubler(name="doubler")])
    with pytest.raises(NotImplementedError, match="'doubler' .*Doubler"):
        to_onnx(model, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


@needs_onnx
def test_softmax_on_another_axis_needs_opset_13(tmp_path):
    model = glassnet.Sequential([L.Dense(4, input_shape=(5, 3)), L.Softmax(axis=1, name="smax")])
    with pytest.raises(ValueError, match="'smax' applies Softmax on axis 1.*opset >= 13"):
        to_onnx(model, tmp_path / "m.onnx", opset=12)
    assert not (tmp_path / "m.onnx").exists()
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    _, y = run_onnx(randomize(model), x, tmp_path, opset=13)
    np.testing.assert_allclose(y, model.predict(x, verbose=0), rtol=0, atol=TOL)


@needs_onnx
@pytest.mark.parametrize("opset", [10, 10_000, "17", True])
def test_bad_opset(opset, tmp_path):
    with pytest.raises(ValueError, match="opset must be an int from 11"):
        to_onnx(mnist_mlp(), tmp_path / "m.onnx", opset=opset)


@needs_onnx
def test_unbuilt_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a built model"):
        to_onnx(glassnet.Sequential([L.Dense(3)]), tmp_path / "m.onnx")


@needs_onnx
def test_cli_export(tmp_path, capsys):
    model = randomize(mnist_cnn())
    model.save(tmp_path / "cnn.gnet")
    out = tmp_path / "cnn.onnx"
    assert cli.main(["export", str(tmp_path / "cnn.gnet"), "--onnx", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out
    x = np.random.default_rng(0).uniform(0, 1, (2, 28, 28, 1)).astype("float32")
    y = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(y, model.predict(x, verbose=0), rtol=0, atol=TOL)
    assert cli.main(["export", str(tmp_path / "missing.gnet"), "--onnx", str(out)]) == 1
    assert "missing.gnet" in capsys.readouterr().err


def test_import_glassnet_does_not_import_the_extras():
    code = "import sys, glassnet; print(sorted({'onnx', 'torch', 'h5py', 'onnxruntime'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("blocked, call, extra", [
    ("onnx", lambda: to_onnx(mnist_mlp(), None), "glassnet[onnx]"),
    ("torch", lambda: glassnet.export.to_torch(mnist_mlp()), "glassnet[torch]"),
    ("h5py", lambda: glassnet.models.load_model("any.keras"), "glassnet[keras-files]"),
])
def test_a_missing_extra_is_named(monkeypatch, blocked, call, extra):
    monkeypatch.setitem(sys.modules, blocked, None)             # as if it were not installed
    with pytest.raises(ImportError, match=re.escape(extra)):
        call()
