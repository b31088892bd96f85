"""Every mistaken or hostile input of ../shared/bad-inputs.md: this file holds items 1-31, 46-48
and the index (``ITEMS`` below, checked by ``test_every_item_has_tests``) of where each of the fifty
items is tested: model files (32-39) in test_saving.py and test_faults.py, dataset files (40-44) in
test_datasets*.py, ONNX export (45) in test_export_onnx.py, seeds (49) in test_training.py and
test_resume.py, consoles and pipes (50) in test_progress.py; test_fuzz.py adds thousands of mutated
files on top of 32-43.

Each test names its item number. The contract: a clear exception (type + key words of the message)
before any work is done, or the documented warning, never a NumPy error from deep inside an op.
"""
import warnings

import numpy as np
import pytest

import glassnet
from glassnet import layers, losses, optimizers
from glassnet.models import Sequential


def dense_model(d=784, units=10, activation="softmax", loss="sparse_categorical_crossentropy",
                metrics=None, optimizer="sgd"):
    model = Sequential([layers.Dense(units, input_shape=(d,), activation=activation)])
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def data(n=8, d=784, k=10):
    rng = np.random.default_rng(0)
    return rng.random((n, d), dtype=np.float32), rng.integers(0, k, n)


# -- 1: input shape not matching the model ------------------------------------------------------------
def test_01_unflattened_images_raise_with_flatten_hint():
    model = dense_model()
    x = np.zeros((4, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"(?s)784.*\(None, 28, 28\).*Flatten"):
        model.fit(x, np.zeros(4, int), verbose=0)
    with pytest.raises(ValueError, match="Flatten"):
        model.predict(x, verbose=0)


def test_01_unbuilt_model_raises_at_build_not_inside_matmul():
    model = Sequential([layers.Dense(10), layers.Dense(3)])
    model.compile("sgd", "mse")
    model.build((None, 5))
    with pytest.raises(ValueError, match=r"expected .*5.*\(None, 7\)"):
        model.fit(np.zeros((4, 7), np.float32), np.zeros((4, 3)), verbose=0)


@pytest.mark.parametrize("loss, units, y", [
    ("sparse_categorical_crossentropy", 10, np.zeros(4, int)),
    ("categorical_crossentropy", 10, np.eye(10)[:4]),
    ("mse", 1, np.zeros(4)),
])
def test_01_model_without_input_shape_fed_images_hints_flatten(loss, units, y):
    model = Sequential([layers.Dense(units)])           # Dense acts on the last axis: output (None, 28, U)
    model.compile("sgd", loss)
    with pytest.raises(ValueError, match=rf"(?s)output has shape \(None, 28, {units}\).*"
                                         r"one target per sample.*Flatten\(\)"):
        model.fit(np.zeros((4, 28, 28), np.float32), y, verbose=0)


def test_01_sequence_targets_for_a_per_position_output_are_still_accepted():
    model = Sequential([layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(np.zeros((4, 5, 2), np.float32), np.zeros((4, 5), int), verbose=0)
    assert np.isfinite(history.history["loss"][0])


# -- 2: x / y / sample_weight lengths ------------------------------------------------------------------
def test_02_x_and_y_lengths_differ():
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"x and y have different numbers of samples \(8 vs 7\)"):
        model.fit(x, y[:7], verbose=0)
    with pytest.raises(ValueError, match=r"different numbers of samples \(8 vs 7\)"):
        model.evaluate(x, y[:7], verbose=0)


def test_02_sample_weight_length_differs():
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"sample_weight.*\(8 vs 5\)"):
        model.fit(x, y, sample_weight=np.ones(5), verbose=0)


# -- 3, 4: label kind does not fit the loss ------------------------------------------------------------
def test_03_one_hot_labels_with_sparse_loss():
    model = dense_model()
    x, y = data(8)
    onehot = glassnet.utils.to_categorical(y, 10)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy expects integer labels of shape "
                                         r"\(N,\) or \(N, 1\); got \(8, 10\).*categorical_crossentropy or "
                                         r"y\.argmax\(-1\)"):
        model.fit(x, onehot, verbose=0)


def test_04_integer_labels_with_categorical_loss():
    model = dense_model(loss="categorical_crossentropy")
    x, y = data(8)
    with pytest.raises(ValueError, match=r"(?s)categorical_crossentropy expects one-hot.*"
                                         r"sparse_categorical_crossentropy.*to_categorical"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="to_categorical"):
        model.fit(x, y[:, None], verbose=0)


# -- 5-8: sparse labels out of range, negative, non-integral, strings ----------------------------------
def test_05_label_out_of_range():
    model = dense_model()
    x, y = data(8)
    y[3] = 10
    with pytest.raises(ValueError, match=r"label 10 out of range \[0, 10\)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"label 10 out of range"):
        model.evaluate(x, y, verbose=0)


def test_06_negative_label():
    model = dense_model()
    x, y = data(8)
    y[0] = -1
    with pytest.raises(ValueError, match=r"label -1 out of range \[0, 10\)"):
        model.fit(x, y, verbose=0)


def test_07_non_integral_float_labels_rejected_but_integral_floats_accepted():
    model = dense_model(d=4, units=3)
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"integral.*2\.5"):
        model.fit(x, np.array([0.0, 1.0, 2.5]), verbose=0)
    history = model.fit(x, np.array([0.0, 1.0, 2.0]), verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_08_string_labels_are_a_type_error_with_encoding_hint():
    model = dense_model(d=4, units=2)
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(TypeError, match=r"(?s)numeric.*np\.unique\(.*return_inverse=True\)"):
        model.fit(x, np.array(["cat", "dog"]), verbose=0)


def test_08_string_inputs_are_a_type_error():
    model = dense_model(d=2, units=2)
    with pytest.raises(TypeError, match="numeric"):
        model.fit(np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), verbose=0)


# -- 9: NaN / Inf ---------------------------------------------------------------------------------------
def test_09_nan_in_x_is_counted_and_located():
    model = dense_model()
    x, y = data(16)
    x[12, 40] = np.nan
    x[13, 1] = np.nan
    x[14, 2] = np.inf
    with pytest.raises(ValueError, match=r"x contains 3 NaN/Inf values \(first: NaN at index \(12, 40\)\)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="NaN/Inf"):
        model.predict(x, verbose=0)
    assert model.optimizer.iterations == 0          # nothing was trained


def test_09_inf_in_y_with_regression_loss():
    model = dense_model(d=3, units=1, activation=None, loss="mse")
    y = np.array([[1.0], [np.inf], [2.0]])
    with pytest.raises(ValueError, match=r"y contains 1 Inf values \(first at index \(1, 0\)\)"):
        model.fit(np.zeros((3, 3), np.float32), y, verbose=0)


def test_09_nan_in_validation_data():
    model = dense_model()
    x, y = data(8)
    x_val = x.copy()
    x_val[0, 0] = np.nan
    with pytest.raises(ValueError, match="x_val contains 1 NaN"):
        model.fit(x, y, validation_data=(x_val, y), verbose=0)


# -- 10, 11: raw uint8 and float64 inputs -------------------------------------------------------------
def test_10_uint8_inputs_are_accepted_with_one_warning():
    model = dense_model()
    x, y = data(8)
    raw = (x * 255).astype(np.uint8)
    raw[0, 0] = 255
    with pytest.warns(UserWarning, match=r"inputs look unscaled \(max 255\); consider x / 255\.0") as rec:
        model.fit(raw, y, verbose=0)
    assert len([w for w in rec if "unscaled" in str(w.message)]) == 1
    assert np.isfinite(model.get_weights()[0]).all()


def test_11_float64_inputs_are_cast_to_the_model_dtype():
    model = dense_model()
    x, y = data(8)
    out = model.predict(x.astype(np.float64), verbose=0)
    assert out.dtype == np.float32
    model.fit(x.astype(np.float64), y, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_11_float64_model_keeps_float64():
    glassnet.config.set_floatx("float64")
    try:
        model = dense_model(d=4, units=2)
        out = model.predict(np.ones((2, 4)), verbose=0)
        assert out.dtype == np.float64
        assert model.get_weights()[0].dtype == np.float64
    finally:
        glassnet.config.set_floatx("float32")


# -- 12: empty data ---------------------------------------------------------------------------------------
def test_12_empty_dataset():
    model = dense_model()
    with pytest.raises(ValueError, match=r"x is empty \(0 samples\)"):
        model.fit(np.zeros((0, 784), np.float32), np.zeros(0, int), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.evaluate(np.zeros((0, 784), np.float32), np.zeros(0, int), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.predict(np.zeros((0, 784), np.float32), verbose=0)


# -- 13-15: batch_size ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, err", [(0, ValueError), (-4, ValueError), (32.5, TypeError),
                                      (True, TypeError), ("32", TypeError)])
def test_13_invalid_batch_size(bad, err):
    model = dense_model()
    x, y = data(8)
    with pytest.raises(err, match=r"batch_size must be a positive int. Received: batch_size="):
        model.fit(x, y, batch_size=bad, verbose=0)
    with pytest.raises(err, match="batch_size must be a positive int"):
        model.evaluate(x, y, batch_size=bad, verbose=0)
    with pytest.raises(err, match="batch_size must be a positive int"):
        model.predict(x, batch_size=bad, verbose=0)


def test_14_batch_size_larger_than_n_is_one_batch():
    model = dense_model()
    x, y = data(8)
    history = model.fit(x, y, batch_size=1000, verbose=0)
    assert model.optimizer.iterations == 1
    assert len(history.history["loss"]) == 1


def test_15_partial_last_batch_is_kept():
    model = dense_model()
    x, y = data(10)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert model.optimizer.iterations == 6          # 4 + 4 + 2, twice


# -- 16, 17: learning rate ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lr", [-0.01, float("nan"), float("inf"), -float("inf")])
def test_16_negative_or_non_finite_learning_rate(lr):
    for cls in (optimizers.SGD, optimizers.Adam, optimizers.RMSprop):
        with pytest.raises(ValueError, match="learning_rate"):
            cls(learning_rate=lr)


def test_16_zero_learning_rate_warns():
    with pytest.warns(UserWarning, match="no learning will happen"):
        optimizers.SGD(learning_rate=0.0)


def test_16_learning_rate_of_wrong_type():
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        optimizers.Adam(learning_rate="fast")


def test_17_diverging_training_stops_with_a_diagnosis():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((256, 4)) * 1e3).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1))).astype(np.float32)
    model = Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizers.SGD(learning_rate=10.0), "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="ignore"):
            with pytest.raises(RuntimeWarning, match=r"loss became (nan|inf) at epoch 1, batch \d+; "
                                                     r"learning rate 10 may be too high"):
                model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)


def test_17_diverging_training_returns_history_with_finite_weights():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((256, 4)) * 1e3).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1))).astype(np.float32)
    model = Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizers.SGD(learning_rate=10.0), "mse")
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="may be too high") as rec:
        history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    assert len([w for w in rec if "loss became" in str(w.message)]) == 1
    assert len(history.history["loss"]) == 1          # stopped in epoch 1: the finite batches' mean
    assert np.isfinite(history.history["loss"][0])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert model.stop_training


# -- 18: epochs / initial_epoch ----------------------------------------------------------------------
def test_18_epochs_equal_to_initial_epoch_is_a_no_op():
    model = dense_model()
    x, y = data(8)
    before = model.get_weights()
    history = model.fit(x, y, epochs=3, initial_epoch=3, verbose=0)
    assert history.history == {} and history.epoch == []
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.fit(x, y, epochs=0, verbose=0).history == {}


@pytest.mark.parametrize("kwargs", [dict(epochs=-1), dict(epochs=2, initial_epoch=3),
                                    dict(epochs=2.5), dict(epochs=True), dict(initial_epoch=-1)])
def test_18_invalid_epochs(kwargs):
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match="epoch"):
        model.fit(x, y, verbose=0, **kwargs)


def test_18_message_names_both_values():
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"epochs \(2\) must be >= initial_epoch \(3\)"):
        model.fit(x, y, epochs=2, initial_epoch=3, verbose=0)


# -- 19-22: validation arguments ---------------------------------------------------------------------
@pytest.mark.parametrize("split", [1.0, -0.1, 1.5, float("nan"), "0.2", True])
def test_19_validation_split_outside_0_1(split):
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"validation_split must be a float in \[0, 1\)"):
        model.fit(x, y, validation_split=split, verbose=0)


def test_19_split_leaving_no_samples():
    model = dense_model()
    x, y = data(4)
    with pytest.raises(ValueError, match=r"leaves 4 training and 0 validation .*not sufficient to split"):
        model.fit(x, y, validation_split=0.1, verbose=0)


def test_19_zero_split_means_none():
    model = dense_model()
    x, y = data(8)
    history = model.fit(x, y, validation_split=0, verbose=0)
    assert "val_loss" not in history.history


def test_20_sorted_labels_warn_when_the_tail_has_one_class():
    model = dense_model(d=4, units=2)
    x = np.random.default_rng(0).random((10, 4), dtype=np.float32)
    y = np.array([0] * 5 + [1] * 5)
    with pytest.warns(UserWarning, match=r"(?s)sorted by class.*[Ss]huffle"):
        model.fit(x, y, validation_split=0.2, verbose=0)


def test_20_sorted_ten_classes_warn_when_the_tail_holds_only_the_last_classes():
    model = dense_model(d=4, units=10)
    x = np.random.default_rng(0).random((1000, 4), dtype=np.float32)
    y = np.sort(np.arange(1000) % 10)                  # MNIST sorted by digit: the tail is 8s and 9s
    with pytest.warns(UserWarning, match=r"(?s)distributed very differently.*\[8, 9\].*sorted by class"):
        model.fit(x, y, validation_split=0.2, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, np.random.default_rng(1).permutation(y), validation_split=0.2, verbose=0)


def test_20_representative_tail_does_not_warn():
    model = dense_model(d=4, units=2)
    x = np.random.default_rng(0).random((10, 4), dtype=np.float32)
    y = np.array([0, 1] * 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, validation_split=0.2, verbose=0)


@pytest.mark.parametrize("bad", [lambda x, y: (x,), lambda x, y: x, lambda x, y: (x, y, None, None)])
def test_21_validation_data_wrong_structure(bad):
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"validation_data must be a tuple \(x_val, y_val\)"):
        model.fit(x, y, validation_data=bad(x, y), verbose=0)
    assert model.optimizer.iterations == 0          # before epoch 1


def test_21_validation_data_wrong_feature_shape_before_training():
    model = dense_model()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"x_val of shape \(None, 783\)"):
        model.fit(x, y, validation_data=(x[:, :783], y), verbose=0)
    with pytest.raises(ValueError, match=r"x and y have different numbers of samples \(8 vs 3\)"):
        model.fit(x, y, validation_data=(x, y[:3]), verbose=0)
    assert model.optimizer.iterations == 0


def test_22_validation_data_wins_over_validation_split():
    model = dense_model()
    x, y = data(10)
    with pytest.warns(UserWarning, match="validation_split is ignored"):
        history = model.fit(x, y, validation_data=(x[:3], y[:3]), validation_split=0.5,
                            batch_size=10, verbose=0)
    assert model.optimizer.iterations == 1         # all 10 samples trained: the split was not taken
    assert "val_loss" in history.history


# -- 23: fit before compile -----------------------------------------------------------------------------
def test_23_fit_and_evaluate_before_compile():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"You must call compile\(\) before fit\(\)"):
        model.fit(x, np.zeros((2, 2)), verbose=0)
    with pytest.raises(RuntimeError, match=r"You must call compile\(\) before evaluate\(\)"):
        model.evaluate(x, np.zeros((2, 2)), verbose=0)
    with pytest.raises(RuntimeError, match=r"compile\(\) before train_on_batch\(\)"):
        model.train_on_batch(x, np.zeros((2, 2)))
    assert model.predict(x, verbose=0).shape == (2, 2)      # predict works uncompiled


# -- 24: from_logits mismatch ------------------------------------------------------------------------
def test_24_from_logits_with_softmax_output_warns_and_computes_what_was_asked():
    model = Sequential([layers.Dense(3, input_shape=(4,), activation="softmax")])
    with pytest.warns(UserWarning, match="from_logits=True.*softmax.*Was this intended"):
        model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1])
    p = model.predict(x, verbose=0)
    expected = np.mean(np.log(np.exp(p).sum(-1)) - p[np.arange(5), y])
    with pytest.warns(UserWarning, match="Was this intended"):
        loss = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


# -- 25: misspelt names ----------------------------------------------------------------------------
def test_25_misspelt_optimizer():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"(?s)Unknown optimizer: 'adma'.*did you mean 'adam'.*'sgd'"):
        model.compile(optimizer="adma", loss="mse")


def test_25_misspelt_loss():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"(?s)Unknown loss: 'crossentropy'.*'mean_squared_error'"):
        model.compile(optimizer="adam", loss="crossentropy")
    with pytest.raises(ValueError, match=r"Did you mean 'mse'"):
        model.compile(optimizer="adam", loss="mes")


def test_25_misspelt_activation():
    with pytest.raises(ValueError, match=r"(?s)rellu.*relu"):
        layers.Dense(2, activation="rellu")


def test_25_misspelt_metric_fails_at_compile():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"(?s)acc_.*accuracy"):
        model.compile(optimizer="adam", loss="mse", metrics=["acc_"])


# -- 26: binary cross-entropy with multi-class labels -----------------------------------------------
def test_26_binary_crossentropy_with_labels_above_one():
    model = dense_model(d=3, units=1, activation="sigmoid", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"(?s)binary_crossentropy expects targets in \[0, 1\]; y contains 2"
                                         r".*softmax.*sparse_categorical_crossentropy"):
        model.fit(np.zeros((3, 3), np.float32), np.array([0, 1, 2]), verbose=0)


# -- 27: class_weight --------------------------------------------------------------------------------
def test_27_class_weight_unknown_class():
    model = dense_model(d=4, units=3)
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"class_weight names class 7, which is not among the labels"):
        model.fit(x, np.array([0, 1, 2, 0]), class_weight={0: 1.0, 7: 5.0}, verbose=0)


@pytest.mark.parametrize("w", [-1.0, float("nan"), float("inf")])
def test_27_class_weight_negative_or_non_finite(w):
    model = dense_model(d=4, units=3)
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"class_weight\[1\] must be a finite number >= 0"):
        model.fit(x, np.array([0, 1, 2, 0]), class_weight={1: w}, verbose=0)


def test_27_class_weight_multilabel_targets():
    model = dense_model(d=4, units=3, activation="sigmoid", loss="binary_crossentropy")
    y = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]], np.float32)
    with pytest.raises(ValueError, match="multi-label"):
        model.fit(np.zeros((4, 4), np.float32), y, class_weight={0: 2.0}, verbose=0)


def test_27_class_weight_missing_classes_default_to_one():
    x = np.random.default_rng(0).random((6, 4), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    model = dense_model(d=4, units=3)
    start = model.get_weights()
    model.fit(x, y, class_weight={1: 3.0}, batch_size=6, shuffle=False, verbose=0)
    by_class = model.get_weights()
    model.set_weights(start)
    model.optimizer = optimizers.SGD()
    model.fit(x, y, sample_weight=np.array([1, 3, 1, 1, 3, 1.0]), batch_size=6, shuffle=False, verbose=0)
    for a, b in zip(by_class, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# -- 28: invalid layer hyper-parameters --------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: layers.Dense(0), lambda: layers.Dense(-5),
                                  lambda: layers.Dropout(1.0), lambda: layers.Dropout(-0.1)])
def test_28_invalid_layer_arguments_raise_at_construction(make):
    with pytest.raises(ValueError, match=r"units|rate"):
        make()


def test_28_messages_name_the_argument_and_value():
    with pytest.raises(ValueError, match=r"(?s)units.*Dense.*-5"):
        layers.Dense(-5)
    with pytest.raises(ValueError, match=r"(?s)rate.*Dropout.*\[0, 1\).*1\.0"):
        layers.Dropout(1.0)
    with pytest.raises(TypeError, match="units"):
        layers.Dense(2.5)


def test_28_conv2d_filters_and_kernel_must_be_positive():
    with pytest.raises(ValueError, match=r"kernel_size.*Conv2D.*kernel_size=0"):
        layers.Conv2D(filters=8, kernel_size=0)
    with pytest.raises(ValueError, match=r"filters.*Conv2D.*filters=0"):
        layers.Conv2D(filters=0, kernel_size=3)


# -- 29, 30: image layout, and kernels larger than the input ----------------------------------------
def test_29_images_without_a_channel_axis():
    model = Sequential([layers.Conv2D(4, 3, input_shape=(28, 28, 1)), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\(None, 28, 28, 1\).*\(None, 28, 28\).*x\[\.\.\., None\]"):
        model.predict(np.zeros((2, 28, 28), np.float32), verbose=0)
    unbuilt = Sequential([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\(N, H, W, C\).*x\[\.\.\., None\]"):
        unbuilt.predict(np.zeros((2, 28, 28), np.float32), verbose=0)


def test_29_channels_first_images():
    model = Sequential([layers.Conv2D(4, 3, input_shape=(32, 32, 3)), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"channels-last \(N, H, W, C\).*transpose\(0, 2, 3, 1\)"):
        model.predict(np.zeros((2, 3, 32, 32), np.float32), verbose=0)


def test_30_kernel_larger_than_the_input():
    with pytest.raises(ValueError, match=r"output spatial size would be 0.*\(5, 5\).*padding='same'"):
        Sequential([layers.Conv2D(8, 5, input_shape=(3, 3, 1))])
    with pytest.raises(ValueError, match="output spatial size would be 0"):
        Sequential([layers.Conv2D(8, 3, input_shape=(4, 4, 1)), layers.MaxPooling2D(), layers.Conv2D(4, 3)])


# -- 31: predict with the wrong feature count, or a single sample ------------------------------------
def test_31_predict_with_the_wrong_feature_count():
    model = dense_model()
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 784\), got x of shape \(None, 783\)"):
        model.predict(np.zeros((2, 783), np.float32), verbose=0)


def test_31_single_sample_without_batch_axis():
    model = dense_model()
    with pytest.raises(ValueError, match=r"single sample of shape \(784,\).*x\[None\] or x\.reshape\(1, -1\)"):
        model.predict(np.zeros(784, np.float32), verbose=0)
    assert model.predict(np.zeros(784, np.float32)[None], verbose=0).shape == (1, 10)


# -- 48: fit twice, train_on_batch twice ----------------------------------------------------------
def test_48_fit_twice_continues_from_the_current_weights():
    x, y = data(64)
    model = dense_model(optimizer="adam")
    model.fit(x, y, epochs=1, shuffle=False, batch_size=64, verbose=0)
    after_one = model.get_weights()
    model.fit(x, y, epochs=1, shuffle=False, batch_size=64, verbose=0)
    assert model.optimizer.iterations == 2
    assert not np.array_equal(after_one[0], model.get_weights()[0])

    glassnet.utils.set_random_seed(5)
    twice = dense_model(optimizer="adam")
    glassnet.utils.set_random_seed(5)
    once = dense_model(optimizer="adam")
    twice.fit(x, y, epochs=1, shuffle=False, batch_size=64, verbose=0)
    twice.fit(x, y, epochs=1, shuffle=False, batch_size=64, verbose=0)
    once.fit(x, y, epochs=2, shuffle=False, batch_size=64, verbose=0)
    for a, b in zip(twice.get_weights(), once.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_48_train_on_batch_twice_recomputes_gradients():
    x, y = data(16)
    model = dense_model()                    # plain SGD: w -= lr * g
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    w1 = model.get_weights()
    model.set_weights(w0)
    model.train_on_batch(x, y)                # same batch, same start: the same step, not 2x
    for a, b in zip(w1, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    model.train_on_batch(x, y)
    step1 = w1[0] - w0[0]
    step2 = model.get_weights()[0] - w1[0]
    assert np.abs(step2).max() < 1.5 * np.abs(step1).max()    # not an accumulated (doubled) gradient


# -- other arguments checked before training ------------------------------------------------------------
def test_other_arguments_are_checked_before_training():
    model = dense_model()
    x, y = data(8)
    with pytest.raises(TypeError, match=r"class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match=r"verbose must be 0, 1, 2 or 'auto'"):
        model.fit(x, y, verbose=3)
    with pytest.raises(TypeError, match=r"callbacks must be glassnet\.callbacks\.Callback instances"):
        model.fit(x, y, callbacks=[print], verbose=0)
    with pytest.raises(ValueError, match=r"fit\(\) needs targets y"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match=r"x is None; expected an array"):
        model.fit(None, y, verbose=0)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['lossess'\]"):
        model.compile("sgd", loss="mse", lossess="mse")
    with pytest.raises(ValueError, match=r"compile\(\) needs a loss"):
        model.compile("sgd")
    assert model.optimizer.iterations == 0


def test_sequential_add_rejects_non_layers():
    with pytest.raises(TypeError, match=r"Sequential\.add expects a glassnet layer"):
        Sequential([np.zeros(3)])


# -- 17 (continued): restore_best_weights after a blow-up ---------------------------------------------------
def test_17_blow_up_with_restore_best_weights_restores_the_best_epoch():
    from glassnet import callbacks
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1))).astype(np.float32)
    model = Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizers.SGD(learning_rate=0.01), "mse")
    seen = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    lr_10 = callbacks.LearningRateScheduler(lambda epoch, lr: 1e4 if epoch == 3 else lr)
    es = callbacks.EarlyStopping(monitor="loss", patience=10, restore_best_weights=True)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match=r"loss became (nan|inf) at epoch"):
        history = model.fit(x, y, epochs=8, verbose=0, callbacks=[lr_10, keep, es])
    best = int(np.argmin(history.history["loss"]))
    assert len(history.epoch) < 8 and model.stop_training       # stopped by the blow-up
    for got, want in zip(model.get_weights(), seen[best]):
        np.testing.assert_array_equal(got, want)


# -- 46: EarlyStopping on a key that does not exist --------------------------------------------------------
@pytest.mark.parametrize("monitor, hint", [("val_accuracy", "'val_' keys exist only when fit is given "
                                                              "validation_data"),
                                           ("acc", "Did you mean 'accuracy'")])
def test_46_early_stopping_on_a_missing_key_warns_once_with_the_available_keys(monitor, hint):
    from glassnet import callbacks
    model = dense_model(metrics=["accuracy"])
    x, y = data(16)
    es = callbacks.EarlyStopping(monitor=monitor, patience=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=4, verbose=0, callbacks=[es])
    messages = [str(w.message) for w in caught if "not available" in str(w.message)]
    assert len(messages) == 1 and len(history.epoch) == 4          # once per run; no crash, no stop
    assert f"conditioned on {monitor!r}" in messages[0] and "accuracy, loss" in messages[0] and hint in messages[0]


# -- 47: a ModelCheckpoint template naming a key the fit will not produce ------------------------------------
def test_47_checkpoint_template_with_unavailable_key_fails_when_fit_starts(tmp_path):
    from glassnet import callbacks
    model = dense_model()
    x, y = data(16)
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "ckpt_{epoch:02d}_{val_loss:.2f}.gnet"))
    with pytest.raises(ValueError, match=r"\{val_loss\}, which this fit will not produce.*validation_data.*"
                                         r"Available: epoch, loss"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[ckpt])
    assert model.optimizer.iterations == 0 and list(tmp_path.iterdir()) == []   # before any training
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[ckpt])  # with validation: fine
    assert len(list(tmp_path.iterdir())) == 2


# -- the index: every item of bad-inputs.md and the tests that assert its behaviour ----------------------------
ITEMS = {
    1: [
        "test_bad_inputs.py::test_01_unflattened_images_raise_with_flatten_hint",
        "test_bad_inputs.py::test_01_unbuilt_model_raises_at_build_not_inside_matmul",
    ],
    2: [
        "test_bad_inputs.py::test_02_x_and_y_lengths_differ",
        "test_bad_inputs.py::test_02_sample_weight_length_differs",
    ],
    3: ["test_bad_inputs.py::test_03_one_hot_labels_with_sparse_loss"],
    4: ["test_bad_inputs.py::test_04_integer_labels_with_categorical_loss"],
    5: ["test_bad_inputs.py::test_05_label_out_of_range"],
    6: ["test_bad_inputs.py::test_06_negative_label"],
    7: ["test_bad_inputs.py::test_07_non_integral_float_labels_rejected_but_integral_floats_accepted"],
    8: ["test_bad_inputs.py::test_08_string_labels_are_a_type_error_with_encoding_hint"],
    9: [
        "test_bad_inputs.py::test_09_nan_in_x_is_counted_and_located",
        "test_bad_inputs.py::test_09_inf_in_y_with_regression_loss",
    ],
    10: ["test_bad_inputs.py::test_10_uint8_inputs_are_accepted_with_one_warning"],
    11: [
        "test_bad_inputs.py::test_11_float64_inputs_are_cast_to_the_model_dtype",
        "test_bad_inputs.py::test_11_float64_model_keeps_float64",
    ],
    12: ["test_bad_inputs.py::test_12_empty_dataset"],
    13: ["test_bad_inputs.py::test_13_invalid_batch_size"],
    14: ["test_bad_inputs.py::test_14_batch_size_larger_than_n_is_one_batch"],
    15: ["test_bad_inputs.py::test_15_partial_last_batch_is_kept"],
    16: [
        "test_bad_inputs.py::test_16_negative_or_non_finite_learning_rate",
        "test_bad_inputs.py::test_16_zero_learning_rate_warns",
    ],
    17: [
        "test_bad_inputs.py::test_17_diverging_training_stops_with_a_diagnosis",
        "test_bad_inputs.py::test_17_blow_up_with_restore_best_weights_restores_the_best_epoch",
    ],
    18: [
        "test_bad_inputs.py::test_18_epochs_equal_to_initial_epoch_is_a_no_op",
        "test_bad_inputs.py::test_18_invalid_epochs",
    ],
    19: [
        "test_bad_inputs.py::test_19_validation_split_outside_0_1",
        "test_bad_inputs.py::test_19_split_leaving_no_samples",
    ],
    20: ["test_bad_inputs.py::test_20_sorted_labels_warn_when_the_tail_has_one_class"],
    21: [
        "test_bad_inputs.py::test_21_validation_data_wrong_structure",
        "test_bad_inputs.py::test_21_validation_data_wrong_feature_shape_before_training",
    ],
    22: ["test_bad_inputs.py::test_22_validation_data_wins_over_validation_split"],
    23: ["test_bad_inputs.py::test_23_fit_and_evaluate_before_compile"],
    24: ["test_bad_inputs.py::test_24_from_logits_with_softmax_output_warns_and_computes_what_was_asked"],
    25: [
        "test_bad_inputs.py::test_25_misspelt_optimizer",
        "test_bad_inputs.py::test_25_misspelt_loss",
        "test_bad_inputs.py::test_25_misspelt_activation",
        "test_bad_inputs.py::test_25_misspelt_metric_fails_at_compile",
    ],
    26: ["test_bad_inputs.py::test_26_binary_crossentropy_with_labels_above_one"],
    27: [
        "test_bad_inputs.py::test_27_class_weight_unknown_class",
        "test_bad_inputs.py::test_27_class_weight_negative_or_non_finite",
        "test_bad_inputs.py::test_27_class_weight_missing_classes_default_to_one",
    ],
    28: ["test_bad_inputs.py::test_28_invalid_layer_arguments_raise_at_construction"],
    29: [
        "test_bad_inputs.py::test_29_images_without_a_channel_axis",
        "test_bad_inputs.py::test_29_channels_first_images",
    ],
    30: ["test_bad_inputs.py::test_30_kernel_larger_than_the_input"],
    31: [
        "test_bad_inputs.py::test_31_predict_with_the_wrong_feature_count",
        "test_bad_inputs.py::test_31_single_sample_without_batch_axis",
    ],
    32: [
        "test_saving.py::test_truncated_file",
        "test_faults.py::test_sigkill_at_random_moments_during_saves_never_damages_the_file",
        "test_fuzz.py::test_fuzz_model_loader_on_mutated_model_files",
    ],
    33: [
        "test_saving.py::test_object_array_member_is_rejected_unrun",
        "test_saving.py::test_renamed_pickle_is_rejected_unrun",
        "test_saving.py::test_torch_zip_is_rejected_unrun",
        "test_saving.py::test_pickle_as_config_json_is_rejected_unrun",
    ],
    34: [
        "test_saving.py::test_unknown_classes_and_keys",
        "test_saving.py::test_initializer_module_path_is_not_imported",
    ],
    35: [
        "test_saving.py::test_mismatched_arrays_leave_model_untouched",
        "test_saving.py::test_huge_layer_in_a_small_file_fails_without_using_the_memory",
    ],
    36: [
        "test_saving.py::test_bad_member_names",
        "test_saving.py::test_symlink_member",
        "test_saving.py::test_real_zip_bomb",
        "test_saving.py::test_declared_size_over_cap",
        "test_saving.py::test_too_many_members",
    ],
    37: ["test_saving.py::test_nan_weights_warn_or_raise_under_strict"],
    38: ["test_saving.py::test_newer_format_version"],
    39: [
        "test_saving.py::test_save_to_missing_directory",
        "test_saving.py::test_save_to_read_only_directory",
        "test_faults.py::test_disk_full_at_every_point_of_the_write",
        "test_faults.py::test_a_really_full_tmpfs",
        "test_faults.py::test_failing_system_calls_leave_the_old_file",
    ],
    40: [
        "test_datasets.py::test_wrong_magic_is_rejected",
        "test_datasets.py::test_images_file_passed_as_labels_via_load_data",
    ],
    41: [
        "test_datasets.py::test_truncated_data_is_rejected_before_reading",
        "test_datasets.py::test_absurd_dimensions_are_rejected_without_allocating",
        "test_fuzz.py::test_fuzz_idx_reader_on_mutated_mnist_files",
    ],
    42: [
        "test_datasets.py::test_image_and_label_counts_must_agree",
        "test_datasets.py::test_full_size_count_mismatch_message",
    ],
    43: [
        "test_datasets.py::test_malicious_cifar_pickle_is_rejected_and_never_runs",
        "test_datasets.py::test_cifar10_python_batch_wrong_content",
        "test_fuzz.py::test_fuzz_cifar_batch_reader_on_mutated_batches",
    ],
    44: [
        "test_datasets_download.py::test_server_down_is_a_clear_bounded_error",
        "test_datasets_download.py::test_corrupted_cached_file_is_deleted_and_downloaded_again",
        "test_datasets_download.py::test_offline_fashion_mnist_raises_with_instructions",
    ],
    45: [
        "test_export_onnx.py::test_unmapped_layer_is_refused_and_nothing_written",
        "test_export_onnx.py::test_custom_layer_class_is_refused",
        "test_export_onnx.py::test_softmax_on_another_axis_needs_opset_13",
    ],
    46: ["test_bad_inputs.py::test_46_early_stopping_on_a_missing_key_warns_once_with_the_available_keys"],
    47: ["test_bad_inputs.py::test_47_checkpoint_template_with_unavailable_key_fails_when_fit_starts"],
    48: [
        "test_bad_inputs.py::test_48_fit_twice_continues_from_the_current_weights",
        "test_bad_inputs.py::test_48_train_on_batch_twice_recomputes_gradients",
    ],
    49: [
        "test_training.py::test_same_seed_gives_bit_identical_runs",
        "test_training.py::test_different_seed_gives_different_runs",
        "test_training.py::test_dropout_masks_and_shuffles_follow_the_seed",
        "test_resume.py::test_backup_and_restore_resumes_bit_for_bit_after_a_crash",
    ],
    50: [
        "test_progress.py::test_verbose_1_to_a_pipe_writes_epoch_headers_and_final_lines",
        "test_progress.py::test_cp1252_stdout_gets_an_ascii_bar",
        "test_progress.py::test_cp1252_terminal_redraws_an_ascii_bar_without_escape_codes",
    ],
}


def test_every_item_has_tests():
    """All fifty items are listed, and every test named above exists (read from the files, not run)."""
    import ast
    import pathlib
    assert sorted(ITEMS) == list(range(1, 51))
    here, defined = pathlib.Path(__file__).parent, {}
    for item, tests in ITEMS.items():
        assert tests, f"item {item} has no test"
        for ref in tests:
            file, name = ref.split("::")
            if file not in defined:
                tree = ast.parse((here / file).read_text())
                defined[file] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in defined[file], f"item {item}: {ref} does not exist"
