"""The autograd engine: a Tensor is a NumPy array plus what it takes to differentiate it.

Each differentiable op (see ``ops.py``) computes its output array, then records

* ``_parents``  the input Tensors, and
* ``_backward`` a closure ``g -> (d_parent_0, d_parent_1, ...)``: the *local* chain rule,
  turning the upstream gradient ``g = dL/d(out)`` into ``dL/d(input)`` for each input
  (``None`` where an input needs no gradient).

``Tensor.backward()`` seeds ``dL/dL = 1``, visits the graph in reverse topological order
(an explicit stack, no recursion, so graphs thousands of ops deep are fine), adds each
contribution into ``.grad`` (a variable used twice gets both contributions) and then frees the
graph so nothing is kept alive from one training step to the next.

Shape letters used in docstrings across glassnet: N batch, D input features, U units,
H/W height/width, C channels, F filters, KH/KW kernel, SH/SW strides, OH/OW output size.
"""
import contextlib
import threading

import numpy as np

from . import config


class _GradMode(threading.local):
    """Whether ops record a graph, per thread (as PyTorch's grad mode): one thread's ``no_grad()``
    must not switch recording off, or back on, for another."""
    enabled = True


_MODE = _GradMode()


@contextlib.contextmanager
def no_grad():
    """Within this block ops record no graph (inference, optimizer updates); this thread only."""
    previous = _MODE.enabled
    _MODE.enabled = False
    try:
        yield
    finally:
        _MODE.enabled = previous


def is_grad_enabled():
    return _MODE.enabled


def _as_dtype(dtype):
    if dtype is None:
        return np.dtype(config.floatx())
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"Tensor dtype must be a float type ('float32' or 'float64'). Received: dtype={dtype!r}")
    return dt


class Tensor:
    """``Tensor(data, requires_grad=False, dtype=None)``: an n-d array that remembers how it was made.

    Args:
        data: anything ``np.asarray`` accepts (numbers, lists, arrays, Tensors).
        requires_grad: if True, ``backward()`` fills ``.grad`` for this tensor.
        dtype: "float32" (default, ``glassnet.config.floatx()``) or "float64".

    Example (the notes' chain rule)::

        >>> a, b = Tensor(3.0, requires_grad=True), Tensor(2.0, requires_grad=True)
        >>> x = a**2 + 7*b     # x depends on a and b
        >>> z = 4*x            # z depends on x
        >>> z.backward()       # dz/da = dz/dx * dx/da = 4 * 2a ;  dz/db = 4 * 7
        >>> float(a.grad), float(b.grad)
        (24.0, 28.0)
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "op", "_logits", "__weakref__")
    __array_priority__ = 1000  # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is None and isinstance(data, np.ndarray) and data.dtype.kind == "f":
            dt = data.dtype if data.dtype in (np.float32, np.float64) else _as_dtype(None)
        else:
            dt = _as_dtype(dtype)
        try:
            arr = np.asarray(data, dtype=dt)
        except (TypeError, ValueError) as e:
            raise TypeError(f"Tensor data must be numeric. Received: {type(data).__name__} ({e})") from None
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self.op = ""
        self._logits = None  # set by softmax/sigmoid: the input logits, so losses can fuse (as Keras does)

    # -- small conveniences -------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def numpy(self):
        """The underlying NumPy array (not a copy)."""
        return self.data

    def item(self):
        return self.data.item()

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __len__(self):
        return len(self.data)

    def __float__(self):
        return float(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        return f"Tensor({body}{grad}, dtype={self.data.dtype})"

    def zero_grad(self):
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    # -- the reverse sweep --------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Chain rule from this tensor back to every tensor that requires a gradient.

        ``gradient`` is dL/d(self); it may be left out only when self is a scalar (then 1).
        Gradients *accumulate* into ``.grad`` (as in PyTorch); call ``zero_grad()`` between steps.
        Unless ``retain_graph`` is True the graph is freed afterwards.
        """
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() can only be called without a gradient on a scalar; this tensor has "
                    f"shape {self.shape}. Reduce it first (e.g. t.sum().backward()) or pass "
                    f"gradient=np.ones(t.shape).")
            dtype = self.data.dtype
            gradient = np.ones(self.data.shape, dtype) if self.data.ndim else np.array(1, dtype)   # dL/dL
        else:
            gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                                  dtype=self.data.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward(gradient) must have the tensor's shape {self.shape}. "
                                 f"Received shape {gradient.shape}.")
        # Depth-first topological order of the ops, with an explicit stack (no recursion). Leaves
        # (weights, inputs that require grad) only collect gradients: they are not ordered.
        order, leaves, visited, stack = [], [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            key = id(node)
            if key in visited:           # mark when expanded, not when pushed, so that a tensor
                continue                 # is ordered after every op that used it (diamonds)
            visited.add(key)
            if node._backward is None:
                if node.op and node.requires_grad:       # made by an op, then freed
                    raise RuntimeError(
                        f"backward() through a graph that was already freed: a tensor made by op "
                        f"{node.op!r} was part of an earlier backward(). Expected a freshly computed "
                        "result. Hint: recompute the forward pass, or pass retain_graph=True to the "
                        "first backward().")
                leaves.append(node)
                continue
            stack.append((node, True))
            for p in node._parents:
                if p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
        grads = {id(self): gradient}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            for p, dp in zip(node._parents, node._backward(g)):
                if dp is None or not p.requires_grad:
                    continue
                if dp.shape != p.data.shape:
                    raise RuntimeError(f"internal error in op {node.op!r}: gradient shape {dp.shape} "
                                       f"for an input of shape {p.shape}")
                key = id(p)
                grads[key] = dp if key not in grads else grads[key] + dp
            if not retain_graph:
                node._parents, node._backward = (), None
        for leaf in leaves:              # keep each leaf's gradient (an ndarray, even 0-d)
            g = grads.get(id(leaf))
            if g is not None:
                g = np.asarray(g)
                leaf.grad = g if leaf.grad is None else leaf.grad + g

    # -- operators: defined in ops.py, attached below ---------------------------------------
    def __neg__(self):
        return ops.neg(self)

    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return ops.max(self, axis, keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    @property
    def T(self):
        return ops.transpose(self, None)

    # comparisons give plain boolean arrays (not differentiable)
    def __lt__(self, other):
        return self.data < _data(other)

    def __le__(self, other):
        return self.data <= _data(other)

    def __gt__(self, other):
        return self.data > _data(other)

    def __ge__(self, other):
        return self.data >= _data(other)


class Variable(Tensor):
    """A trainable weight: a Tensor that requires grad, with a ``name`` (e.g. "kernel") and ``trainable``."""

    __slots__ = ("name", "trainable")

    def __init__(self, data, name="variable", trainable=True, dtype=None):
        super().__init__(data, requires_grad=trainable, dtype=dtype)
        self.name = name
        self.trainable = trainable

    def assign(self, value):
        """Copy ``value`` into the weight in place (shape must match)."""
        value = np.asarray(value)
        if value.shape != self.data.shape:
            raise ValueError(f"Cannot assign a value of shape {value.shape} to variable {self.name!r} "
                             f"of shape {self.data.shape}.")
        self.data[...] = value

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.data.shape} dtype={self.data.dtype}>"


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def make(out, parents, backward, op):
    """Wrap ``out`` (an ndarray) as the result of ``op``; record the graph only if needed."""
    t = Tensor.__new__(Tensor)
    t.data, t.grad, t.op, t._logits = out, None, op, None
    t.requires_grad, t._parents, t._backward = False, (), None
    if _MODE.enabled:
        for p in parents:                  # (a plain loop: any(generator) costs more per op)
            if p.requires_grad:
                t.requires_grad, t._parents, t._backward = True, parents, backward
                break
    return t


from . import ops  # noqa: E402  (ops needs Tensor; Tensor's operators need ops)
