"""Derivatives: the slope of a line, the derivative of a curve, partial derivatives, the chain rule.

Every derivative below is computed by glassnet's autograd (``Tensor.backward``): it records each
operation of the forward pass (the tape) and then applies the chain rule backwards through it.
"""
import glassnet as gn


def grad(f, **values):
    """The value of f and its partial derivatives at ``values``, by autograd (float64)."""
    xs = {k: gn.Tensor(v, requires_grad=True, dtype="float64") for k, v in values.items()}
    out = f(**xs)
    out.backward()
    return float(out.data), {k: float(x.grad) for k, x in xs.items()}


def run(plot=None):
    print("Slope of a line y = 2x + 3: the same everywhere, Δy/Δx between any two points")
    for x1, x2 in [(1, 2), (0, 5)]:
        (y1, _), (y2, _) = grad(lambda x: 2 * x + 3, x=x1), grad(lambda x: 2 * x + 3, x=x2)
        print(f"  ({x1}, {y1:g}) to ({x2}, {y2:g}): Δy/Δx = {(y2 - y1) / (x2 - x1):g}")

    print("\nDerivative of a curve y = x² at x = 3: the slope of ever shorter secants tends to it")
    y3, d = grad(lambda x: x ** 2, x=3.0)
    for h in (1.0, 0.1, 0.001):
        y_h, _ = grad(lambda x: x ** 2, x=3.0 + h)
        print(f"  h = {h:<6g} (f(3 + h) − f(3)) / h = {(y_h - y3) / h:.4f}")
    print(f"  autograd: dy/dx = 2x = {d['x']:g}")

    print("\nPartial derivatives: price = bedrooms³ + sqft², at bedrooms = 3, sqft = 1500")
    price, d = grad(lambda bedrooms, sqft: bedrooms ** 3 + sqft ** 2, bedrooms=3.0, sqft=1500.0)
    print(f"  price = {price:,.0f}")
    print(f"  ∂price/∂bedrooms = 3·bedrooms² = {d['bedrooms']:g}   (sqft held fixed)")
    print(f"  ∂price/∂sqft     = 2·sqft       = {d['sqft']:g}   (bedrooms held fixed)")

    print("\nThe chain rule: x = a² + 7b, z = 4x, at a = 3, b = 2")
    a = gn.Tensor(3.0, requires_grad=True, dtype="float64")
    b = gn.Tensor(2.0, requires_grad=True, dtype="float64")
    t1 = a ** 2
    t2 = 7 * b
    x = t1 + t2
    z = 4 * x
    print("  the tape (forward pass, in order):")
    for name, t, text in [("t1", t1, "a ** 2"), ("t2", t2, "7 * b"), ("x", x, "t1 + t2"), ("z", z, "4 * x")]:
        print(f"    {name:<2} = {text:<8} = {float(t.data):<4g}  (op {t.op!r})")
    z.backward()
    _, dz_dx = grad(lambda x: 4 * x, x=float(x.data))
    _, dx = grad(lambda a, b: a ** 2 + 7 * b, a=3.0, b=2.0)
    print("  backward, link by link:")
    print(f"    ∂z/∂x = {dz_dx['x']:g},  ∂x/∂a = 2a = {dx['a']:g},  ∂x/∂b = {dx['b']:g}")
    print(f"    ∂z/∂a = ∂z/∂x · ∂x/∂a = {dz_dx['x']:g} × {dx['a']:g} = {dz_dx['x'] * dx['a']:g}   (= 8a)")
    print(f"    ∂z/∂b = ∂z/∂x · ∂x/∂b = {dz_dx['x']:g} × {dx['b']:g} = {dz_dx['x'] * dx['b']:g}")
    print(f"  z.backward() gives the same in one sweep: a.grad = {float(a.grad):g}, b.grad = {float(b.grad):g}")
