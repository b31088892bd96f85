"""plots.py: every function returns a matplotlib Figure that saves as a PNG (needs the plot extra)."""
import sys

import numpy as np
import pytest

from glassnet import images, plots

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def _saved(fig, path):
    assert isinstance(fig, matplotlib.figure.Figure)
    fig.savefig(path, dpi=50)
    gray = images.read_image(path)                  # a real PNG, and not a blank page
    assert gray.shape[0] > 50 and gray.std() > 0.05
    return gray


def test_activation_curves_come_from_glassnet_autograd():
    curves = plots.activation_curves(np.array([-2.0, -0.5, 0.5, 2.0]))
    assert list(curves) == ["step", "sigmoid", "tanh", "ReLU", "leaky ReLU max(0.1z, z)"]
    z, f, df = curves["sigmoid"]
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(f, s, rtol=1e-12)
    np.testing.assert_allclose(df, s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(curves["tanh"][2], 1 - np.tanh(z) ** 2, rtol=1e-12)
    np.testing.assert_array_equal(curves["ReLU"][2], [0, 0, 1, 1])
    np.testing.assert_allclose(curves["leaky ReLU max(0.1z, z)"][1], [-0.2, -0.05, 0.5, 2.0])
    np.testing.assert_allclose(curves["leaky ReLU max(0.1z, z)"][2], [0.1, 0.1, 1, 1])
    np.testing.assert_array_equal(curves["step"][1], [0, 0, 1, 1])
    np.testing.assert_array_equal(curves["step"][2], [0, 0, 0, 0])


def test_plot_activations(tmp_path):
    fig = plots.plot_activations()
    assert len(fig.axes) == 6
    _saved(fig, tmp_path / "activations.png")


def test_plot_history_dict_and_history_object(tmp_path):
    logs = {"loss": [0.9, 0.5, 0.4], "accuracy": [0.7, 0.85, 0.9],
            "val_loss": [1.0, 0.6, 0.5], "val_accuracy": [0.65, 0.8, 0.86]}
    fig = plots.plot_history(logs)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert len(fig.axes[0].lines) == 2               # training and validation
    _saved(fig, tmp_path / "history.png")

    class History:
        history = {"loss": [1.0, 0.5]}
    assert len(plots.plot_history(History()).axes) == 1
    with pytest.raises(ValueError, match="History"):
        plots.plot_history({})


def test_plot_confusion_matrix_writes_the_counts(tmp_path):
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    fig = plots.plot_confusion_matrix(cm, labels=["cat", "dog", "fox"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["5", "1", "0", "2", "7", "1", "0", "0", "9"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["cat", "dog", "fox"]
    _saved(fig, tmp_path / "cm.png")
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels"):
        plots.plot_confusion_matrix(cm, labels=["a", "b"])


def test_show_images_marks_wrong_predictions(tmp_path):
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(12, 28, 28)).astype(np.uint8)
    labels = np.arange(12) % 10
    predictions = labels.copy()
    predictions[[2, 5]] = 9
    fig = plots.show_images(digits, labels, predictions, ncols=6)
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    assert titles[0] == ("0", "black")
    assert titles[2] == ("2 → 9", "red") and titles[5] == ("5 → 9", "red")
    _saved(fig, tmp_path / "grid.png")
    flat = plots.show_images(digits.reshape(12, -1)[:3])  # flattened (N, 784) works too
    assert len(flat.axes) == 3
    with pytest.raises(ValueError, match="square"):
        plots.show_images(np.zeros((2, 10)))


def test_training_report(tmp_path):
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 10, 50)
    y_pred = np.where(rng.random(50) < 0.8, y_true, (y_true + 1) % 10)
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (y_true, y_pred), 1)
    fig = plots.plot_training_report({"loss": [1, 0.5], "accuracy": [0.6, 0.8]}, cm, list(range(10)),
                                     rng.random((50, 28, 28)), y_true, y_pred)
    _saved(fig, tmp_path / "report.png")


def test_missing_matplotlib_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "glassnet\[plot\]"'):
        plots.plot_activations()

