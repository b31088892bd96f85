"""Callbacks: code that `fit` calls at fixed points of training, with Keras's hooks and names.

The order within one ``fit``::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(batch) ... on_train_batch_end(batch, logs)     (once per batch)
        on_test_begin ... on_test_end                                      (validation, if any)
      on_epoch_end(epoch, logs)      logs = {"loss": ..., "accuracy": ..., "val_loss": ...}
    on_train_end

``History`` (always added) records each epoch's logs; ``ProgbarLogger`` prints the progress bar.
EarlyStopping, ModelCheckpoint, TerminateOnNaN, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
LambdaCallback (callbacks_extra.py) and BackupAndRestore (callbacks_backup.py) are importable from here.
"""
import os
import sys
import time


class Callback:
    """Base class: override any hook. ``self.model`` is set by ``fit``/``evaluate``/``predict``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls one hook on every callback in order; hooks nobody overrides cost nothing per batch."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be glassnet.callbacks.Callback instances. "
                                f"Received: {cb!r} of type {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)
        for hook in _HOOKS:
            active = [getattr(cb, hook) for cb in self.callbacks if _overrides(cb, hook)]
            setattr(self, hook, self._caller(active) if active else _noop)
        # per-batch hooks: let the loops skip building logs when nobody listens
        self.wants_batch_logs = any(_overrides(cb, "on_train_batch_end") for cb in self.callbacks)
        self.wants_test_batch_logs = any(_overrides(cb, "on_test_batch_end") for cb in self.callbacks)

    @staticmethod
    def _caller(fns):
        def call(*args, **kwargs):
            for fn in fns:
                fn(*args, **kwargs)
        return call


def _noop(*args, **kwargs):
    return None


def _overrides(cb, hook):
    """True if ``cb`` defines ``hook``: in its class, or on the instance (``LambdaCallback``)."""
    return hook in vars(cb) or getattr(type(cb), hook) is not getattr(Callback, hook)


class History(Callback):
    """``history.history`` is a dict of lists: one value per epoch for each key of the logs."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


# -- the progress bar ------------------------------------------------------------------------------
def _can_print(text, stream):
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _format_time(seconds, per_step=False):
    if per_step:
        if seconds >= 1:
            return f"{seconds:.0f}s/step"
        if seconds >= 1e-3:
            return f"{seconds * 1e3:.0f}ms/step"
        return f"{seconds * 1e6:.0f}us/step"
    if seconds >= 3600:
        return f"{seconds // 3600:.0f}:{seconds % 3600 // 60:02.0f}:{seconds % 60:02.0f}"
    if seconds >= 60:
        return f"{seconds // 60:.0f}:{seconds % 60:02.0f}"
    return f"{seconds:.0f}s"


class Progbar:
    """Keras's text bar: ``1875/1875 ━━━━━━━━━━━━━━━━━━━━ 2s 1ms/step - accuracy: 0.9123 - loss: 0.3210``.

    On a terminal the line is redrawn in place (at most every 0.05 s); when output goes to a file or
    pipe only the final line is written; where the console cannot print "━" an ASCII "=" bar is used.
    ``verbose=2`` writes only the final line, without the bar: ``1875/1875 - 2s - 1ms/step - loss: ...``.
    """

    def __init__(self, target, width=20, verbose=1, stream=None, interval=0.05):
        self.target, self.width, self.verbose, self.interval = target, width, verbose, interval
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.dynamic = isatty and os.environ.get("TERM") != "dumb"
        self.fill, self.empty = ("━", "━") if _can_print("━", self.stream) else ("=", ".")
        self.color = self.dynamic and self.fill == "━" and not os.environ.get("NO_COLOR")
        self.start = time.perf_counter()
        self.last_draw = -float("inf")      # the first update is always drawn
        self.last_width = 0

    def _bar(self, current):
        if self.target is None:
            return ""
        done = int(self.width * current / max(self.target, 1))
        if self.color:       # Keras draws the done part in green, the rest in grey
            return f"\x1b[32m{self.fill * done}\x1b[0m\x1b[37m{self.empty * (self.width - done)}\x1b[0m"
        if self.fill == "=":
            arrow = ">" if 0 < done < self.width else ""
            return "[" + "=" * max(done - len(arrow), 0) + arrow + "." * (self.width - done) + "]"
        return self.fill * done + " " * (self.width - done) if done < self.width else self.fill * done

    def line(self, current, values, finished):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(current, 1)
        count = f"{current}/{self.target}" if self.target else f"{current}"
        if finished or not self.target:
            timing = f"{_format_time(elapsed)} {_format_time(per_step, True)}"
        else:
            timing = f"{_format_time(per_step * (self.target - current))} {_format_time(per_step, True)}"
        if self.verbose == 2:          # Keras's semi-verbose line: "1875/1875 - 2s - 1ms/step - loss: ..."
            parts = [count, _format_time(elapsed), _format_time(per_step, True)]
        else:
            parts = [f"{count} {self._bar(current)} {timing}".replace("  ", " ")]
        for key in sorted(values):
            value = values[key]
            parts.append(f"{key}: {value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{key}: {value:.4e}")
        return " - ".join(parts)

    def update(self, current, values, finished=False):
        if self.verbose == 0:
            return
        now = time.perf_counter()
        if not finished and (not self.dynamic or self.verbose != 1 or now - self.last_draw < self.interval):
            return
        self.last_draw = now
        text = self.line(current, values, finished)
        if self.dynamic and self.verbose == 1:
            # erase the rest of the old line: ANSI "\x1b[K" where the console is Unicode-capable,
            # else (a legacy cp1252 console) spaces, so no escape codes are printed as garbage
            clear = "\x1b[K" if self.fill == "━" else " " * max(self.last_width - len(text), 0)
            self.last_width = len(text)
            self.stream.write("\r" + text + clear + ("\n" if finished else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a Progbar per epoch (verbose=1), or one summary line per epoch (2)."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs")
        sys.stdout.write(f"Epoch {epoch + 1}/{epochs}\n")
        self.bar = Progbar(self.params.get("steps"), verbose=self.verbose)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.params.get("steps"), logs or {}, finished=True)


# -- the other Keras callbacks live in callbacks_extra.py (and BackupAndRestore in callbacks_backup.py)
from .callbacks_extra import (BackupAndRestore, CSVLogger, EarlyStopping, LambdaCallback,  # noqa: E402,F401
                              LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)
