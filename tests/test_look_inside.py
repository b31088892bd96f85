"""Look inside a CNN: ``Sequential.layer_outputs``, the feature-map and filter plots, ``glassnet plot``."""
import contextlib
import io

import numpy as np
import pytest

from glassnet import cli, conv, images, zoo
from glassnet.engine import Tensor


@pytest.fixture
def cnn():
    return zoo.cifar10_cnn()


def test_layer_outputs_one_array_per_layer(cnn):
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    outputs = cnn.layer_outputs(x)
    assert [o.shape for o in outputs] == [(2,) + s[1:] for s in cnn._shapes]
    assert all(o.dtype == np.float32 for o in outputs)
    np.testing.assert_array_equal(outputs[-1], cnn.predict(x, verbose=0))


def test_layer_outputs_are_the_layers_formulas(cnn):
    """Output 0 = relu(conv2d(x, kernel) + bias); output 1 = its 2×2 max pool; the rest follow."""
    x = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    outputs = cnn.layer_outputs(x)
    first = cnn.layers[0]
    expected = np.maximum(conv.conv2d_naive(x, first.kernel.data, first.bias.data), 0)
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs[1], conv.max_pool2d_naive(outputs[0]))
    np.testing.assert_array_equal(outputs[4], outputs[3].reshape(1, -1))


def test_layer_outputs_builds_an_unbuilt_model():
    from glassnet import Sequential
    from glassnet.layers import Conv2D
    model = Sequential([Conv2D(4, 3)])
    assert [o.shape for o in model.layer_outputs(np.zeros((1, 5, 5, 2)))] == [(1, 3, 3, 4)]


def test_feature_map_stages_split_conv_and_relu(cnn):
    plots = pytest.importorskip("glassnet.plots")
    image = np.random.default_rng(2).random((32, 32, 3), dtype=np.float32)
    stages = plots.feature_map_stages(cnn, image)
    conv1, pool1, conv2, pool2 = (layer.name for layer in cnn.layers[:4])
    assert [(name.split(":")[0], maps.shape) for name, maps in stages] == [
        ("input", (32, 32, 3)), (conv1, (30, 30, 32)), (conv1, (30, 30, 32)), (pool1, (15, 15, 32)),
        (conv2, (13, 13, 64)), (conv2, (13, 13, 64)), (pool2, (6, 6, 64))]
    assert stages[2][0] == f"{conv1}: after relu"
    pre, post = stages[1][1], stages[2][1]
    np.testing.assert_array_equal(post, np.maximum(pre, 0))             # ReLU of the filter responses
    first = cnn.layers[0]
    direct = conv.conv2d(Tensor(image[None]), first.kernel, first.bias).data[0]
    np.testing.assert_array_equal(pre, direct)


def test_plots_draw_every_stage_and_filter(cnn):
    pytest.importorskip("matplotlib")
    from glassnet import plots
    import matplotlib.pyplot as plt
    fig = plots.plot_feature_maps(cnn, np.zeros((32, 32, 3), np.float32), max_maps=4)
    assert len(fig.axes) == 7 * 4
    plt.close(fig)
    fig = plots.plot_filters(cnn)
    assert sum(ax.has_data() for ax in fig.axes) == 32
    plt.close(fig)
    with pytest.raises(ValueError, match="needs a model with a Conv2D layer"):
        plots.plot_filters(zoo.mnist_hidden())


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_cli_plot_filters_and_feature_maps_of_an_image_file(tmp_path):
    pytest.importorskip("matplotlib")
    model = zoo.cifar10_cnn()
    model.save(tmp_path / "cnn.gnet")
    picture = np.random.default_rng(3).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    images.write_png(tmp_path / "bird.png", picture)
    code, out, err = _run(["plot", "feature-maps", str(tmp_path / "cnn.gnet"), str(tmp_path / "bird.png"),
                           "--out", str(tmp_path / "fm.png")])
    assert code == 0, err
    assert (tmp_path / "fm.png").read_bytes()[:4] == b"\x89PNG"
    code, out, err = _run(["plot", "filters", str(tmp_path / "cnn.gnet"), "--out", str(tmp_path / "f.png")])
    assert code == 0 and (tmp_path / "f.png").exists(), err


def test_cli_plot_errors(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    zoo.cifar10_cnn().save(tmp_path / "cnn.gnet")
    images.write_png(tmp_path / "small.png", np.zeros((8, 8, 3), np.uint8))
    code, _, err = _run(["plot", "filters"])
    assert code == 1 and "'glassnet plot filters' takes MODEL; received none" in err
    code, _, err = _run(["plot", "feature-maps", str(tmp_path / "cnn.gnet"), str(tmp_path / "small.png")])
    assert code == 1 and "an image of shape (8, 8, 3), but the model takes (32, 32, 3)" in err


def test_cli_plot_feature_maps_of_a_cifar_bird(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from conftest import shared_file
    monkeypatch.setenv("GLASSNET_DATA", str(shared_file("cifar10", "test_1k.npz").parents[1]))
    zoo.cifar10_cnn().save(tmp_path / "cnn.gnet")
    code, out, err = _run(["plot", "feature-maps", str(tmp_path / "cnn.gnet"), "cifar10:bird",
                           "--out", str(tmp_path / "bird.png")])
    assert code == 0, err
    assert "feature maps of each layer" in out
    code, _, err = _run(["plot", "feature-maps", str(tmp_path / "cnn.gnet"), "cifar10:zebra"])
    assert code == 1 and "cifar10:CLASS, CLASS one of airplane, automobile, bird" in err
