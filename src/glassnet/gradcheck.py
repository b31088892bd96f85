"""Check analytic gradients against central finite differences, in float64.

For every element x_j of every input::

    numeric_j  = (f(x + h·e_j) − f(x − h·e_j)) / (2h)          error O(h²)
    analytic_j = what backward() put in x.grad
    pass  ⇔   |analytic_j − numeric_j| ≤ atol + rtol·|numeric_j|  for every j

Defaults are ``torch.autograd.gradcheck``'s (h = eps = 1e-6, atol = 1e-5, rtol = 1e-3). They need
double precision: with float32 the rounding error of f (≈ 1e-7·|f|) divided by 2h swamps the
answer, so every input is converted to float64 here.

A non-scalar output y is reduced with a fixed random upstream gradient v, f(x) = Σ v·y(x), so the
check covers the whole vector-Jacobian product ``vᵀJ`` that ``backward(v)`` computes.
"""
import numpy as np

from . import engine
from .engine import Tensor


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when an analytic gradient disagrees with finite differences.

    ``.result`` holds the full ``GradcheckResult``.
    """

    def __init__(self, result):
        super().__init__(str(result))
        self.result = result


class GradcheckResult:
    """The outcome of ``gradcheck``.

    Attributes:
        ok: True if every element is within ``atol + rtol·|numeric|``.
        max_abs_error: max over all elements of |analytic − numeric|.
        max_rel_error: max of |analytic − numeric| / max(|analytic|, |numeric|) (0 where both are 0).
        worst: ``(input_index, element_index)`` of the element furthest beyond (or closest to)
            its tolerance; ``None`` when the inputs have no elements.
        analytic, numeric: lists of gradient arrays, one per input.
    """

    def __init__(self, analytic, numeric, atol, rtol):
        self.analytic, self.numeric, self.atol, self.rtol = analytic, numeric, atol, rtol
        self.max_abs_error = self.max_rel_error = 0.0
        self.worst, worst_ratio = None, -1.0
        for i, (a, n) in enumerate(zip(analytic, numeric)):
            if a.size == 0:
                continue
            with np.errstate(all="ignore"):                    # inf/nan gradients are reported, not raised
                err = np.abs(a - n)
                scale = np.maximum(np.abs(a), np.abs(n))
                rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1), 0.0)
                ratio = err / (atol + rtol * np.abs(n))        # > 1 means out of tolerance
            ratio = np.where(np.isnan(ratio) & (err == 0), 0.0, ratio)
            ratio = np.where(np.isnan(ratio), np.inf, ratio)
            j = int(np.argmax(ratio))
            self.max_abs_error = max(self.max_abs_error, float(np.max(err)))
            self.max_rel_error = max(self.max_rel_error, float(np.max(rel)))
            if ratio.flat[j] > worst_ratio:
                worst_ratio = float(ratio.flat[j])
                self.worst = (i, tuple(int(k) for k in np.unravel_index(j, a.shape)))
        self.ok = worst_ratio <= 1.0 and all(np.all(np.isfinite(a)) for a in analytic)

    def __bool__(self):
        return self.ok

    def __str__(self):
        head = "gradcheck passed" if self.ok else "gradcheck FAILED: analytic gradient != numeric"
        text = (f"{head} (max abs error {self.max_abs_error:.3g}, max rel error "
                f"{self.max_rel_error:.3g}; tolerance atol={self.atol:g} + rtol={self.rtol:g}·|numeric|)")
        if self.worst is not None:
            i, j = self.worst
            a, n = self.analytic[i][j], self.numeric[i][j]
            text += f"\n  worst: input {i}, element {j}: analytic {a:.10g}, numeric {n:.10g}"
        return text

    __repr__ = __str__


def _evaluate(fn, arrays, upstream):
    """f(x) = Σ v·fn(x), the scalar whose gradient is checked (no graph recorded)."""
    with engine.no_grad():
        out = fn(*[Tensor(x, dtype="float64") for x in arrays])
    return float(np.sum(np.asarray(out.data, dtype=np.float64) * upstream))


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare ``fn``'s backward pass with central finite differences, element by element.

    Args:
        fn: a function of Tensors returning a Tensor, e.g. ``lambda a, b: (a * b).sum()``.
        *inputs: arrays or Tensors; each becomes a float64 Tensor with ``requires_grad=True``.
            (Pass integer index arrays and other constants through a closure instead.)
        eps: the step h of the central difference.
        atol, rtol: an element passes if ``|analytic − numeric| ≤ atol + rtol·|numeric|``.
        raise_exception: raise ``GradcheckError`` on a mismatch (default) instead of returning.

    Returns:
        A ``GradcheckResult`` (truthy when ok) with ``ok``, ``max_abs_error``, ``max_rel_error``,
        ``worst``, and a readable ``str()``.

    Raises:
        GradcheckError: on a mismatch, if ``raise_exception``.
        TypeError / ValueError: if there are no inputs, or ``fn`` does not return a Tensor.

    Example:
        >>> import glassnet
        >>> gradcheck(lambda a: (a ** 3).sum(), np.array([1.0, -2.0])).ok    # d/da a³ = 3a²
        True
    """
    if not inputs:
        raise ValueError("gradcheck needs at least one input to differentiate. "
                         "Received none. Hint: gradcheck(fn, x) with fn(x) returning a Tensor.")
    if not engine.is_grad_enabled():
        raise RuntimeError("gradcheck cannot run inside glassnet.no_grad(): backward() would have "
                           "no graph to follow. Hint: call it outside the no_grad block.")
    arrays = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]

    # analytic: one backward pass with upstream gradient v
    tensors = [Tensor(x.copy(), requires_grad=True, dtype="float64") for x in arrays]
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a glassnet Tensor. Received: "
                        f"{type(out).__name__}. Hint: build fn from glassnet ops, not NumPy functions.")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned a {out.dtype} Tensor for float64 inputs; finite "
                        "differences need float64 all the way. Hint: create constants inside fn with "
                        "dtype='float64' or as Python numbers.")
    if out.size == 1:
        upstream = np.ones(out.shape)
    else:   # a fixed random v checks every row of the Jacobian at once: f = Σ v·y
        upstream = np.random.default_rng(0).standard_normal(out.shape)
    if out.requires_grad:
        out.backward(upstream.astype(out.dtype))
    analytic = [np.zeros(x.shape) if t.grad is None else np.asarray(t.grad, dtype=np.float64)
                for t, x in zip(tensors, arrays)]

    # numeric: central differences, one element at a time
    numeric = []
    for x in arrays:
        grad = np.zeros(x.shape)
        for j in range(x.size):
            original = x.flat[j]
            x.flat[j] = original + eps
            f_plus = _evaluate(fn, arrays, upstream)
            x.flat[j] = original - eps
            f_minus = _evaluate(fn, arrays, upstream)
            x.flat[j] = original
            grad.flat[j] = (f_plus - f_minus) / (2 * eps)      # (f(x+h) − f(x−h)) / 2h
        numeric.append(grad)

    result = GradcheckResult(analytic, numeric, atol, rtol)
    if not result.ok and raise_exception:
        raise GradcheckError(result)
    return result


__all__ = ["gradcheck", "GradcheckError", "GradcheckResult"]
