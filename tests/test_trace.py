"""glassnet.Trace records the loss, the gradients and the updates of every step, correctly."""
import numpy as np
import pytest

import glassnet as gn


def tiny_model(lr=0.1):
    model = gn.Sequential([gn.layers.Dense(1, input_shape=(2,), activation="sigmoid", dtype="float64",
                                           kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(optimizer=gn.optimizers.SGD(learning_rate=lr), loss="binary_crossentropy")
    return model


X = np.array([[0.5, 1.0], [0.2, 0.0], [0.9, 1.0], [0.1, 0.0]])
X32 = X.astype(np.float32).astype(np.float64)     # fit feeds the inputs in the model's dtype (float32)
Y = np.array([1.0, 0.0, 1.0, 1.0])


def manual_steps(x, y, steps, lr=0.1):
    """Logistic regression by the formulas: ∂L/∂w = xᵀ(p − y)/N, ∂L/∂b = mean(p − y)."""
    w, b, rows = np.ones(2), 0.0, []
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        dw, db = x.T @ (p - y) / len(x), np.mean(p - y)
        w, b = w - lr * dw, b - lr * db
        rows.append((loss, dw, db, w.copy(), b))
    return rows


def test_trace_matches_a_manual_computation():
    trace = gn.Trace()
    tiny_model().fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[trace])
    assert trace.names == ["kernel[0,0]", "kernel[1,0]", "bias"]
    assert len(trace) == 3 and trace.epochs.tolist() == [0, 1, 2]
    for s, (loss, dw, db, w, b) in enumerate(manual_steps(X32, Y, 3)):
        np.testing.assert_allclose(trace.loss[s], loss, rtol=1e-12)
        np.testing.assert_allclose([trace.grads["kernel[0,0]"][s], trace.grads["kernel[1,0]"][s],
                                    trace.grads["bias"][s]], [dw[0], dw[1], db], rtol=1e-9)
        np.testing.assert_allclose(trace.values["kernel[1,0]"][s], w[1], rtol=1e-12)
        np.testing.assert_allclose(trace.values["bias"][s], b, atol=1e-15)
    # plain SGD: the update is exactly −learning_rate · gradient
    np.testing.assert_allclose(trace.updates["bias"], -0.1 * trace.grads["bias"], rtol=1e-12)


def test_trace_per_batch_and_table():
    trace = gn.Trace(names=["w1", "w2", "b"])
    tiny_model().fit(X, Y, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[trace])
    assert trace.epochs.tolist() == [0, 0, 1, 1] and trace.batches.tolist() == [0, 1, 0, 1]
    first_batch = manual_steps(X32[:2], Y[:2], 1)[0]
    np.testing.assert_allclose(trace.grads["w1"][0], first_batch[1][0], rtol=1e-9)
    table = trace.table(first=1, last=1)
    lines = table.splitlines()
    assert lines[0].split() == ["epoch", "batch", "loss", "∂L/∂w1", "∂L/∂w2", "∂L/∂b",
                                "Δw1", "Δw2", "Δb", "w1", "w2", "b"]
    assert lines[2].strip() == "..." and lines[3].split()[:2] == ["1", "1"]


def test_stop_below_stops_training():
    trace = gn.Trace(stop_below=0.4)
    history = tiny_model(lr=1.0).fit(X, Y, batch_size=4, epochs=200, shuffle=False, verbose=0,
                                     callbacks=[trace])
    assert trace.stopped and trace.loss[-1] <= 0.4 < trace.loss[-2]
    assert len(history.history["loss"]) == len(trace)


def test_record_by_hand_and_errors():
    trace = gn.Trace(names=["w"])
    w = gn.Variable(3.0, name="w", dtype="float64")
    loss = w ** 2
    loss.backward()
    trace.record(loss, [3.0], [w.grad], [2.4])
    assert trace.loss.tolist() == [9.0] and trace.grads["w"].tolist() == [6.0]
    with pytest.raises(ValueError, match="one name per scalar weight"):
        trace.record(1.0, [1.0, 2.0], [0.0, 0.0], [1.0, 2.0])
    big = gn.Sequential([gn.layers.Dense(200, input_shape=(2,))])
    big.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="more than max_params=100"):
        big.fit(X, np.zeros((4, 200)), verbose=0, callbacks=[gn.Trace()])


def test_import_glassnet_does_not_import_matplotlib():
    import subprocess
    import sys
    code = "import sys, glassnet; glassnet.Trace; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
