"""compile / fit / evaluate / predict with Keras semantics (issue 2, item 7), and reproducibility (item 9)."""
import pathlib
import re

import numpy as np
import pytest

import glassnet
from glassnet import callbacks, layers, losses, metrics, optimizers
from glassnet.models import Sequential

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def blobs(n=60, d=4, k=3, seed=0):
    """k well-separated Gaussian blobs: an easy problem every optimizer should learn."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.standard_normal((k, d)) * 4
    x = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return x, y


def classifier(d=4, k=3, optimizer="adam", metrics_=None, loss="sparse_categorical_crossentropy",
               activation="softmax"):
    model = Sequential([layers.Dense(8, input_shape=(d,), activation="relu"),
                        layers.Dense(k, activation=activation)])
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics_)
    return model


# -- History ----------------------------------------------------------------------------------------
def test_history_keys_are_loss_metrics_and_val():
    x, y = blobs()
    model = classifier(metrics_=["accuracy"])
    history = model.fit(x, y, epochs=3, validation_data=(x[:10], y[:10]), verbose=0)
    assert isinstance(history, callbacks.History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert model.history is history
    assert all(isinstance(v, float) for v in history.history["loss"])


def test_history_without_metrics_or_validation():
    x, y = blobs()
    history = classifier().fit(x, y, epochs=2, verbose=0)
    assert list(history.history) == ["loss"]


def test_loss_decreases_and_val_metrics_match_evaluate():
    x, y = blobs(90)
    model = classifier(optimizer=optimizers.Adam(0.01), metrics_=["accuracy"])
    history = model.fit(x, y, epochs=20, validation_data=(x[:30], y[:30]), verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    val_loss, val_acc = model.evaluate(x[:30], y[:30], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc)


# -- validation_split: the tail, before shuffling ----------------------------------------------------
def test_validation_split_takes_the_tail_before_shuffling():
    x, y = blobs(50)
    model = classifier()
    history = model.fit(x, y, epochs=1, validation_split=0.2, batch_size=8, shuffle=True, verbose=0)
    assert model.optimizer.iterations == 5                     # 40 training samples / 8
    tail = model.evaluate(x[40:], y[40:], verbose=0)
    head = model.evaluate(x[:10], y[:10], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(tail, rel=1e-6)
    assert history.history["val_loss"][0] != pytest.approx(head, rel=1e-6)


# -- batches: partial last batch, weighted epoch loss, batch sizes ---------------------------------------
def test_epoch_loss_is_the_batch_size_weighted_mean_with_a_partial_last_batch():
    x, y = blobs(10)
    model = classifier(optimizer=optimizers.SGD(0.1))
    start = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    after_fit = model.get_weights()

    model.set_weights(start)
    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    batch_losses = [model.train_on_batch(x[i:i + 4], y[i:i + 4]) for i in (0, 4, 8)]   # 4, 4, 2 samples
    expected = (4 * batch_losses[0] + 4 * batch_losses[1] + 2 * batch_losses[2]) / 10
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)
    for a, b in zip(after_fit, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_epoch_loss_equals_the_per_sample_mean_when_the_weights_do_not_move():
    x, y = blobs(10)
    model = classifier(optimizer=optimizers.SGD(1e-20))       # steps far below float32 resolution
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    per_sample = losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0))
    assert history.history["loss"][0] == pytest.approx(float(np.mean(per_sample)), rel=1e-5)


def test_batch_size_larger_than_n_is_a_single_batch():
    x, y = blobs(20)
    model = classifier()
    model.fit(x, y, batch_size=500, epochs=3, verbose=0)
    assert model.optimizer.iterations == 3


@pytest.mark.parametrize("batch_size, steps", [(60, 1), (1, 60), (32, 2)])   # batch, stochastic, mini-batch
def test_batch_stochastic_and_minibatch_gradient_descent_all_train(batch_size, steps):
    x, y = blobs(60)
    model = classifier(optimizer=optimizers.SGD(0.05 if batch_size > 1 else 0.01))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=batch_size, epochs=10, verbose=0)
    assert model.optimizer.iterations == 10 * steps
    assert model.evaluate(x, y, verbose=0) < 0.7 * before


def test_shuffle_changes_the_batch_order():
    x, y = blobs(40)
    glassnet.utils.set_random_seed(3)
    a = classifier(optimizer=optimizers.SGD(0.1))
    start = a.get_weights()
    a.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    b = classifier(optimizer=optimizers.SGD(0.1))
    b.set_weights(start)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=True, verbose=0)
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


# -- evaluate / predict return values -----------------------------------------------------------------
def test_evaluate_returns_a_scalar_without_metrics():
    x, y = blobs()
    loss = classifier().evaluate(x, y, verbose=0)
    assert isinstance(loss, float)


def test_evaluate_returns_a_list_in_compile_order_and_a_dict():
    x, y = blobs()
    model = classifier(metrics_=["accuracy", "sparse_categorical_accuracy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 3
    pred = model.predict(x, verbose=0)
    acc = float(np.mean(pred.argmax(-1) == y))
    assert result[1] == pytest.approx(acc) and result[2] == pytest.approx(acc)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(as_dict) == ["loss", "accuracy", "sparse_categorical_accuracy"]
    assert as_dict["loss"] == pytest.approx(result[0])


def test_evaluate_loss_is_the_mean_per_sample_loss_over_partial_batches():
    x, y = blobs(50)
    model = classifier()
    per_sample = losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0))
    assert model.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(float(np.mean(per_sample)), rel=1e-5)


def test_predict_shapes_and_dtype():
    x, y = blobs(70)
    model = classifier()
    out = model.predict(x, batch_size=32, verbose=0)
    assert out.shape == (70, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(-1), 1, rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=7, verbose=0), out, rtol=1e-6)
    np.testing.assert_allclose(model(x), out, rtol=1e-6)
    assert model.predict(x[:1], verbose=0).shape == (1, 3)
    one_unit = Sequential([layers.Dense(1, input_shape=(4,))])
    assert one_unit.predict(x, verbose=0).shape == (70, 1)


def test_train_test_and_predict_on_batch():
    x, y = blobs(16)
    model = classifier(metrics_=["accuracy"])
    before = model.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    train_logs = model.train_on_batch(x, y, return_dict=True)
    assert set(train_logs) == {"loss", "accuracy"}
    assert train_logs["loss"] == pytest.approx(before[0], rel=1e-6)   # the loss before this step's update
    assert model.optimizer.iterations == 1
    after = model.test_on_batch(x, y)
    assert after[0] < before[0]
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0), rtol=1e-6)
    plain = classifier()
    assert isinstance(plain.train_on_batch(x, y), float)


# -- fit: continuing, initial_epoch ------------------------------------------------------------------
def test_initial_epoch_numbers_the_epochs():
    x, y = blobs()
    model = classifier()
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2


def test_callbacks_get_the_keras_hooks_in_order():
    calls = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None): calls.append("train_begin")
        def on_epoch_begin(self, epoch, logs=None): calls.append(f"epoch_begin {epoch}")
        def on_train_batch_end(self, batch, logs=None): calls.append(f"batch_end {batch} {sorted(logs)}")
        def on_epoch_end(self, epoch, logs=None): calls.append(f"epoch_end {epoch} {sorted(logs)}")
        def on_train_end(self, logs=None): calls.append("train_end")

    x, y = blobs(10)
    model = classifier(metrics_=["accuracy"])
    model.fit(x, y, batch_size=6, epochs=2, verbose=0, callbacks=[Recorder()])
    keys = "['accuracy', 'loss']"
    assert calls == ["train_begin",
                     "epoch_begin 0", f"batch_end 0 {keys}", f"batch_end 1 {keys}", f"epoch_end 0 {keys}",
                     "epoch_begin 1", f"batch_end 0 {keys}", f"batch_end 1 {keys}", f"epoch_end 1 {keys}",
                     "train_end"]


def test_a_callback_can_stop_training():
    class StopAfterOne(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    x, y = blobs()
    history = classifier().fit(x, y, epochs=10, verbose=0, callbacks=[StopAfterOne()])
    assert history.epoch == [0]


# -- metrics: "accuracy" resolution, Precision / Recall ----------------------------------------------
def test_accuracy_resolves_to_sparse_for_integer_labels():
    x, y = blobs()
    model = classifier(metrics_=["accuracy"])
    _, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(float(np.mean(model.predict(x, verbose=0).argmax(-1) == y)))
    _, acc_col = model.evaluate(x, y[:, None], verbose=0)          # (N, 1) labels: sparse as well
    assert acc_col == pytest.approx(acc)


def test_accuracy_resolves_to_categorical_for_one_hot_labels():
    x, y = blobs()
    model = classifier(metrics_=["accuracy"], loss="categorical_crossentropy")
    _, acc = model.evaluate(x, glassnet.utils.to_categorical(y, 3), verbose=0)
    assert acc == pytest.approx(float(np.mean(model.predict(x, verbose=0).argmax(-1) == y)))


def test_accuracy_resolves_to_binary_for_one_sigmoid_unit_with_precision_and_recall():
    x, y = blobs(80, k=2)
    model = classifier(k=1, activation="sigmoid", loss="binary_crossentropy",
                       metrics_=["accuracy", metrics.Precision(), metrics.Recall()])
    model.fit(x, y, epochs=5, verbose=0)
    loss, acc, precision, recall = model.evaluate(x, y, verbose=0)
    pred = (model.predict(x, verbose=0)[:, 0] > 0.5).astype(int)
    tp = np.sum((pred == 1) & (y == 1))
    assert acc == pytest.approx(float(np.mean(pred == y)))
    assert precision == pytest.approx(tp / max(np.sum(pred == 1), 1))
    assert recall == pytest.approx(tp / np.sum(y == 1))
    history = model.fit(x, y, epochs=1, verbose=0)
    assert {"precision", "recall", "accuracy", "loss"} == set(history.history)


# -- sample_weight and class_weight -----------------------------------------------------------------
def test_sample_weight_weights_the_per_sample_losses_sum_over_batch_size():
    x, y = blobs(12)
    model = classifier()
    w = np.linspace(0, 2, 12)
    per_sample = losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0))
    expected = float(np.sum(w * per_sample) / 12)               # Keras: "sum_over_batch_size"
    assert model.evaluate(x, y, sample_weight=w, batch_size=12, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_zero_sample_weight_samples_do_not_move_the_weights():
    x, y = blobs(12)
    model = classifier(optimizer=optimizers.SGD(0.1))
    start = model.get_weights()
    w = np.r_[np.ones(6), np.zeros(6)]
    model.fit(x, y, sample_weight=w, batch_size=12, shuffle=False, verbose=0)
    weighted = model.get_weights()
    model.set_weights(start)
    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    x2, y2 = np.r_[x[:6], x[:6]], np.r_[y[:6], y[:6]]          # same 12-sample mean denominator
    model.fit(x2, y2, sample_weight=np.r_[np.ones(6), np.zeros(6)], batch_size=12, shuffle=False, verbose=0)
    for a, b in zip(weighted, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_class_weight_equals_the_matching_sample_weight():
    x, y = blobs(12)
    glassnet.utils.set_random_seed(9)
    a = classifier(optimizer=optimizers.SGD(0.1))
    start = a.get_weights()
    a.fit(x, y, class_weight={0: 0.5, 1: 2.0, 2: 1.0}, batch_size=5, shuffle=False, epochs=2, verbose=0)
    b = classifier(optimizer=optimizers.SGD(0.1))
    b.set_weights(start)
    b.fit(x, y, sample_weight=np.array([0.5, 2.0, 1.0])[y], batch_size=5, shuffle=False, epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


# -- reproducibility (item 9, bad input 49) ----------------------------------------------------------
def _seeded_run(seed):
    glassnet.utils.set_random_seed(seed)
    x, y = blobs(64)
    model = Sequential([layers.Dense(16, input_shape=(4,), activation="relu"), layers.Dropout(0.5),
                        layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    initial = model.get_weights()
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=True, validation_split=0.25, verbose=0)
    return initial, model.get_weights(), history.history, model.predict(x, verbose=0)


def test_same_seed_gives_bit_identical_runs():
    first, second = _seeded_run(42), _seeded_run(42)
    for a, b in zip(first[0] + first[1], second[0] + second[1]):
        np.testing.assert_array_equal(a, b)
    assert first[2] == second[2]
    np.testing.assert_array_equal(first[3], second[3])


def test_different_seed_gives_different_runs():
    first, other = _seeded_run(42), _seeded_run(43)
    assert not np.array_equal(first[0][0], other[0][0])
    assert first[2]["loss"] != other[2]["loss"]


def test_dropout_masks_and_shuffles_follow_the_seed():
    x, y = blobs(32)
    runs = []
    for _ in range(2):
        glassnet.utils.set_random_seed(7)
        model = Sequential([layers.Dense(8, input_shape=(4,)), layers.Dropout(0.5),
                            layers.Dense(3, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.set_weights([np.full_like(w, 0.1) for w in model.get_weights()])  # same start, unseeded part
        runs.append(model.fit(x, y, epochs=2, batch_size=4, verbose=0).history["loss"])
    assert runs[0] == runs[1]


# -- the README's tutorial, unchanged, with `import glassnet as keras` --------------------------------
def test_readme_tutorial_runs_unchanged_with_import_glassnet_as_keras(monkeypatch, capsys):
    code = re.search(r"```python\n(import glassnet as keras\n.*?)```", README.read_text(), re.S).group(1)
    assert "keras.datasets.mnist.load_data()" in code and "model.fit(X_train, y_train, epochs=5)" in code
    (x_train, y_train), (x_test, y_test) = glassnet.datasets.mnist.load_embedded()
    small = ((x_train[:2000], y_train[:2000]), (x_test[:500], y_test[:500]))
    monkeypatch.setattr(glassnet.datasets.mnist, "load_data", lambda: small)   # same code, less data
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    model = namespace["model"]
    loss, acc = model.evaluate(namespace["X_test"], namespace["y_test"], verbose=0)
    assert acc > 0.8
    out = capsys.readouterr().out
    assert "Epoch 5/5" in out and "accuracy:" in out
