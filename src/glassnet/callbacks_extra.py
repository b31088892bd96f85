"""The Keras callbacks beyond History and the progress bar (re-exported by ``glassnet.callbacks``).

    EarlyStopping        stop when ``monitor`` stops improving; optionally restore the best weights
    ModelCheckpoint      save the model (or weights) each epoch, or only when ``monitor`` improves
    TerminateOnNaN       stop at the first NaN or Inf loss
    ReduceLROnPlateau    lr <- max(lr * factor, min_lr) after ``patience`` epochs without improvement
    LearningRateScheduler  lr <- schedule(epoch, lr) at the start of each epoch
    CSVLogger            one CSV row per epoch (``epoch`` counted from 0, as Keras)
    LambdaCallback       hooks given as plain functions
    BackupAndRestore     resume an interrupted ``fit`` from the last finished epoch

Arguments and defaults follow Keras 3. Where Keras only prints, glassnet warns (so a test can see
it), and a monitored key that does not exist is reported once per ``fit``, listing the keys there are.
"""
import csv
import difflib
import math
import os
import string
import warnings

import numpy as np

from .callbacks import Callback

_MAX_KEYS = ("acc", "precision", "recall", "auc", "f1", "fmeasure")


def _better(monitor, mode, who, strict=False):
    """``np.less`` (smaller is better) or ``np.greater`` for ``mode`` "min" / "max" / "auto".

    "auto": a name ending in "loss" (or an error) is minimised; accuracy, precision, recall, AUC
    and F1 are maximised; anything else is minimised, or (``strict``, as Keras's EarlyStopping) a
    ``ValueError`` asking for an explicit mode.
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode == "auto":
        name = monitor[4:] if monitor.startswith("val_") else monitor
        if name.endswith("loss") or "error" in name:
            mode = "min"
        elif any(key in name for key in _MAX_KEYS):
            mode = "max"
        elif strict:
            raise ValueError(f"{who} received monitor={monitor!r} but cannot tell whether that metric should "
                             "be maximized or minimized. Pass mode='max' to keep the highest value, or "
                             "mode='min' to keep the lowest.")
        else:
            mode = "min"
    return np.less if mode == "min" else np.greater


def _missing_key(who, key, available):
    hint = [k for k in available if k.startswith(key) or key.startswith(k)] or \
        difflib.get_close_matches(key, available, n=1)
    hint = f" Did you mean {hint[0]!r}?" if hint else ""
    if key.startswith("val_") and not any(k.startswith("val_") for k in available):
        hint += " 'val_' keys exist only when fit is given validation_data or validation_split."
    warnings.warn(f"{who} is conditioned on {key!r}, which is not available. Available keys are: "
                  f"{', '.join(sorted(available))}.{hint}", UserWarning, stacklevel=4)


class _Monitor(Callback):
    """Shared by the callbacks that watch one key of the epoch logs: warns once per fit if it is missing
    (at the first epoch end, since other callbacks may add keys such as ``learning_rate``)."""

    _warned = False

    def _expect(self, key):
        self._warned = False

    def _value(self, logs, key):
        value = (logs or {}).get(key)
        if value is None and not self._warned:
            _missing_key(type(self).__name__, key, list(logs or {}))
            self._warned = True
        return value


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    An epoch "improves" when ``current - min_delta`` beats the best so far (``current + min_delta``
    for "max"). With ``baseline``, the wait is reset only by values that also beat the baseline.
    ``restore_best_weights`` puts back the weights of the best epoch when training stops early **and**
    when the epochs run out. Epochs before ``start_from_epoch`` are not watched (a warm-up).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch, self.mode = start_from_epoch, mode
        self.min_delta = abs(min_delta)
        self.monitor_op = None if mode == "auto" else _better(monitor, mode, "EarlyStopping")
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0
        self._expect(self.monitor)

    def _improves(self, value, reference):
        if reference is None:
            return True
        delta = self.min_delta if self.monitor_op is np.less else -self.min_delta
        return bool(self.monitor_op(value + delta, reference))     # beats it by more than min_delta

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs, self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.monitor_op is None:
            self.monitor_op = _better(self.monitor, self.mode, "EarlyStopping", strict=True)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(_Monitor):
    """Save the model after each epoch to ``filepath``, a template filled with ``epoch`` (from 1) and the logs.

    ``"ckpt-{epoch:02d}-{val_loss:.2f}.gnet"`` -> ``ckpt-03-0.41.gnet``. A key the logs of this fit
    cannot hold (``val_loss`` without validation data) raises ``ValueError`` when ``fit`` starts.
    ``save_best_only`` saves only when ``monitor`` improves (beyond ``initial_value_threshold``, if given);
    ``save_weights_only`` writes ``save_weights`` files. Saves are atomic (see ``glassnet.saving``).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        try:
            self._keys = {name.split(".")[0].split("[")[0]
                          for _, name, _, _ in string.Formatter().parse(self.filepath) if name is not None}
        except ValueError as e:
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} is not a valid template ({e}).") from None
        if "" in self._keys:
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} has an empty {{}} field; name the "
                             "key, e.g. {epoch:02d}.")
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: only save_freq='epoch' is supported. Received: {save_freq!r}")
        self.monitor, self.verbose, self.save_freq = monitor, verbose, save_freq
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.monitor_op = _better(monitor, mode, "ModelCheckpoint")
        self.best = initial_value_threshold

    def on_train_begin(self, logs=None):
        expected = self.params.get("metrics")
        if expected is not None:
            self._check_template(set(expected) | {"learning_rate"}, expected)
        self._expect(self.monitor)

    def _check_template(self, available, shown):
        unknown = sorted(self._keys - set(available) - {"epoch"})
        if unknown:
            raise ValueError(f"ModelCheckpoint: the filepath template {self.filepath!r} uses "
                             f"{', '.join('{' + k + '}' for k in unknown)}, which this fit will not produce "
                             f"(val_ keys need validation_data). Available: epoch, {', '.join(shown)}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best_only:
            current = self._value(logs, self.monitor)
            if current is None or not (self.best is None or self.monitor_op(current, self.best)):
                return
            previous, self.best = self.best, current
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to {current}, saving model")
        self._check_template(logs, list(logs))
        path = self.filepath.format(epoch=epoch + 1, **logs)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: saved to {path}")


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss of a batch (or the epoch's loss or val_loss) is NaN or Inf."""

    def on_train_batch_end(self, batch, logs=None):
        self._check((logs or {}).get("loss"), f"batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            self._check((logs or {}).get(key), f"epoch {epoch + 1} ({key})")

    def _check(self, value, where):
        if value is not None and not math.isfinite(value):
            self.model.stop_training = True
            warnings.warn(f"TerminateOnNaN: invalid loss {value} at {where}, terminating training.",
                          RuntimeWarning, stacklevel=3)


class ReduceLROnPlateau(_Monitor):
    """``lr <- max(lr * factor, min_lr)`` when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; then wait ``cooldown`` epochs before watching again. Adds ``learning_rate`` to the logs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected keyword arguments {sorted(kwargs)}.")
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.monitor_op = _better(monitor, mode, "ReduceLROnPlateau")
        self._reset()

    def _reset(self):
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.wait, self.cooldown_counter = 0, 0

    def on_train_begin(self, logs=None):
        self._reset()
        self._expect(self.monitor)

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._value(logs, self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        delta = self.min_delta if self.monitor_op is np.less else -self.min_delta
        if self.monitor_op(current + delta, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and optimizer.learning_rate > self.min_lr:
                optimizer.learning_rate = max(optimizer.learning_rate * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{optimizer.learning_rate}.")


class LearningRateScheduler(Callback):
    """At the start of each epoch: ``optimizer.learning_rate = schedule(epoch, lr)`` (or ``schedule(epoch)``),
    epoch counted from 0. Adds ``learning_rate`` to the logs."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable. Received: {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        if isinstance(new, bool) or not isinstance(new, (int, float, np.floating, np.integer)):
            raise ValueError(f'The output of the "schedule" function should be a float. Received: {new!r}')
        self.model.optimizer.learning_rate = float(new)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Write one row per epoch to ``filename``: ``epoch`` (from 0) then the log keys in sorted order.

    ``append=False`` starts a new file, ``append=True`` adds to an existing one. A fit that resumes
    (it starts at an epoch > 0, from ``initial_epoch`` or ``BackupAndRestore``) always continues the
    existing file, dropping any rows of the epochs it is about to redo.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys, self.writer, self.file = None, None, None

    def on_train_begin(self, logs=None):
        self.keys, self.writer, self.file = None, None, None

    def _open(self, start_epoch):
        header, rows = None, []
        if (self.append or start_epoch > 0) and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                table = list(csv.reader(f, delimiter=self.sep))
            if table:
                header = table[0]
                rows = table[1:] if self.append and start_epoch == 0 else \
                    [r for r in table[1:] if r and r[0].isdigit() and int(r[0]) < start_epoch]
        self.file = open(self.filename, "w", newline="")
        writer = csv.writer(self.file, delimiter=self.sep, lineterminator="\n")
        if header:
            self.keys = [k for k in header[1:]]
            writer.writerow(header)
            writer.writerows(rows)

    def on_epoch_begin(self, epoch, logs=None):
        if self.file is None:
            self._open(epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.file is None:
            self._open(epoch)
        writer = csv.writer(self.file, delimiter=self.sep, lineterminator="\n")
        if self.keys is None:
            self.keys = sorted(logs)
            writer.writerow(["epoch"] + self.keys)
        writer.writerow([epoch] + [logs.get(k, "NA") for k in self.keys])
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
            self.file = None


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Keras's signatures: ``on_epoch_begin/on_epoch_end(epoch, logs)``, ``on_train_begin/on_train_end(logs)``,
    ``on_train_batch_begin/on_train_batch_end(batch, logs)``; any other ``on_*`` hook by keyword too.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}.")
            if fn is not None:
                setattr(self, name, _with_logs(fn, 2 if "epoch" in name or "batch" in name else 1))


def _with_logs(fn, n):
    """Call ``fn`` with Keras's positional arguments, ``logs`` (None if ``fit`` gave none) included."""
    def hook(*args, logs=None):
        return fn(*(args + (logs,) * (n - len(args))))
    return hook


from .callbacks_backup import BackupAndRestore  # noqa: E402,F401  (its own file: it is about files)
