"""Optimizers, in order of increasing complexity: SGD (with momentum), RMSprop, Adam.

Each class's docstring is its update rule in the code's symbols (w weight, g gradient, lr learning
rate, t = iterations + 1 the step number). The numbers follow Keras 3 exactly, which differs from
PyTorch in places (each docstring says where). Updates are done in place on ``var.data`` with
``out=`` and scratch buffers made once per variable, so a training step allocates nothing here.

Batch, stochastic and mini-batch gradient descent are the same optimizer with
``fit(batch_size=len(x))``, ``batch_size=1`` and the default ``batch_size=32``.
"""
import difflib
import math
import warnings

import numpy as np


class Optimizer:
    """Base class: ``apply_gradients([(g, var), ...])`` updates each Variable in place.

    Args:
        learning_rate: a finite float > 0 (0 is allowed with a warning). Settable later
            (``opt.learning_rate = 1e-4``), e.g. by a callback.
        name: the optimizer's name.

    Attributes:
        iterations: number of steps applied so far (an int).
    """

    def __init__(self, learning_rate, name=None, **kwargs):
        if "lr" in kwargs:
            raise TypeError(f"{type(self).__name__}: the argument `lr` is no longer supported; "
                            f"use `learning_rate` instead. Received: lr={kwargs['lr']!r}")
        if kwargs:
            bad = sorted(kwargs)[0]
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {bad!r}. "
                            f"Accepted: {', '.join(self._config_keys())}, name.")
        self.name = name or type(self).__name__.lower()
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = {}     # id(var) -> (var, [state and scratch arrays]); var kept so ids stay unique

    # -- learning rate ------------------------------------------------------------------------
    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _check_hyper("learning_rate", value, type(self).__name__, allow_zero=True)
        if self._learning_rate == 0:
            warnings.warn(f"{type(self).__name__}: learning_rate=0, so no learning will happen "
                          f"(the weights will not change).", stacklevel=3)

    # -- the update --------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Apply one step: for each ``(g, var)``, update ``var.data`` in place. ``g=None`` is skipped."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        for g, var in pairs:
            w = var.data
            if not isinstance(g, np.ndarray):                  # a Tensor, list, ... (ndarray.data is a buffer)
                g = np.asarray(getattr(g, "data", g))
            if g.shape != w.shape:
                raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for variable "
                                 f"{getattr(var, 'name', '?')!r} of shape {w.shape}; they must match.")
            if g.dtype != w.dtype:
                g = g.astype(w.dtype)
            self._update(w, g, self._slots_of(var), w.dtype.type)
        self.iterations += 1

    def _slots_of(self, var):
        """``var``'s state and scratch arrays (``_make_slots``), made at its first update."""
        entry = self._slots.get(id(var))
        if entry is None or entry[0] is not var:
            entry = self._slots[id(var)] = (var, self._make_slots(var.data))
        return entry[1]

    def apply(self, grads, trainable_variables):
        """Keras 3 spelling: ``apply(grads, variables)`` = ``apply_gradients(zip(grads, variables))``."""
        self.apply_gradients(zip(grads, trainable_variables))

    def _make_slots(self, w):
        """The per-variable state and scratch arrays, zero-filled, each of ``w``'s shape and dtype."""
        return [np.zeros_like(w) for _ in range(self._n_slots())]

    def _n_slots(self):
        raise NotImplementedError

    def _n_state(self):
        """How many of the first slots are state (saved with the model); the rest are scratch."""
        raise NotImplementedError

    # -- state, for saving and restoring a training run ----------------------------------------
    def get_state(self, variables):
        """Copies of the state arrays (momentum, moments, ...) of ``variables``, in order:
        ``_n_state()`` arrays per variable; zeros for a variable not stepped yet."""
        state = []
        for var in variables:
            entry = self._slots.get(id(var))
            slots = entry[1] if entry is not None and entry[0] is var else self._make_slots(var.data)
            state += [a.copy() for a in slots[:self._n_state()]]
        return state

    def set_state(self, variables, state):
        """Restore arrays from ``get_state(variables)`` (count and shapes are checked)."""
        variables, state, k = list(variables), list(state), self._n_state()
        if len(state) != k * len(variables):
            raise ValueError(f"{type(self).__name__}.set_state: expected {k} arrays per variable "
                             f"({k * len(variables)} for {len(variables)} variables), received {len(state)}.")
        for i, var in enumerate(variables):
            slots = self._make_slots(var.data)
            for j in range(k):
                a = np.asarray(state[i * k + j])
                if a.shape != var.shape:
                    raise ValueError(f"{type(self).__name__}.set_state: state array {i * k + j} has shape "
                                     f"{a.shape}, but variable {getattr(var, 'name', '?')!r} has shape {var.shape}.")
                slots[j][...] = a
            self._slots[id(var)] = (var, slots)

    def _update(self, w, g, slots, f):
        """Update ``w`` in place from ``g``; ``f`` casts Python floats to w's dtype."""
        raise NotImplementedError

    # -- config ------------------------------------------------------------------------------
    def _config_keys(self):
        return ["learning_rate"]

    def get_config(self):
        return {"name": self.name, **{k: getattr(self, k) for k in self._config_keys()}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self.learning_rate} iterations={self.iterations}>"


def _check_hyper(name, value, cls, allow_zero=False, below_one=False):
    """A finite float hyper-parameter: >= 0 (or > 0), and < 1 for betas/rho."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: {name} must be a float. Received: {name}={value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero) or (below_one and value >= 1):
        rng = "[0, 1)" if below_one else ("a finite float >= 0" if allow_zero else "a finite float > 0")
        raise ValueError(f"{cls}: invalid {name}; expected {rng}. Received: {name}={value}")
    return value


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum, in Keras's velocity form::

        momentum == 0:   w = w - lr * g
        otherwise:       velocity = momentum * velocity - lr * g
                         w = w + velocity                               (nesterov=False)
                         w = w + momentum * velocity - lr * g          (nesterov=True)

    Defaults as Keras: ``learning_rate=0.01, momentum=0.0, nesterov=False``.
    PyTorch writes buf = momentum·buf + g; w -= lr·buf: the same steps while lr is constant
    (velocity = −lr·buf), but PyTorch's lr default is required and a changed lr rescales the old buf.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.momentum = _check_hyper("momentum", momentum, "SGD", allow_zero=True)
        if self.momentum > 1:
            raise ValueError(f"SGD: momentum must be in [0, 1]. Received: momentum={momentum}")
        self.nesterov = bool(nesterov)

    def _n_slots(self):
        return 3 if self.momentum else 1                # [scratch] or [velocity, scratch, scratch2]

    def _n_state(self):
        return 1 if self.momentum else 0

    def _update(self, w, g, slots, f):
        lr = f(self.learning_rate)
        if not self.momentum:
            step = np.multiply(g, lr, out=slots[0])
            w -= step                                      # w = w - lr * g
            return
        velocity, lr_g, tmp = slots
        np.multiply(g, lr, out=lr_g)
        velocity *= f(self.momentum)
        velocity -= lr_g                                   # velocity = momentum * velocity - lr * g
        if self.nesterov:
            np.multiply(velocity, f(self.momentum), out=tmp)
            tmp -= lr_g
            w += tmp                                       # w = w + momentum * velocity - lr * g
        else:
            w += velocity                                  # w = w + velocity

    def _config_keys(self):
        return ["learning_rate", "momentum", "nesterov"]


class RMSprop(Optimizer):
    """RMSprop, as Keras 3 computes it::

        v = rho * v + (1 - rho) * g²                       (running mean of squared gradients)
        centered=False:  denominator = v + epsilon
        centered=True:   a = rho * a + (1 - rho) * g;  denominator = v - a² + epsilon
        increment = lr * g / sqrt(denominator)
        momentum == 0:   w = w - increment
        otherwise:       m = momentum * m + increment;  w = w - m

    Defaults as Keras: ``learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False``.
    PyTorch differs: ``alpha=0.99`` (its rho), ``eps=1e-8`` and eps added *outside* the square root,
    ``lr * g / (sqrt(v) + eps)``; Hinton's lecture 6e had rho=0.9 and no epsilon.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = _check_hyper("rho", rho, "RMSprop", allow_zero=True, below_one=True)
        self.momentum = _check_hyper("momentum", momentum, "RMSprop", allow_zero=True, below_one=True)
        self.epsilon = _check_hyper("epsilon", epsilon, "RMSprop")
        self.centered = bool(centered)

    def _n_slots(self):
        return 5                                           # v, m, a, scratch, scratch2

    def _n_state(self):
        return 3

    def _update(self, w, g, slots, f):
        v, m, a, den, inc = slots
        rho, one_minus_rho = f(self.rho), f(1 - self.rho)
        v *= rho
        np.square(g, out=den)
        den *= one_minus_rho
        v += den                                           # v = rho * v + (1 - rho) * g²
        if self.centered:
            a *= rho
            np.multiply(g, one_minus_rho, out=den)
            a += den                                       # a = rho * a + (1 - rho) * g
            np.square(a, out=den)
            np.subtract(v, den, out=den)
            den += f(self.epsilon)                         # v - a² + epsilon
        else:
            np.add(v, f(self.epsilon), out=den)            # v + epsilon
        np.sqrt(den, out=den)
        np.multiply(g, f(self.learning_rate), out=inc)
        inc /= den                                         # increment = lr * g / sqrt(denominator)
        if self.momentum:
            m *= f(self.momentum)
            m += inc                                       # m = momentum * m + increment
            w -= m
        else:
            w -= inc

    def _config_keys(self):
        return ["learning_rate", "rho", "momentum", "epsilon", "centered"]


class Adam(Optimizer):
    """Adam, as Keras 3 computes it ("epsilon hat" form), with t = iterations + 1::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)     (bias correction folded into the step)
        m = m + (g - m) * (1 - beta_1)                          (= beta_1 * m + (1 - beta_1) * g)
        v = v + (g² - v) * (1 - beta_2)                         (= beta_2 * v + (1 - beta_2) * g²)
        amsgrad=True:  v_hat = max(v_hat, v), used instead of v below
        w = w - (m * alpha) / (sqrt(v) + epsilon)

    Defaults as Keras: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``.
    The paper's Algorithm 1 (and PyTorch, eps=1e-8) adds epsilon to the *bias-corrected*
    sqrt(v̂_t); here it is added to the uncorrected sqrt(v_t) (the paper's "epsilon hat", end of its
    section 2), so the two agree exactly only with epsilon_hat = eps · sqrt(1 - beta_2**t).
    The first step moves every weight by lr · sign(g) (up to epsilon).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1 = _check_hyper("beta_1", beta_1, "Adam", allow_zero=True, below_one=True)
        self.beta_2 = _check_hyper("beta_2", beta_2, "Adam", allow_zero=True, below_one=True)
        self.epsilon = _check_hyper("epsilon", epsilon, "Adam")
        self.amsgrad = bool(amsgrad)

    def _n_slots(self):
        return self._n_state() + 2                         # m, v [, v_hat], scratch, scratch2

    def _n_state(self):
        return 3 if self.amsgrad else 2

    def _update(self, w, g, slots, f):
        m, v, den, step = slots[0], slots[1], slots[-2], slots[-1]
        alpha, one_minus_beta_1, one_minus_beta_2, epsilon = self._step_constants(f)
        np.subtract(g, m, out=step)
        step *= one_minus_beta_1
        m += step                                          # m = m + (g - m) * (1 - beta_1)
        np.square(g, out=step)
        step -= v
        step *= one_minus_beta_2
        v += step                                          # v = v + (g² - v) * (1 - beta_2)
        if self.amsgrad:
            v = np.maximum(slots[2], v, out=slots[2])      # v_hat = max(v_hat, v)
        np.sqrt(v, out=den)
        den += epsilon                                     # sqrt(v) + epsilon
        np.multiply(m, alpha, out=step)
        step /= den
        w -= step                                          # w = w - (m * alpha) / (sqrt(v) + epsilon)

    def _step_constants(self, f):
        """``(alpha, 1 - beta_1, 1 - beta_2, epsilon)`` in w's dtype: alpha once per step, the others
        once (and again only if a hyperparameter changes, e.g. by a callback); not once per variable."""
        key = (self.iterations, self._learning_rate, self.beta_1, self.beta_2, self.epsilon, f)
        if getattr(self, "_constants_key", None) != key:
            if getattr(self, "_constants_key", (None,) * 6)[2:] != key[2:]:
                self._hyper_constants = (f(self.beta_1), f(self.beta_2), f(1),
                                         f(1 - self.beta_1), f(1 - self.beta_2), f(self.epsilon))
            beta_1, beta_2, one = self._hyper_constants[:3]
            t = f(self.iterations + 1)
            alpha = f(self._learning_rate) * np.sqrt(one - beta_2 ** t) / (one - beta_1 ** t)
            self._constants_key = key
            self._constants = (alpha,) + self._hyper_constants[3:]
        return self._constants

    def _config_keys(self):
        return ["learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"]


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def serialize(optimizer):
    """Keras-style config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return {"module": "glassnet.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config):
    return get(config["class_name"]).from_config(config.get("config") or {})


def get(identifier):
    """An optimizer from a name ("sgd", "adam", "rmsprop", any case), a config dict or an instance.

    A name gives a fresh optimizer with Keras's default hyper-parameters.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is not None:
            return cls()
        valid = sorted(_BY_NAME)
        close = difflib.get_close_matches(identifier.lower(), valid, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"Unknown optimizer: {identifier!r}{hint}. Valid names: "
                         f"{', '.join(repr(v) for v in valid)} (case-insensitive), or pass an "
                         f"optimizer object such as glassnet.optimizers.Adam(learning_rate=1e-3).")
    raise TypeError(f"Could not interpret optimizer: expected a name such as 'adam' or an Optimizer "
                    f"instance. Received: {identifier!r} ({type(identifier).__name__})")
