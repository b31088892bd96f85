"""The autograd engine: chain rule, accumulation, broadcasting, the reverse sweep and its memory."""
import weakref

import numpy as np
import pytest

from glassnet import ops
from glassnet.engine import Tensor, Variable, is_grad_enabled, no_grad


def test_notes_chain_rule():
    a, b = Tensor(3.0, requires_grad=True), Tensor(2.0, requires_grad=True)
    x = a**2 + 7*b          # dx/da = 2a,  dx/db = 7
    z = 4*x                 # dz/dx = 4
    z.backward()
    assert float(z) == 4 * (9 + 14)
    assert float(a.grad) == 8 * 3.0    # dz/da = 4·2a = 8a
    assert float(b.grad) == 28.0       # dz/db = 4·7
    for t in (a, b):                   # .grad is a NumPy array (0-d here), of the tensor's dtype
        assert isinstance(t.grad, np.ndarray) and t.grad.dtype == np.float32 and t.grad.shape == ()


def test_notes_chain_rule_elementwise():
    a = Tensor([1.0, -2.0, 0.5], requires_grad=True)
    b = Tensor([4.0, 5.0, 6.0], requires_grad=True)
    z = 4 * (a**2 + 7*b)
    z.backward(np.ones(3))
    np.testing.assert_array_equal(a.grad, 8 * a.data)
    np.testing.assert_array_equal(b.grad, [28.0, 28.0, 28.0])


def test_a_variable_used_twice_gets_both_contributions():
    a = Tensor(3.0, requires_grad=True)
    (a + a).backward()
    assert float(a.grad) == 2.0
    b = Tensor(3.0, requires_grad=True)
    (b * b).backward()               # d(b²)/db = 2b
    assert float(b.grad) == 6.0


def test_diamond_graph_visits_each_node_once_after_all_its_consumers():
    a = Tensor(2.0, requires_grad=True)
    b, c = a * 2, a * 3
    (b * c).backward()               # 6a² → 12a
    assert float(a.grad) == 24.0


def test_gradients_accumulate_across_backward_calls_until_zero_grad():
    a = Tensor([1.0, 2.0], requires_grad=True)
    (a * 3).sum().backward()
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [6.0, 6.0])
    a.zero_grad()
    assert a.grad is None
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])


def test_broadcast_gradient_tinygrad_case():
    # tinygrad test/unit/test_gradient.py: test_broadcast_gradient
    x = Tensor([[1.0], [2.0], [3.0]], requires_grad=True)          # (3, 1)
    y = Tensor([[10.0, 20.0, 30.0, 40.0]], requires_grad=True)     # (1, 4)
    (x + y).sum().backward()                 # each x[i] is used 4 times, each y[j] 3 times
    assert x.grad.tolist() == [[4.0], [4.0], [4.0]]
    assert y.grad.tolist() == [[3.0, 3.0, 3.0, 3.0]]


def test_bias_gradient_sums_over_the_batch():
    x = Tensor(np.ones((5, 3)), requires_grad=True)
    bias = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x + bias).sum().backward()
    np.testing.assert_array_equal(bias.grad, [5.0, 5.0, 5.0])
    assert x.grad.shape == (5, 3)


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only be called without a gradient on a scalar.*shape \(3,\)"):
        (x * x).backward()


def test_explicit_upstream_gradient():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(np.array([3.0, 2.0, 1.0]))      # g·2x
    np.testing.assert_array_equal(x.grad, [6.0, 8.0, 6.0])
    y = Tensor([1.0, 2.0], requires_grad=True)
    (y * 2).backward(Tensor([1.0, -1.0]))            # a Tensor is accepted as the gradient too
    np.testing.assert_array_equal(y.grad, [2.0, -2.0])


def test_explicit_gradient_of_the_wrong_shape_is_rejected():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"must have the tensor's shape \(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(2))


def test_a_graph_10000_ops_deep_needs_no_recursion():
    x = Tensor(1.0, requires_grad=True, dtype="float64")
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(float(x.grad), 1.0001 ** 10_000, rtol=1e-9)


def test_the_graph_is_freed_after_backward():
    a = Tensor([1.0, 2.0], requires_grad=True)
    middle = a * 2
    out = (middle * 3).sum()
    ref = weakref.ref(middle)
    del middle
    assert ref() is not None                 # the graph keeps the intermediate alive...
    out.backward()
    assert ref() is None                     # ...until backward() has used it
    np.testing.assert_array_equal(a.grad, [6.0, 6.0])


def test_retain_graph_keeps_it():
    a = Tensor([1.0, 2.0], requires_grad=True)
    middle = a * 2
    out = (middle * 3).sum()
    ref = weakref.ref(middle)
    del middle
    out.backward(retain_graph=True)
    assert ref() is not None
    out.backward()
    np.testing.assert_array_equal(a.grad, [12.0, 12.0])


def test_no_grad_records_nothing_and_restores_the_mode():
    a = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = (a * 2).sum()
    assert is_grad_enabled()
    assert not y.requires_grad
    y.backward()
    assert a.grad is None
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert is_grad_enabled()


def test_inputs_that_need_no_gradient_get_none():
    a = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([5.0, 7.0])
    (a * c).sum().backward()
    np.testing.assert_array_equal(a.grad, [5.0, 7.0])
    assert c.grad is None


def test_default_dtype_is_float32_and_float64_on_request():
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(3.0).dtype == np.float32
    assert Tensor([1.0], dtype="float64").dtype == np.float64
    assert Tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64   # a float64 array stays float64
    assert Tensor(np.zeros(2, dtype=np.float16)).dtype == np.float32


def test_non_float_dtypes_and_non_numeric_data_are_rejected():
    with pytest.raises(TypeError, match="float type"):
        Tensor([1, 2], dtype="int32")
    with pytest.raises(TypeError, match="must be numeric"):
        Tensor(["a", "b"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_python_scalars_and_arrays_do_not_change_the_dtype(dtype):
    a = Tensor([1.0, 2.0], requires_grad=True, dtype=dtype)
    results = [a * 2.5, 2.5 * a, a + 1, 1 - a, a / 3.0, 3.0 / a, a ** 2.0, 2.0 ** a,
               a * np.float64(2.0), np.ones(2) + a, a + np.ones(2, dtype=np.float64)]
    assert [r.dtype for r in results] == [np.dtype(dtype)] * len(results)
    sum(r.sum() for r in results).backward()
    assert a.grad.dtype == dtype


def test_numpy_interop():
    t = Tensor([[1.0, 2.0]], requires_grad=True)
    assert np.asarray(t) is t.data
    assert t.numpy() is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.shape == (1, 2) and t.ndim == 2 and t.size == 2 and len(t) == 1
    assert (t > 1.5).tolist() == [[False, True]]
    assert Tensor(2.0).item() == 2.0
    assert "requires_grad=True" in repr(t)


def test_detach_cuts_the_graph():
    a = Tensor([1.0], requires_grad=True)
    d = (a * 2).detach()
    assert not d.requires_grad
    (d * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0])


def test_variable_assign_and_its_error():
    v = Variable([[0.0] * 3] * 2, name="kernel")
    assert v.requires_grad and v.trainable and v.dtype == np.float32
    v.assign(np.ones((2, 3)))
    np.testing.assert_array_equal(v.data, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*'kernel'.*\(2, 3\)"):
        v.assign(np.ones((3, 2)))
    frozen = Variable(np.zeros(2), trainable=False)
    assert not frozen.requires_grad


def test_ops_record_their_names_for_error_messages():
    a = Tensor([1.0], requires_grad=True)
    assert (a * 2).op == "mul"
    assert ops.exp(a).op == "exp"


def test_a_second_backward_through_a_freed_graph_is_an_error_not_a_silent_no_op():
    a = Tensor([1.0, 2.0], requires_grad=True)
    middle = a * 2
    out = (middle * 3).sum()
    out.backward()
    with pytest.raises(RuntimeError, match=r"already freed.*retain_graph=True"):
        out.backward()
    with pytest.raises(RuntimeError, match=r"already freed"):
        middle.sum().backward()             # middle's own graph went with the first backward
    np.testing.assert_array_equal(a.grad, [6.0, 6.0])


def test_no_grad_is_per_thread():
    """Grad mode belongs to a thread (as in PyTorch): overlapping no_grad() blocks in two threads
    must leave recording on everywhere afterwards, and one thread's block must not reach another."""
    import threading
    inside, go_on, seen = threading.Event(), threading.Event(), {}

    def other():
        with no_grad():
            inside.set()
            go_on.wait(5)
            seen["other"] = is_grad_enabled()
    t = threading.Thread(target=other)
    with no_grad():                      # entered before the other thread's block ...
        t.start()
        inside.wait(5)
    seen["main, between"] = is_grad_enabled()   # ... and left while it is still open
    go_on.set()
    t.join()
    assert seen == {"other": False, "main, between": True}
    assert is_grad_enabled()
    a = Tensor(2.0, requires_grad=True)
    (a * a).backward()
    assert float(a.grad) == 4.0
