"""The Keras callbacks: hooks and their order, EarlyStopping, ModelCheckpoint, TerminateOnNaN,
ReduceLROnPlateau, LearningRateScheduler, CSVLogger, LambdaCallback (BackupAndRestore: test_resume.py)."""
import csv
import math
import warnings

import numpy as np
import pytest

import glassnet
from glassnet import callbacks, layers
from glassnet.models import Sequential


def make_model(optimizer="sgd"):
    model = Sequential([layers.Dense(6, input_shape=(4,), activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=40):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4), dtype=np.float32)
    return x, (x[:, 0] * 3).astype(int).clip(0, 2)


class Scripted(callbacks.Callback):
    """Feeds a scripted value for ``key`` into each epoch's logs (runs before the callback under test)."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = list(values), key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class AllHooks(callbacks.Callback):
    """Overrides every hook (set below) to record its name in ``self.calls``."""


for _hook in [h for h in vars(callbacks.Callback) if h.startswith("on_")]:
    setattr(AllHooks, _hook, (lambda name: lambda self, *a, **k: self.calls.append(name))(_hook))


# -- hooks -----------------------------------------------------------------------------------------------
def test_fit_calls_hooks_in_keras_order_including_validation_test_hooks():
    cb = AllHooks()
    cb.calls = []
    x, y = data(8)
    make_model().fit(x, y, batch_size=4, epochs=1, verbose=0, validation_data=(x[:4], y[:4]), callbacks=[cb])
    assert cb.calls == ["on_train_begin", "on_epoch_begin",
                        "on_train_batch_begin", "on_train_batch_end", "on_train_batch_begin", "on_train_batch_end",
                        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                        "on_epoch_end", "on_train_end"]


def test_evaluate_and_predict_call_their_hooks():
    cb = AllHooks()
    cb.calls = []
    x, y = data(6)
    model = make_model()
    model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[cb])
    assert cb.calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_batch_begin",
                        "on_test_batch_end", "on_test_end"]
    cb.calls = []
    model.predict(x, batch_size=6, verbose=0, callbacks=[cb])
    assert cb.calls == ["on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]


def test_params_list_the_keys_the_logs_will_hold():
    seen = {}
    x, y = data(8)
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.update(cb.params))
    make_model().fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[cb])
    assert seen["metrics"] == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert seen["epochs"] == 1 and seen["steps"] == 1


def test_lambda_callback_activates_only_the_hooks_given():
    log = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log.append((epoch, sorted(logs))))
    x, y = data(8)
    model = make_model()
    cblist = callbacks.CallbackList([cb], model, {})
    assert not cblist.wants_batch_logs and cblist.on_train_batch_end is callbacks._noop
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert log == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]
    with pytest.raises(TypeError, match="unknown hook 'on_epcoh_end'"):
        callbacks.LambdaCallback(on_epcoh_end=print)


# -- EarlyStopping ------------------------------------------------------------------------------------------
def run(cbs, epochs=10, model=None, **kwargs):
    x, y = data()
    model = model or make_model()
    history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=cbs, **kwargs)
    return model, history


@pytest.mark.parametrize("values, patience, stopped", [
    ([5, 4, 4, 4, 4, 4, 4, 4, 4, 4], 2, 3),          # no improvement after epoch 2: stops at epoch 4
    ([5, 4, 3, 2, 1, 0, -1, -2, -3, -4], 1, 0),      # always improving: never stops
    ([5, 6, 7, 8, 9, 9, 9, 9, 9, 9], 0, 1),          # patience 0: the first bad epoch stops
])
def test_early_stopping_patience(values, patience, stopped):
    es = callbacks.EarlyStopping(patience=patience)
    _, history = run([Scripted(values), es], validation_split=0.25)
    assert es.stopped_epoch == stopped
    assert len(history.epoch) == (stopped + 1 if stopped else 10)


def test_early_stopping_min_delta_and_max_mode():
    es = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.1, patience=1)
    _, history = run([Scripted([0.5, 0.55, 0.65, 0.9], "val_accuracy"), es], validation_split=0.25)
    assert es.monitor_op is np.greater and es.stopped_epoch == 1 and len(history.epoch) == 2   # +0.05 < 0.1


def test_early_stopping_baseline_must_be_beaten():
    es = callbacks.EarlyStopping(baseline=1.0, patience=2)
    _, history = run([Scripted([2.0, 1.5, 1.2, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]), es], validation_split=0.25)
    assert es.stopped_epoch == 1 and len(history.epoch) == 2      # improving, but never below 1.0 in time
    es = callbacks.EarlyStopping(baseline=1.0, patience=3)
    _, history = run([Scripted([2.0, 1.5, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]), es], validation_split=0.25)
    assert es.stopped_epoch == 0 and len(history.epoch) == 10


def test_early_stopping_start_from_epoch_ignores_warm_up():
    es = callbacks.EarlyStopping(patience=1, start_from_epoch=4)
    _, history = run([Scripted([1, 2, 3, 4, 5, 5, 5, 5, 5, 5]), es], validation_split=0.25)
    assert es.stopped_epoch == 5 and es.best == 5          # epochs 0-3 unwatched, 5 does not beat 4's 5


class WeightsLog(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


@pytest.mark.parametrize("values", [[3, 1, 2, 2, 2, 2, 2, 2, 2, 2],        # stops early at epoch 4
                                    [3, 2, 1, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1]])  # epochs run out
def test_early_stopping_restores_best_weights_when_stopping_and_when_epochs_run_out(values):
    log, es = WeightsLog(), callbacks.EarlyStopping(patience=7, restore_best_weights=True)
    model, _ = run([Scripted(values), log, es], validation_split=0.25)
    best = int(np.argmin(values))
    assert es.best_epoch == best
    for got, want in zip(model.get_weights(), log.weights[best]):
        np.testing.assert_array_equal(got, want)


def test_early_stopping_auto_mode_unknown_direction_raises():
    with pytest.raises(ValueError, match="mode='max'"):
        run([Scripted([1] * 10, "thing"), callbacks.EarlyStopping(monitor="thing")], epochs=2)
    with pytest.raises(ValueError, match="mode must be"):
        callbacks.EarlyStopping(mode="maximum")


# -- ModelCheckpoint ------------------------------------------------------------------------------------------
def test_model_checkpoint_template_every_epoch(tmp_path):
    x, y = data()
    path = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.2f}.gnet")
    model = make_model()
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
                        callbacks=[callbacks.ModelCheckpoint(path)])
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == [f"m-{e + 1:02d}-{v:.2f}.gnet" for e, v in enumerate(history.history["val_loss"])]
    last = glassnet.models.load_model(tmp_path / "ckpt" / names[-1])
    for got, want in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_model_checkpoint_save_best_only_and_weights_only(tmp_path):
    path = tmp_path / "best.weights.gnet"
    saved = []
    cb = callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True, save_weights_only=True)
    spy = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: saved.append(path.stat().st_mtime_ns
                                                                             if path.exists() else None))
    run([Scripted([3, 2, 5, 1, 4], "loss"), cb, spy], epochs=5)
    assert cb.best == 1
    changed = [i for i in range(1, 5) if saved[i] != saved[i - 1]]
    assert saved[0] is not None and 2 not in changed and 4 not in changed
    with pytest.raises(glassnet.saving.ModelFileError, match="only weights"):
        glassnet.models.load_model(path)


def test_model_checkpoint_bad_templates_fail_at_construction():
    with pytest.raises(ValueError, match="empty"):
        callbacks.ModelCheckpoint("m-{}.gnet")
    with pytest.raises(ValueError, match="not a valid template"):
        callbacks.ModelCheckpoint("m-{epoch.gnet")


# -- TerminateOnNaN, ReduceLROnPlateau, LearningRateScheduler -----------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_terminate_on_nan_stops_on_nan_and_inf(bad):
    model = make_model()
    cb = callbacks.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    with pytest.warns(RuntimeWarning, match="invalid loss"):
        cb.on_train_batch_end(3, {"loss": bad})
    assert model.stop_training


def test_terminate_on_nan_in_fit_stops_after_the_epoch_with_a_non_finite_val_loss():
    with pytest.warns(RuntimeWarning, match="val_loss"):
        _, history = run([Scripted([1.0, math.inf, 1.0, 1.0]), callbacks.TerminateOnNaN()], epochs=4,
                         validation_split=0.25)
    assert len(history.epoch) == 2


def test_reduce_lr_on_plateau_with_cooldown_and_min_lr():
    model = make_model(glassnet.optimizers.SGD(learning_rate=0.1))
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    _, history = run([Scripted([1, 1, 1, 1, 1, 1, 1, 1], "loss"), cb], epochs=8, model=model)
    # lr is logged before the epoch's decision. Cut at the end of epoch 3 (wait 2); epoch 4 is the
    # cooldown, which (as in Keras) ends in the same epoch, so epoch 4 counts as wait 1: cut at epoch 5
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_one_and_two_argument_schedules():
    model = make_model(glassnet.optimizers.SGD(learning_rate=0.1))
    _, history = run([callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)], epochs=3, model=model)
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.0125])
    _, history = run([callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], epochs=2)
    np.testing.assert_allclose(history.history["learning_rate"], [0.01, 0.02])
    with pytest.raises(ValueError, match="should be a float"):
        run([callbacks.LearningRateScheduler(lambda epoch: "fast")], epochs=1)
    with pytest.raises(ValueError, match="learning_rate"):
        run([callbacks.LearningRateScheduler(lambda epoch: -1.0)], epochs=1)


# -- CSVLogger ---------------------------------------------------------------------------------------------
def read_csv(path, delimiter=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_csv_logger_writes_a_header_and_one_row_per_epoch_then_overwrites(tmp_path):
    path = tmp_path / "log.csv"
    _, history = run([callbacks.CSVLogger(path)], epochs=3)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss"] and [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert float(rows[3][2]) == pytest.approx(history.history["loss"][2])
    run([callbacks.CSVLogger(path)], epochs=1)
    assert len(read_csv(path)) == 2


def test_csv_logger_append_and_resume(tmp_path):
    path = tmp_path / "log.csv"
    run([callbacks.CSVLogger(path, separator=";")], epochs=2)
    run([callbacks.CSVLogger(path, separator=";", append=True)], epochs=1)
    assert [r[0] for r in read_csv(path, ";")] == ["epoch", "0", "1", "0"]
    # a fit that resumes at epoch 1 keeps the rows of earlier epochs and drops the ones it redoes
    run([callbacks.CSVLogger(path)], epochs=3)
    before = read_csv(path)
    x, y = data()
    make_model().fit(x, y, epochs=3, initial_epoch=1, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    after = read_csv(path)
    assert [r[0] for r in after] == ["epoch", "0", "1", "2"]
    assert after[:2] == before[:2] and after[2] != before[2]


def test_warnings_from_callbacks_are_not_repeated_each_epoch():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run([callbacks.ReduceLROnPlateau(monitor="val_loss")], epochs=4)
    assert len([w for w in caught if "not available" in str(w.message)]) == 1
