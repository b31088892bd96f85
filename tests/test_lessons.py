"""Every lesson runs offline and prints the notes' numbers, computed by glassnet."""
import importlib.util
import re
import time

import numpy as np
import pytest

import glassnet
from glassnet import cli, lessons


HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def plot_file(tmp_path, name):
    """Where a lesson draws its picture; None (no --plot) where matplotlib, an optional extra, is absent."""
    return tmp_path / name if HAVE_MATPLOTLIB else None


def run_lesson(name, capsys, **kwargs):
    start = time.perf_counter()
    lessons.run(name, **kwargs)
    seconds = time.perf_counter() - start
    assert seconds < 30, f"lesson {name} took {seconds:.1f} s"
    return capsys.readouterr().out


def test_every_lesson_is_listed_and_importable():
    for name in lessons.LESSONS:
        assert callable(lessons.module(name).run)


def test_neuron(capsys):
    out = run_lesson("neuron", capsys)
    assert "y = 0.042·x1 + 0.008·x2 + 0.2·x3 − 1.53" in out
    assert "0.042×35 + 0.008×40 + 0.2×1 − 1.53 = 0.4600" in out
    assert "σ(y) = 1 / (1 + e^-0.4600) = 0.6130" in out


def test_activations(capsys, tmp_path):
    out = run_lesson("activations", capsys, plot=plot_file(tmp_path, "a.png"))
    assert re.search(r"sigmoid'\s+0.0452\s+0.1966\s+0.2350\s+0.2500", out)
    assert re.search(r"leaky ReLU\s+-0.3000\s+-0.1000", out)
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_losses(capsys):
    out = run_lesson("losses", capsys)
    assert "MAE: per sample [5.0, 3.0, 1.0]" in out
    assert "MAE = mean |y − ŷ| = 3.0000" in out
    assert "MSE = mean (y − ŷ)² = 11.6667 = 35/3" in out
    assert out.count("= 0.4338") == 2                  # categorical == sparse categorical


def test_derivatives(capsys):
    out = run_lesson("derivatives", capsys)
    assert "∂price/∂bedrooms = 3·bedrooms² = 27" in out
    assert "∂price/∂sqft     = 2·sqft       = 3000" in out
    assert "∂z/∂a = ∂z/∂x · ∂x/∂a = 4 × 6 = 24   (= 8a)" in out
    assert "a.grad = 24, b.grad = 28" in out
    assert "(op 'pow')" in out


def test_gradient_descent_reproduces_the_notes(capsys):
    out = run_lesson("gradient-descent", capsys)
    assert "epoch 0: w1   = 1.0000 − 0.5 × 0.0502 = 0.9749" in out
    row0 = next(line.split() for line in out.splitlines() if line.split()[:1] == ["0"])
    assert row0 == ["0", "0.7113", "0.0502", "0.1033", "0.2268", "-0.0251", "-0.0517", "-0.1134",
                    "0.9749", "0.9483", "-0.1134"]
    hand = re.search(r"By hand: stopped after epoch (\d+) .*: (w1 = .*)", out)
    fit = re.search(r"Sequential.fit: stopped after epoch (\d+) .*\): (w1 = .*)", out)
    assert hand.groups() == fit.groups() == ("366", "w1 = 5.0510, w2 = 1.4570, bias = -2.9597")


def test_batch_vs_sgd(capsys, tmp_path):
    out = run_lesson("batch-vs-sgd", capsys, plot=plot_file(tmp_path, "curves.png"))
    batch = next(line.split() for line in out.splitlines() if line.startswith("batch "))
    assert batch[1:7] == ["20", "500", "0.7071", "0.6746", "-0.2303", "0.00686"]   # the tutorial's result
    assert "stochastic" in out and "mini-batch (5)" in out
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "curves.png").stat().st_size > 1000


def test_digits(capsys):
    out = run_lesson("digits", capsys)
    assert "digit 2 is a 4" in out
    assert "Flattened and scaled: (10000, 784)" in out
    assert "The notes' model: 7,850 weights (784 × 10 + 10)" in out
    accuracy = float(re.search(r"Test \(10,000 digits\): loss [\d.]+, accuracy ([\d.]+)", out).group(1))
    assert accuracy > 0.88


def test_precision_recall(capsys):
    out = run_lesson("precision-recall", capsys)
    for line in ["TP: 4", "FP: 3", "TN: 1", "FN: 2", "= 4/7 = 0.5714", "= 4/6 = 0.6667", "= 0.6154"]:
        assert line in out


def test_convolution(capsys, tmp_path):
    out = run_lesson("convolution", capsys, plot=plot_file(tmp_path, "maps.png"))
    assert "1 + 0 + 1 + 0 + 1 + 0 + 0 + 0 + 1 = 4   Conv2D: 4" in out
    assert "  window (1,1): max[0, 7, 3, 1] = 7" in out
    assert "Flatten: (1, 2, 2, 1) -> (1, 4): [6.0, 8.0, 4.0, 7.0]" in out


def test_cnn(capsys):
    out = run_lesson("cnn", capsys)
    assert re.search(r"total\s+167,562", out)
    assert "3·3·32·64 + 64 = 18,496" in out
    assert float(re.search(r"test accuracy on 1,000 digits ([\d.]+)", out).group(1)) > 0.8


# -- the command line -------------------------------------------------------------------------------
def test_cli_lists_the_lessons(capsys):
    assert cli.main(["lesson"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in lessons.LESSONS)


def test_cli_runs_a_lesson(capsys):
    assert cli.main(["lesson", "precision-recall"]) == 0
    assert "= 4/7 = 0.5714" in capsys.readouterr().out


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert cli.main(["lesson", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no lesson named 'nope'" in err and "gradient-descent" in err
    assert cli.main(["lesson", "losses", "--plot", str(tmp_path / "x.png")]) == 1
    assert "lesson 'losses' draws no picture" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_gradient_descent_uses_the_tutorials_split():
    model_selection = pytest.importorskip("sklearn.model_selection")
    from glassnet.lessons.gradient_descent import training_rows
    x, y = glassnet.datasets.insurance.load_data()
    x_train, _, y_train, _ = model_selection.train_test_split(x, y, test_size=0.2, random_state=25)
    age, afford, target = training_rows()
    np.testing.assert_array_equal(age, x_train[:, 0].astype(np.float64) / 100)
    np.testing.assert_array_equal(afford, x_train[:, 1])
    np.testing.assert_array_equal(target, y_train)
