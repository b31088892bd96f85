"""compile / fit / evaluate / predict: the training loop in readable steps.

One training step (``train_step``)::

    y_pred = model(x_batch, training=True)          forward, recording the graph
    loss   = loss_fn(y_batch, y_pred, sample_weight) mean over the batch
    loss.backward()                                 chain rule: dL/dw for every weight
    optimizer.apply_gradients(zip(grads, weights))   w ← w − (update rule)

Batch, stochastic and mini-batch gradient descent are the same loop with ``batch_size=len(x)``,
``batch_size=1`` and the default ``batch_size=32``. A partial last batch is kept; the epoch loss is
the mean of the batch losses weighted by batch size (Keras), and ``batch_size > len(x)`` means one
batch of everything.
"""
import contextlib
import math
import signal
import sys
import threading
import warnings

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from .. import callbacks as callbacks_mod
from .. import _blas, config
from ..engine import Tensor, no_grad
from . import checks, data_parallel, prefetch


def _fixed_point(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0. Received: {name}={value!r}")
    return int(value)


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1 if getattr(sys.stdout, "isatty", lambda: False)() else 2
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: {verbose!r}")
    return verbose


class _CtrlC:
    """Ctrl-C during ``fit``: the first press asks the loop to stop at the next batch boundary (the
    handler only sets flags, so no step is cut in half); a second press raises KeyboardInterrupt at once.
    Installed only in the main thread and only over Python's default handler."""

    def __init__(self, model):
        self.model, self.requested, self.where, self.previous = model, False, None, None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.model.stop_training = True

    def message(self, finished):
        if self.where is None:
            where = "after an epoch had finished"
        else:
            epoch, batch, steps = self.where
            where = (f"in epoch {epoch + 1} after batch {batch}/{steps}; that epoch's partial results are not "
                     "in the History")
        return (f"Training interrupted (Ctrl-C) {where}. It stopped at a batch boundary, so the weights are "
                f"consistent (those after the last whole batch). fit returns the History of the {finished} "
                "finished epoch(s). (Press Ctrl-C twice to stop at once.)")


class Trainer:
    """Mixed into ``Sequential``: everything about training, evaluation and inference."""

    compiled = False
    stop_training = False
    interrupted = False      # True after a fit that Ctrl-C stopped

    # -- compile -------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Choose the optimizer, the loss and the metrics (by name or object), as in Keras."""
        unknown = set(kwargs) - {"loss_weights", "weighted_metrics", "run_eagerly", "steps_per_execution",
                                 "jit_compile", "auto_scale_loss"}
        if unknown:
            raise TypeError(f"compile() got unexpected keyword arguments {sorted(unknown)}.")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'.")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_mod.Metric)) or callable(metrics):
            metrics = [metrics]
        self._metric_specs = list(metrics)
        for spec in self._metric_specs:      # unknown names fail now, not after the first batch
            if isinstance(spec, str):
                metrics_mod.get(spec, (None, 1), (None, 2))
        self.metrics = []
        self.compiled = True
        self.compile_config = {"optimizer": optimizers_mod.serialize(self.optimizer),
                               "loss": losses_mod.serialize(self.loss),
                               "metrics": [m if isinstance(m, str) else m.name for m in self._metric_specs]}
        self._warn_logits_mismatch()

    def _warn_logits_mismatch(self):
        last = self._final_activation()
        from_logits = getattr(self.loss, "from_logits", False)
        if from_logits and last in ("softmax", "sigmoid"):
            warnings.warn(f"loss {self.loss.name!r} has from_logits=True but the last layer applies "
                          f"{last}: the outputs are probabilities, not logits. Was this intended?",
                          UserWarning, stacklevel=3)

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before {what}().")

    def _build_metrics(self, y, y_pred_shape):
        y_shape = (None,) + tuple(np.shape(y)[1:])
        self.metrics = [metrics_mod.get(spec, y_shape, y_pred_shape) for spec in self._metric_specs]

    # -- shared checks -------------------------------------------------------------------------------
    def _prepare(self, x, y=None, sample_weight=None, name="x"):
        dtype = self.dtype
        x = checks.as_array(x, name, dtype)
        checks.check_input_shape(self, x, name)
        if not self.built:
            self.build((None,) + x.shape[1:])
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 0 or len(y) == 0:
                raise ValueError(f"y is empty or a scalar. Received shape {y.shape}.")
            losses_mod.validate_targets(self.loss, y, self.output_shape)
        if sample_weight is not None:
            sample_weight = checks.as_array(sample_weight, "sample_weight", dtype)
        checks.check_lengths(x, y, sample_weight)
        return x, y, sample_weight

    # -- one step --------------------------------------------------------------------------------------
    def train_step(self, x, y, sample_weight=None):
        """Forward, loss, backward, update on one batch; returns the batch loss (float) and y_pred."""
        weights = self.trainable_weights
        for w in weights:
            w.grad = None
        y_pred = self._forward(Tensor(x, dtype=self.dtype), training=True)
        loss = self.loss(y, y_pred, sample_weight=sample_weight)
        value = float(loss.data)
        if not math.isfinite(value):
            return value, y_pred.data
        loss.backward()
        self.optimizer.apply_gradients([(w.grad, w) for w in weights if w.grad is not None])
        return value, y_pred.data

    def _update_metrics(self, y, y_pred, sample_weight):
        for m in self.metrics:
            m.update_state(y, y_pred, sample_weight=sample_weight)

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0):
        """Train for ``epochs`` passes over (x, y); returns a ``History`` (Keras semantics).

        Ctrl-C (SIGINT) stops at the next batch boundary: the weights are those after the last whole
        batch, a ``UserWarning`` says so, ``model.interrupted`` is True and the ``History`` of the finished
        epochs is returned (an unfinished epoch gets no ``on_epoch_end``). A second Ctrl-C raises
        ``KeyboardInterrupt`` at once. ``BackupAndRestore`` may move ``initial_epoch`` on when it restores.
        """
        self._require_compiled("fit")
        batch_size = checks.positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs, initial_epoch = _fixed_point(epochs, "epochs"), _fixed_point(initial_epoch, "initial_epoch")
        if epochs < initial_epoch:
            raise ValueError(f"epochs ({epochs}) must be >= initial_epoch ({initial_epoch}).")
        verbose = _resolve_verbose(verbose)
        x, y, sample_weight = self._prepare(x, y, sample_weight)
        if y is None:
            raise ValueError("fit() needs targets y.")
        if class_weight is not None:
            sample_weight = checks.class_weights_to_sample_weights(class_weight, y, sample_weight)
        val = None
        if validation_data is not None:
            if validation_split:
                warnings.warn("validation_data and validation_split were both given; validation_split "
                              "is ignored (Keras semantics).", UserWarning, stacklevel=2)
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 f"sample_weight_val). Received: {type(validation_data).__name__} of "
                                 f"length {len(validation_data) if hasattr(validation_data, '__len__') else '?'}.")
            sw_val = validation_data[2] if len(validation_data) == 3 else None
            val = self._prepare(validation_data[0], validation_data[1], sw_val, name="x_val")
        elif validation_split:
            (x, y, sample_weight), val = checks.validation_split_tail(x, y, sample_weight, validation_split)
        else:
            checks.check_split(validation_split)
        self._build_metrics(y, self.output_shape)

        n = len(x)
        steps = -(-n // batch_size)
        history = callbacks_mod.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_mod.ProgbarLogger(verbose))
        cbs.append(history)
        keys = ["loss"] + [m.name for m in self.metrics]       # the keys every epoch's logs will hold
        keys += ["val_" + k for k in keys] if val is not None else []
        cb = callbacks_mod.CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                                    "metrics": keys})
        self.stop_training, self.interrupted, self._initial_epoch = False, False, initial_epoch
        cb.on_train_begin()
        initial_epoch = min(self._initial_epoch, epochs)        # moved on if BackupAndRestore restored
        with _blas.for_batch(batch_size), _CtrlC(self) as self._ctrl_c:
            self._epochs(x, y, sample_weight, val, batch_size, epochs, initial_epoch, shuffle, cb)
        self.interrupted = self._ctrl_c.requested
        if self.interrupted:
            warnings.warn(self._ctrl_c.message(len(history.epoch)), UserWarning, stacklevel=2)
        cb.on_train_end()
        self.history = history
        return history

    def _epochs(self, x, y, sample_weight, val, batch_size, epochs, initial_epoch, shuffle, cb):
        split = ahead = None
        steps = -(-len(x) // batch_size) * (epochs - initial_epoch)
        if data_parallel.qualifies(self, batch_size):      # each step shared with a worker process
            split = data_parallel.SplitSteps(self, x, y, sample_weight, batch_size, steps)
        elif shuffle and prefetch.wanted(self, x, batch_size, steps):
            try:                                         # a worker that gathers the next batches
                ahead = prefetch.Prefetcher(x, batch_size)
            except OSError:                              # no process to spare: each step gathers its own
                pass
        with split or ahead or contextlib.nullcontext():
            self._epoch_loop(x, y, sample_weight, val, batch_size, epochs, initial_epoch, shuffle, cb, split,
                             ahead)

    def _epoch_loop(self, x, y, sample_weight, val, batch_size, epochs, initial_epoch, shuffle, cb, split,
                    ahead=None):
        n = len(x)
        steps = -(-n // batch_size)
        rng = config.rng()
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            snapshot = self.get_weights()
            for m in self.metrics:
                m.reset_state()
            order = rng.permutation(n) if shuffle else None
            if split is not None:
                split.new_epoch(order)
            if ahead is not None:
                ahead.new_epoch(order)
            loss_sum, seen = 0.0, 0
            for step in range(steps):
                cb.on_train_batch_begin(step)
                sl = slice(step * batch_size, min((step + 1) * batch_size, n))
                if split is not None:
                    value, y_pred, yb, swb = split.step(sl)
                else:
                    idx = order[sl] if order is not None else sl
                    yb = y[idx]
                    swb = None if sample_weight is None else sample_weight[idx]
                    xb = ahead.batch(step, idx) if ahead is not None else x[idx]
                    value, y_pred = self.train_step(xb, yb, swb)
                if not math.isfinite(value):
                    self._stop_on_nonfinite(value, epoch, step, snapshot)
                    break
                loss_sum += value * len(yb)
                seen += len(yb)
                self._update_metrics(yb, y_pred, swb)
                if cb.wants_batch_logs:
                    cb.on_train_batch_end(step, self._logs(loss_sum / seen))
                if self.stop_training:
                    break
            if seen == 0:
                break
            if self._ctrl_c.requested:           # Ctrl-C: this epoch did not finish, so no on_epoch_end
                self._ctrl_c.where = (epoch, step + 1, steps)
                break
            logs = self._logs(loss_sum / seen)
            if val is not None and not self.stop_training:
                val_logs = self.evaluate(val[0], val[1], batch_size=batch_size, verbose=0, callbacks=cb,
                                         sample_weight=val[2], return_dict=True, _checked=True)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break

    def _logs(self, loss):
        logs = {"loss": loss}
        for m in self.metrics:
            logs[m.name] = m.result()
        return logs

    def _stop_on_nonfinite(self, value, epoch, step, snapshot):
        self.stop_training = True
        restored = ""
        if not all(np.isfinite(w).all() for w in self.get_weights()):
            self.set_weights(snapshot)
            restored = f" The weights were restored to their values at the start of epoch {epoch + 1}."
        lr = getattr(self.optimizer, "learning_rate", None)
        warnings.warn(f"loss became {value} at epoch {epoch + 1}, batch {step + 1}; learning rate {lr:g} "
                      f"may be too high. Training stopped.{restored}", RuntimeWarning, stacklevel=3)

    # -- evaluate / predict -------------------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=32, verbose="auto", sample_weight=None,
                 return_dict=False, callbacks=None, _checked=False):
        """Loss (and metrics) over (x, y): a scalar if there are no metrics, else a list in compile order.

        ``callbacks`` get ``on_test_begin``, ``on_test_batch_begin/end`` and ``on_test_end`` (as do the
        callbacks of ``fit`` during its validation).
        """
        self._require_compiled("evaluate")
        batch_size = checks.positive_int(32 if batch_size is None else batch_size, "batch_size")
        if not _checked:
            x, y, sample_weight = self._prepare(x, y, sample_weight)
            if y is None:
                raise ValueError("evaluate() needs targets y.")
        verbose = _resolve_verbose(verbose)
        if not self.metrics or not _checked:
            self._build_metrics(y, self.output_shape)
        for m in self.metrics:
            m.reset_state()
        n = len(x)
        loss_sum = 0.0
        bar = callbacks_mod.Progbar(-(-n // batch_size), verbose=verbose)
        cb = callbacks if isinstance(callbacks, callbacks_mod.CallbackList) else callbacks_mod.CallbackList(
            callbacks or [], self, {"verbose": verbose, "epochs": 1, "steps": -(-n // batch_size)})
        cb.on_test_begin()
        with no_grad(), _blas.for_batch(batch_size):
            for step, start in enumerate(range(0, n, batch_size)):
                cb.on_test_batch_begin(step)
                sl = slice(start, start + batch_size)
                swb = None if sample_weight is None else sample_weight[sl]
                y_pred = self._forward(Tensor(x[sl], dtype=self.dtype), training=False)
                loss_sum += float(self.loss(y[sl], y_pred, sample_weight=swb).data) * len(x[sl])
                self._update_metrics(y[sl], y_pred.data, swb)
                bar.update(step + 1, self._logs(loss_sum / min(start + batch_size, n)), finished=start + batch_size >= n)
                if cb.wants_test_batch_logs:
                    cb.on_test_batch_end(step, self._logs(loss_sum / min(start + batch_size, n)))
        logs = self._logs(loss_sum / n)
        cb.on_test_end(logs)
        if return_dict:
            return logs
        return logs["loss"] if not self.metrics else [logs["loss"]] + [logs[m.name] for m in self.metrics]

    def predict(self, x, batch_size=32, verbose="auto", callbacks=None):
        """Model outputs for x, batch by batch, as one ndarray (no graph is recorded).

        ``callbacks`` get ``on_predict_begin``, ``on_predict_batch_begin/end`` (logs ``{"outputs": ...}``)
        and ``on_predict_end``.
        """
        batch_size = checks.positive_int(32 if batch_size is None else batch_size, "batch_size")
        x = checks.as_array(x, "x", self.dtype)
        checks.check_input_shape(self, x)
        if not self.built:
            self.build((None,) + x.shape[1:])
        verbose = _resolve_verbose(verbose)
        n = len(x)
        bar = callbacks_mod.Progbar(-(-n // batch_size), verbose=verbose)
        outputs = []
        cb = callbacks_mod.CallbackList(callbacks or [], self, {"verbose": verbose, "epochs": 1,
                                                               "steps": -(-n // batch_size)})
        cb.on_predict_begin()
        with no_grad(), _blas.for_batch(batch_size):
            for step, start in enumerate(range(0, n, batch_size)):
                cb.on_predict_batch_begin(step)
                outputs.append(self._forward(Tensor(x[start:start + batch_size], dtype=self.dtype)).data)
                bar.update(step + 1, {}, finished=start + batch_size >= n)
                cb.on_predict_batch_end(step, {"outputs": outputs[-1]})
        cb.on_predict_end()
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    # -- single batches ------------------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One gradient step on exactly this batch; returns the loss (and metrics) of this batch."""
        self._require_compiled("train_on_batch")
        x, y, sample_weight = self._prepare(x, y, sample_weight)
        if class_weight is not None:
            sample_weight = checks.class_weights_to_sample_weights(class_weight, y, sample_weight)
        self._build_metrics(y, self.output_shape)
        value, y_pred = self.train_step(x, y, sample_weight)
        if not np.isfinite(value):
            raise FloatingPointError(f"loss became {value} on this batch; the weights were not updated.")
        self._update_metrics(y, y_pred, sample_weight)
        return self._batch_result(value, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        x, y, sample_weight = self._prepare(x, y, sample_weight)
        self._build_metrics(y, self.output_shape)
        with no_grad():
            y_pred = self._forward(Tensor(x, dtype=self.dtype), training=False)
            value = float(self.loss(y, y_pred, sample_weight=sample_weight).data)
        self._update_metrics(y, y_pred.data, sample_weight)
        return self._batch_result(value, return_dict)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(len(np.asarray(x)), 1), verbose=0)

    def _batch_result(self, value, return_dict):
        logs = self._logs(value)
        if return_dict:
            return logs
        return value if not self.metrics else [value] + [logs[m.name] for m in self.metrics]
