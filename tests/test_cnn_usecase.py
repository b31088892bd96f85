"""The CNN use cases of issue 4: `glassnet train cifar10`, and the MNIST CNN's accuracy gate.

The MNIST CNN's gate (≥ 98.5% after 5 epochs on the full MNIST) runs here (about a minute). The
CIFAR CNN's 10 epochs on 50,000 images take too long for CI: examples/cifar10_cnn.py, with its
result in docs/benchmarks.md; here a short `glassnet train cifar10` run.
Needs ../shared/data (skipped with the reason when absent).
"""
import contextlib
import io

import numpy as np
import pytest

import glassnet
from glassnet import cli, zoo
from conftest import shared_file


@pytest.fixture
def shared_data(monkeypatch, tmp_path):
    folder = shared_file("cifar10", "test_1k.npz").parents[1]
    monkeypatch.setenv("GLASSNET_DATA", str(folder))
    monkeypatch.setenv("GLASSNET_HOME", str(tmp_path / "home"))
    return folder


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_the_tutorial_cnn_has_167562_parameters():
    assert zoo.cifar10_cnn().count_params() == 167_562


def test_train_cifar10_cnn_from_the_command_line(shared_data, tmp_path):
    code, out, err = _run(["train", "cifar10", "--epochs", "1", "--limit", "400", "--seed", "0",
                           "--out", str(tmp_path / "run")])
    assert code == 0, err
    assert "Training 'cnn'" in out and "400 cifar10 images" in out
    for name in ("airplane", "automobile", "bird", "truck"):          # class names in the report
        assert name in out
    assert "Confusion matrix (rows: true class, columns: predicted class)" in out
    lines = out.splitlines()
    start = lines.index("Confusion matrix (rows: true class, columns: predicted class)") + 2
    matrix = [line.split() for line in lines[start:start + 10]]
    assert [row[0] for row in matrix] == list(glassnet.datasets.cifar10.LABEL_NAMES)
    assert sum(int(v) for row in matrix for v in row[1:]) == 400       # --limit also cuts the test set
    model = glassnet.load_model(tmp_path / "run" / "model.gnet")
    assert model.count_params() == 167_562
    assert (tmp_path / "run" / "report.png").exists() or "matplotlib is not installed" in out


def test_train_cifar10_ann_and_model_dataset_mismatch(shared_data, tmp_path):
    code, out, err = _run(["train", "cifar10", "--model", "ann", "--epochs", "1", "--limit", "64",
                           "--out", str(tmp_path / "ann")])
    assert code == 0, err
    assert "Training 'ann'" in out and glassnet.load_model(tmp_path / "ann" / "model.gnet").count_params() == 12_230_010
    code, _, err = _run(["train", "mnist", "--model", "ann", "--out", str(tmp_path / "bad")])
    assert code == 1 and "no model 'ann' for mnist: choose one of notes, hidden, cnn" in err


def test_mnist_cnn_reaches_98_5_percent_in_5_epochs_on_the_full_mnist():
    """Issue 4's gate (Keras: 98.4%). Measured 0.9861 in 1.1 min on an idle 2-core machine (7.7 min loaded)."""
    folder = shared_file("mnist", "train-images-idx3-ubyte.gz").parent
    (x_train, y_train), (x_test, y_test) = glassnet.datasets.mnist.load_data(path=folder)
    x_train, x_test = (x_train[..., None] / 255).astype(np.float32), (x_test[..., None] / 255).astype(np.float32)
    model = zoo.mnist_cnn()
    history = model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.985
