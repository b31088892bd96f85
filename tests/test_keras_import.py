"""Keras 3 ``.keras`` files open in glassnet and predict what Keras predicted (fixtures made by
tools/make_keras_fixtures.py with tensorflow-cpu; these tests need only h5py)."""
import io
import json
import pathlib
import zipfile

import numpy as np
import pytest

import glassnet
from glassnet.saving import ModelFileError

h5py = pytest.importorskip("h5py", reason='reading .keras files needs h5py: pip install "glassnet[keras-files]"')

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
TOL = 1e-5


@pytest.mark.parametrize("name", ["mnist_mlp", "cifar_cnn", "every_layer", "global_average"])
def test_predicts_what_keras_predicted(name):
    model = glassnet.models.load_model(FIXTURES / f"{name}.keras")
    x, expected = np.load(FIXTURES / f"{name}.x.npy"), np.load(FIXTURES / f"{name}.y.npy")
    y = model.predict(x, verbose=0)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=TOL)


def test_the_tutorial_cnn_has_the_keras_parameter_count():
    model = glassnet.models.load_model(str(FIXTURES / "cifar_cnn.keras"))
    assert model.count_params() == 167_562
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert model.input_shape == (None, 32, 32, 3)


def test_unknown_layer_is_refused():
    with pytest.raises(ModelFileError, match="unknown layer type 'LayerNormalization'"):
        glassnet.models.load_model(FIXTURES / "unsupported.keras")


# -- tampered copies of a good file ---------------------------------------------------------------------
def rewrite(tmp_path, change_config=None, change_weights=None, extra=None, metadata=None):
    """A copy of global_average.keras with its config, weights (an h5py File) or members changed."""
    with zipfile.ZipFile(FIXTURES / "global_average.keras") as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    if change_config:
        config = json.loads(members["config.json"])
        change_config(config)
        members["config.json"] = json.dumps(config).encode()
    if change_weights:
        buffer = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buffer, "r+") as f:
            change_weights(f)
        members["model.weights.h5"] = buffer.getvalue()
    if metadata is not None:
        members["metadata.json"] = json.dumps(metadata).encode()
    members.update(extra or {})
    path = tmp_path / "tampered.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def conv_config(config):
    return config["config"]["layers"][1]["config"]


@pytest.mark.parametrize("change, match", [
    (lambda c: conv_config(c).update(dilation_rate=[2, 2]), r"dilation_rate=\[2, 2\] is not supported"),
    (lambda c: conv_config(c).update(groups=2), "groups=2 is not supported"),
    (lambda c: conv_config(c).update(activation="gelu"), "Unknown activation: 'gelu'"),
    (lambda c: conv_config(c).update(activation={"module": "x", "class_name": "f", "config": {}}),
     "cannot be read"),
    (lambda c: conv_config(c).update(mystery=1), r"unexpected keys \['mystery'\]"),
    (lambda c: c["config"]["layers"][1].update(registered_name="my>Conv"), "custom"),
    (lambda c: c.update(class_name="Functional"), "Sequential models only"),
    (lambda c: conv_config(c).update(filters=5), "expected .*float"),
    (lambda c: conv_config(c).update(dtype="mixed_float16"), "dtype policy"),
])
def test_bad_configs_are_refused(tmp_path, change, match):
    with pytest.raises(ModelFileError, match=match):
        glassnet.models.load_model(rewrite(tmp_path, change_config=change))


def test_wrong_weight_shape_is_refused(tmp_path):
    def shrink(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = np.zeros(3, "float32")
    with pytest.raises(ModelFileError, match=r"weight 'bias': expected \(2,\) float, received \(3,\)"):
        glassnet.models.load_model(rewrite(tmp_path, change_weights=shrink))


def test_missing_and_extra_weights_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="has weights"):
        glassnet.models.load_model(rewrite(tmp_path, change_weights=lambda f: f.create_dataset(
            "layers/dense/vars/2", data=[1.0])))
    with pytest.raises(ModelFileError, match="layers the config does not have"):
        glassnet.models.load_model(rewrite(tmp_path, change_weights=lambda f: f.create_group("layers/dense_9")))


def test_links_to_other_files_are_refused(tmp_path):
    def link(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/passwd", "/data")
    with pytest.raises(ModelFileError, match="link to elsewhere"):
        glassnet.models.load_model(rewrite(tmp_path, change_weights=link))


def test_unexpected_members_and_old_versions_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="unexpected member 'run_me.py'"):
        glassnet.models.load_model(rewrite(tmp_path, extra={"run_me.py": b"print('hi')"}))
    with pytest.raises(ModelFileError, match="Keras 2.15"):
        glassnet.models.load_model(rewrite(tmp_path, metadata={"keras_version": "2.15.0"}))


def test_not_a_zip(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"\x89HDF\r\n\x1a\n not a zip")
    with pytest.raises(ModelFileError, match="not a .keras file"):
        glassnet.models.load_model(path)


def test_loaded_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install "glassnet[onnx]"')
    pytest.importorskip("onnx", reason='needs the onnx extra: pip install "glassnet[onnx]"')
    model = glassnet.models.load_model(FIXTURES / "cifar_cnn.keras")
    from glassnet.export import to_onnx
    to_onnx(model, tmp_path / "cifar.onnx")
    x, expected = np.load(FIXTURES / "cifar_cnn.x.npy"), np.load(FIXTURES / "cifar_cnn.y.npy")
    session = ort.InferenceSession(str(tmp_path / "cifar.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=0, atol=TOL)
