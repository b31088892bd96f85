"""Trace: watch gradient descent step by step — the loss, and each weight's gradient and update.

For small models (a handful of weights), ``Trace`` records one row per training step::

    step  loss  ∂L/∂w  Δw = w_after − w_before  w_after      (for every scalar weight w)

It is a callback, so ``model.fit(x, y, callbacks=[trace])`` fills it; and it is the engine of a
gradient descent written by hand, which calls ``trace.record(loss, before, grads, after)`` itself.
Then ``print(trace.table())`` shows the rows, and ``trace.loss``, ``trace.grads["w1"]``,
``trace.updates["w1"]`` and ``trace.values["w1"]`` return them as arrays (one entry per step).

How the callback sees the gradients: ``fit``'s training step clears every ``w.grad``, runs the
backward pass, and the optimizer then updates the weights in place. So in ``on_train_batch_end``
each ``w.grad`` still holds this step's gradient, and the update is the weight now minus the copy
taken in ``on_train_batch_begin``. (With plain SGD the update is ``−learning_rate · grad``.)
"""
import numpy as np

from .callbacks import Callback
from .engine import Tensor


class Trace(Callback):
    """``Trace(names=None, stop_below=None, max_params=100)``: a step-by-step record of training.

    Args:
        names: labels for the scalar weights, in the order of ``model.trainable_weights``
            flattened (e.g. ``["w1", "w2", "bias"]`` for ``Dense(1)`` on two features).
            Default: the weight names, with an index for arrays (``kernel[1,0]``).
        stop_below: stop training after the first step whose loss is ``<=`` this value (the
            notes' "loss threshold"); ``None`` trains for all epochs.
        max_params: the most scalar weights it will record (a trace is for small models).

    Attributes (arrays with one entry per recorded step):
        loss: (S,) the loss. In ``fit`` this is the loss Keras's batch logs report: the mean over
            the epoch so far, which is the step's own loss when an epoch is one batch.
        grads, updates, values: dicts ``name -> (S,)``: ∂L/∂w, the change of w, and w after the step.
        epochs, batches: (S,) the epoch and the batch index of each step.
        stopped: True when ``stop_below`` ended training.

    Example (one step of gradient descent on L = w², by hand)::

        >>> import glassnet as gn
        >>> trace = Trace(names=["w"])
        >>> w = gn.Variable(3.0, name="w", dtype="float64")
        >>> loss = w ** 2
        >>> loss.backward()                                   # ∂L/∂w = 2w = 6
        >>> before = w.data.copy()
        >>> w.assign(w.data - 0.1 * w.grad)                   # w ← 3 − 0.1 × 6 = 2.4
        >>> trace.record(loss, [before], [w.grad], [w.data])
        >>> [round(float(a["w"][0]), 4) for a in (trace.grads, trace.updates, trace.values)]
        [6.0, -0.6, 2.4]
    """

    def __init__(self, names=None, stop_below=None, max_params=100):
        super().__init__()
        self.names = list(names) if names is not None else None
        self.stop_below = stop_below
        self.max_params = max_params
        self.stopped = False
        self._rows, self._epochs, self._batches = [], [], []
        self._epoch, self._before = 0, None

    # -- recording ----------------------------------------------------------------------------------
    def record(self, loss, before, grads, after, epoch=None, batch=0):
        """Add one step: ``loss`` (number or Tensor) and, per weight, its value before, gradient, value after.

        ``before``, ``grads`` and ``after`` are sequences of arrays (or Tensors) in the same order;
        each is flattened, so the k-th scalar weight is labelled ``names[k]``.
        """
        before, grads, after = (_flatten(a) for a in (before, grads, after))
        if not len(before) == len(grads) == len(after):
            raise ValueError(f"record: before, grads and after must hold the same number of values. "
                             f"Received {len(before)}, {len(grads)} and {len(after)}.")
        if self.names is None:
            self.names = [f"w{k + 1}" for k in range(len(after))]
        if len(self.names) != len(after):
            raise ValueError(f"record: {len(after)} weights were given, but the trace has "
                             f"{len(self.names)} names {self.names}. Expected one name per scalar weight.")
        value = float(np.asarray(loss.data if isinstance(loss, Tensor) else loss))
        self._rows.append((value, grads, after - before, after))
        self._epochs.append(len(self._epochs) if epoch is None else epoch)
        self._batches.append(batch)
        if self.stop_below is not None and value <= self.stop_below:
            self.stopped = True

    # -- the callback hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        weights = self.model.trainable_weights
        count = sum(w.data.size for w in weights)
        if count > self.max_params:
            raise ValueError(f"Trace records every weight of every step, for small models: this model "
                             f"has {count:,} trainable weights, more than max_params={self.max_params}. "
                             "Hint: trace a smaller model, or raise max_params.")
        if self.names is None:
            self.names = [label for w in weights for label in _labels(w)]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._before = [w.data.copy() for w in self.model.trainable_weights]

    def on_train_batch_end(self, batch, logs=None):
        weights = self.model.trainable_weights
        grads = [np.zeros_like(w.data) if w.grad is None else w.grad for w in weights]
        self.record(logs["loss"], self._before, grads, [w.data for w in weights], self._epoch, batch)
        if self.stopped:
            self.model.stop_training = True

    # -- reading -----------------------------------------------------------------------------------
    def __len__(self):
        return len(self._rows)

    @property
    def loss(self):
        return np.array([row[0] for row in self._rows])

    def _column(self, part):
        table = np.array([row[part] for row in self._rows]).reshape(len(self._rows), -1)
        return {name: table[:, k] for k, name in enumerate(self.names or [])}

    grads = property(lambda self: self._column(1), doc="name -> (S,) array of ∂L/∂w.")
    updates = property(lambda self: self._column(2), doc="name -> (S,) array of w_after − w_before.")
    values = property(lambda self: self._column(3), doc="name -> (S,) array of w after the step.")
    epochs = property(lambda self: np.array(self._epochs, dtype=int))
    batches = property(lambda self: np.array(self._batches, dtype=int))

    def table(self, first=None, last=None, digits=4):
        """The steps as a text table; ``first``/``last`` keep only that many rows at each end."""
        rows = list(range(len(self._rows)))
        if first is not None or last is not None:
            head, tail = rows[:first or 0], rows[len(rows) - (last or 0):]
            rows = head + ([None] if len(head) + len(tail) < len(rows) else []) + \
                [r for r in tail if r not in head]
        one_batch = not any(self._batches)
        header = ["epoch"] + ([] if one_batch else ["batch"]) + ["loss"]
        header += [f"∂L/∂{n}" for n in self.names or []] + [f"Δ{n}" for n in self.names or []]
        header += list(self.names or [])
        width = max(digits + 6, max((len(h) for h in header), default=0) + 1)
        lines = ["".join(f"{h:>{width}}" for h in header)]
        for r in rows:
            if r is None:
                lines.append(f"{'...':>{width}}")
                continue
            loss, grads, updates, values = self._rows[r]
            cells = [str(self._epochs[r])] + ([] if one_batch else [str(self._batches[r])])
            cells += [f"{v:.{digits}f}" for v in (loss, *grads, *updates, *values)]
            lines.append("".join(f"{c:>{width}}" for c in cells))
        return "\n".join(lines)


def _flatten(arrays):
    parts = [np.asarray(a.data if isinstance(a, Tensor) else a, dtype=np.float64).ravel() for a in arrays]
    return np.concatenate(parts) if parts else np.zeros(0)


def _labels(w):
    if w.data.size == 1:
        return [w.name]
    return [f"{w.name}[{','.join(map(str, i))}]" for i in np.ndindex(w.data.shape)]
