"""The `glassnet` command, run in-process through ``glassnet.cli.main`` (and once as a subprocess)."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from glassnet import cli, images
from glassnet.datasets import mnist

SUBCOMMANDS = [["train"], ["evaluate"], ["predict"], ["plot"], ["info"]]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No ~/.glassnet, no shared data, no network: the embedded digits (with their notice)."""
    monkeypatch.setenv("GLASSNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small `train mnist` run shared by the tests below: (out dir, captured stdout)."""
    out = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.setenv("GLASSNET_HOME", str(out / "home"))
    import contextlib
    import io
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["train", "mnist", "--embedded", "--limit", "600", "--epochs", "2",
                         "--seed", "0", "--out", str(out)])
    mp.undo()
    assert code == 0, stderr.getvalue()
    return out, stdout.getvalue()


def _error_line(capsys, argv):
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("argv", [[]] + SUBCOMMANDS)
def test_help_of_every_subcommand(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv + ["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: glassnet")
    assert "--limit" not in out                      # the test-only option stays hidden


def test_python_dash_m_glassnet_help():
    result = subprocess.run([sys.executable, "-m", "glassnet", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict", "plot", "info"):
        assert command in result.stdout


def test_import_does_not_load_matplotlib():
    code = "import sys, glassnet, glassnet.cli, glassnet.plots; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_usage_errors_exit_2(capsys):
    for argv in (["train", "cifar"], ["train", "mnist", "--epochs", "0"], ["frobnicate"]):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
    capsys.readouterr()


def test_train_prints_the_report_and_writes_the_files(trained):
    out, stdout = trained
    assert "Epoch 2/2" in stdout
    assert "Test accuracy: " in stdout
    assert "macro avg" in stdout                     # the classification report
    assert "Confusion matrix (rows: true digit" in stdout
    assert (out / "model.gnet").is_file()
    assert f"Saved the model to {out / 'model.gnet'}" in stdout
    accuracy = float(stdout.split("Test accuracy: ")[1].split()[0])
    assert accuracy > 0.5                            # 600 digits, 2 epochs: far above chance (0.1)
    if importlib.util.find_spec("matplotlib") is None:
        assert 'pip install "glassnet[plot]"' in stdout
    else:
        assert images.read_image(out / "report.png").shape[0] > 500


def test_one_notice_line_when_falling_back_to_the_embedded_digits(trained, capsys, monkeypatch):
    import warnings

    def offline(path=None, embedded=False):          # what load_data does with no files and no network
        warnings.warn("MNIST not found and could not be downloaded. Using the embedded sample.",
                      mnist.EmbeddedDataWarning)
        return mnist.load_embedded()
    monkeypatch.setattr(mnist, "load_data", offline)
    out, _ = trained
    assert cli.main(["evaluate", str(out / "model.gnet"), "--limit", "50"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ("glassnet: note: MNIST not found and could not be downloaded. "
                            "Using the embedded sample.\n")
    assert "Test accuracy: " in captured.out


def test_info_evaluate_predict_on_the_saved_model(trained, capsys, tmp_path):
    out, _ = trained
    model = str(out / "model.gnet")
    assert cli.main(["info", model]) == 0
    summary = capsys.readouterr().out
    assert "(Dense)" in summary and "7,850" in summary

    assert cli.main(["evaluate", model, "--embedded", "--limit", "200"]) == 0
    assert "Test accuracy: " in capsys.readouterr().out

    (_, _), (x_test, y_test) = mnist.load_data(embedded=True)
    paths = []
    for k in range(3):                               # black ink on white paper, enlarged 8x
        paths.append(str(tmp_path / f"digit{k}.png"))
        images.write_png(paths[-1], np.kron(255 - x_test[k], np.ones((8, 8), np.uint8)))
    assert cli.main(["predict", model] + paths) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for path, line in zip(paths, lines):
        name, rest = line.split(": ")
        digit, probability = int(rest.split()[0]), float(rest.split("probability ")[1].rstrip(")"))
        assert name == path and 0 <= digit <= 9 and 0 < probability <= 1


def test_errors_are_one_line(trained, capsys, tmp_path):
    out, _ = trained
    model = str(out / "model.gnet")
    assert "missing.png: no such file" in _error_line(capsys, ["predict", model, "missing.png"])
    assert "nope.gnet: no such file" in _error_line(capsys, ["info", "nope.gnet"])
    (tmp_path / "bad.png").write_bytes(images.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR")
    assert "bad.png" in _error_line(capsys, ["predict", model, "bad.png"])
    images.write_png(tmp_path / "blank.png", np.ones((10, 10)))
    assert "blank.png" in _error_line(capsys, ["predict", model, "blank.png"])
    assert "bad.png" in _error_line(capsys, ["info", "bad.png"])      # not a model file


def test_a_model_that_does_not_fit_mnist(capsys, tmp_path):
    from glassnet import Sequential
    from glassnet.layers import Dense
    wrong_input = Sequential([Dense(10, input_shape=(100,), activation="sigmoid")])
    wrong_input.save(tmp_path / "wrong_input.gnet")
    line = _error_line(capsys, ["evaluate", "wrong_input.gnet", "--embedded"])
    assert "(100,)" in line and "784" in line
    wrong_output = Sequential([Dense(3, input_shape=(784,), activation="sigmoid")])
    wrong_output.save(tmp_path / "wrong_output.gnet")
    images.write_png(tmp_path / "d.png", np.eye(20))
    assert "3 outputs" in _error_line(capsys, ["predict", "wrong_output.gnet", "d.png"])


def test_plot_activations_command(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    assert cli.main(["plot", "activations", "--out", str(tmp_path / "act.png")]) == 0
    assert "act.png" in capsys.readouterr().out
    assert images.read_image(tmp_path / "act.png").shape[1] > 500


def test_plot_without_matplotlib_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert 'pip install "glassnet[plot]"' in _error_line(capsys, ["plot", "activations"])


def test_train_without_matplotlib_still_saves_the_model(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    argv = ["train", "mnist", "--embedded", "--limit", "100", "--epochs", "1", "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 0
    assert 'No report.png: matplotlib is not installed (pip install "glassnet[plot]")' in capsys.readouterr().out
    assert (tmp_path / "r" / "model.gnet").is_file() and not (tmp_path / "r" / "report.png").exists()


def test_default_output_folder_is_timestamped(capsys, tmp_path):
    assert cli.main(["train", "mnist", "--embedded", "--limit", "100", "--epochs", "1"]) == 0
    capsys.readouterr()
    runs = list((tmp_path / "glassnet-runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "model.gnet").is_file()
