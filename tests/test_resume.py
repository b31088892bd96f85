"""Interrupted training: BackupAndRestore, Ctrl-C during fit, and `glassnet train --resume` after a
real SIGINT or SIGKILL ends in the same weights, bit for bit, as a run that was never stopped."""
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import glassnet
from glassnet import callbacks, layers
from glassnet.models import Sequential


def make_model(seed=7):
    glassnet.utils.set_random_seed(seed)
    model = Sequential([layers.Dense(16, input_shape=(6,), activation="relu"), layers.Dropout(0.3),
                        layers.Dense(8, activation="relu"), layers.Dropout(0.2, seed=3),
                        layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data():
    rng = np.random.default_rng(1)
    x = rng.random((90, 6), dtype=np.float32)
    return x, (x[:, 0] + x[:, 1] > 1).astype(int) + (x[:, 2] > 0.8)


class Crash(callbacks.Callback):
    """Raises at the start of epoch ``at`` (a crash after ``at`` finished epochs)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("crash")


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# -- BackupAndRestore in-process ------------------------------------------------------------------------
def test_backup_and_restore_resumes_bit_for_bit_after_a_crash(tmp_path):
    x, y = data()
    reference = make_model()
    ref_history = reference.fit(x, y, epochs=6, batch_size=16, verbose=0, validation_split=0.2)

    backup = tmp_path / "backup"
    crashed = make_model()
    with pytest.raises(RuntimeError, match="crash"):
        crashed.fit(x, y, epochs=6, batch_size=16, verbose=0, validation_split=0.2,
                    callbacks=[callbacks.BackupAndRestore(backup), Crash(at=4)])
    state = json.loads((backup / "state.json").read_text())
    assert state["epoch"] == 4 and sorted(os.listdir(backup)) == ["epoch-0004.gnet", "state.json"]

    glassnet.utils.set_random_seed(999)          # the RNG state comes from the backup, not from here
    resumed = make_model(seed=123)               # and so do the weights
    history = resumed.fit(x, y, epochs=6, batch_size=16, verbose=0, validation_split=0.2,
                          callbacks=[callbacks.BackupAndRestore(backup)])
    assert history.epoch == [4, 5]
    assert history.history["loss"] == ref_history.history["loss"][4:]
    assert_same_weights(resumed, reference)
    assert resumed.optimizer.iterations == reference.optimizer.iterations
    assert not backup.exists()                   # delete_checkpoint=True: gone once fit has finished


def test_backup_restores_learning_rate_and_csv_log_continues(tmp_path):
    x, y = data()
    log = tmp_path / "log.csv"
    model = make_model()
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[
            callbacks.LearningRateScheduler(lambda epoch: 0.01 / (epoch + 1)),
            callbacks.BackupAndRestore(tmp_path / "b", delete_checkpoint=False), callbacks.CSVLogger(log), Crash(2)])
    model = make_model()
    model.fit(x, y, epochs=4, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "b", delete_checkpoint=False),
                                                   callbacks.CSVLogger(log)])
    assert model.optimizer.learning_rate == pytest.approx(0.01 / 2)     # restored from epoch 2's backup
    assert [line.split(",")[0] for line in log.read_text().splitlines()] == ["epoch", "0", "1", "2", "3"]
    assert (tmp_path / "b" / "epoch-0004.gnet").exists()


def test_a_damaged_backup_is_reported_not_trained_on(tmp_path):
    x, y = data()
    backup = tmp_path / "b"
    with pytest.raises(RuntimeError):
        make_model().fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(backup), Crash(1)])
    model_file = backup / "epoch-0001.gnet"
    model_file.write_bytes(model_file.read_bytes()[:300])
    with pytest.raises(glassnet.saving.ModelFileError, match="truncated or corrupted"):
        make_model().fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(backup)])
    (backup / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a valid backup state"):
        make_model().fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(backup)])
    other = Sequential([layers.Dense(2, input_shape=(6,))])
    other.compile("adam", "mse")
    with pytest.raises(RuntimeError):
        make_model().fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "c"), Crash(1)])
    with pytest.raises(ValueError, match="does not fit this model"):
        other.fit(x, np.zeros((90, 2)), epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "c")])


# -- Ctrl-C in-process --------------------------------------------------------------------------------------
needs_default_sigint = pytest.mark.skipif(signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                                          reason="SIGINT has a non-default handler in this test process")


class CtrlC(callbacks.Callback):
    """Sends this process a real SIGINT after batch ``batch`` of epoch ``epoch`` (``times`` times)."""

    def __init__(self, epoch, batch, times=1):
        super().__init__()
        self.epoch, self.batch, self.times, self.current = epoch, batch, times, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


@needs_default_sigint
def test_ctrl_c_stops_at_a_batch_boundary_and_returns_the_history_so_far():
    x, y = data()                                # 90 samples, batch 16: 6 batches per epoch
    model = make_model()
    with pytest.warns(UserWarning, match=r"interrupted \(Ctrl-C\) in epoch 2 after batch 3/6.*1 finished epoch"):
        history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[CtrlC(epoch=1, batch=2)])
    assert model.interrupted and history.epoch == [0] and len(history.history["loss"]) == 1
    assert model.optimizer.iterations == 6 + 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler          # handler restored
    # consistent: exactly the weights of the same run stopped cleanly after that batch
    reference = make_model()
    stop = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: setattr(reference, "stop_training", True)
                                    if reference.optimizer.iterations == 9 else None)
    reference.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[stop])
    assert_same_weights(model, reference)
    # the next fit trains normally
    assert len(model.fit(x, y, epochs=1, verbose=0).epoch) == 1 and not model.interrupted


@needs_default_sigint
def test_second_ctrl_c_raises_keyboard_interrupt():
    x, y = data()
    with pytest.raises(KeyboardInterrupt):
        make_model().fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[CtrlC(0, 1, times=2)])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- the CLI under real signals ----------------------------------------------------------------------------
# Each optimizer step sleeps 3 ms in the child (in one process, or split with fit's worker), so a
# 640-digit epoch (20 steps) lasts ~0.1 s: long enough to be hit mid-epoch, short enough that the whole
# file runs in a few seconds.
SLOW_CLI = """
import sys, time
sys.modules["glassnet.plots"] = None        # no report.png: saves importing matplotlib
from glassnet.models import data_parallel, training
def slowed(step):
    def slow_step(self, *args, **kwargs):
        time.sleep(0.003)
        return step(self, *args, **kwargs)
    return slow_step
training.Trainer.train_step = slowed(training.Trainer.train_step)
data_parallel.SplitSteps.step = slowed(data_parallel.SplitSteps.step)    # (the steps of a worker's fit)
from glassnet import cli
sys.exit(cli.main(sys.argv[1:]))
"""
TRAIN = ["train", "mnist", "--embedded", "--limit", "640", "--model", "hidden", "--seed", "5", "--epochs", "5"]


def start(argv, home):
    env = dict(os.environ, GLASSNET_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("GLASSNET_DATA", None)
    return subprocess.Popen([sys.executable, "-c", SLOW_CLI, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished_epochs(out):
    try:
        return json.loads((out / "backup" / "state.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def wait_for_epoch(proc, out, epoch, timeout=60):
    deadline = time.monotonic() + timeout
    while finished_epochs(out) < epoch:
        assert proc.poll() is None, f"the run ended before epoch {epoch}: {proc.communicate()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.01)


def final_weights(out):
    return glassnet.models.load_model(out / "model.gnet").get_weights()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ref"
    proc = start([*TRAIN, "--out", str(out)], out.parent / "home")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return final_weights(out)


def resume_and_compare(out, home, reference):
    proc = start(["train", "mnist", "--resume", str(out)], home)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "Resuming the run" in stdout
    for got, want in zip(final_weights(out), reference):
        np.testing.assert_array_equal(got, want)
    epochs = [line.split(",")[0] for line in (out / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2", "3", "4"]


def test_cli_sigint_then_resume_gives_the_uninterrupted_weights(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = start([*TRAIN, "--out", str(out)], tmp_path / "home")
    wait_for_epoch(proc, out, 2)
    time.sleep(0.05)                                       # somewhere inside epoch 3
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted (Ctrl-C)" in stderr and f"--resume {out}" in stderr
    assert not (out / "model.gnet").exists()
    assert finished_epochs(out) in (2, 3)
    resume_and_compare(out, tmp_path / "home", uninterrupted)


@pytest.mark.parametrize("trial", range(2))
def test_cli_sigkill_at_a_random_moment_then_resume(tmp_path, uninterrupted, trial):
    out = tmp_path / "run"
    proc = start([*TRAIN, "--out", str(out)], tmp_path / "home")
    wait_for_epoch(proc, out, 1)
    time.sleep(random.Random(trial).uniform(0.0, 0.15))   # mid-epoch, mid-validation or mid-backup
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    resume_and_compare(out, tmp_path / "home", uninterrupted)


def test_cli_resume_errors(tmp_path, capsys):
    from glassnet import cli
    assert cli.main(["train", "mnist", "--resume", str(tmp_path / "nothing")]) == 1
    assert "no run.json" in capsys.readouterr().err
    (tmp_path / "run.json").write_text("[1, 2]")
    assert cli.main(["train", "mnist", "--resume", str(tmp_path)]) == 1
    assert "not a glassnet run settings file" in capsys.readouterr().err
    assert cli.main(["train", "mnist", "--resume", str(tmp_path), "--out", str(tmp_path / "x")]) == 1
    assert "different --out" in capsys.readouterr().err


def test_slow_cli_script_is_the_real_cli():
    assert "cli.main" in SLOW_CLI and pathlib.Path(glassnet.cli.__file__).exists()
