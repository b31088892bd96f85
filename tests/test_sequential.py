"""Sequential's structure: add / pop / layers / build / summary / config / weights (issue 2, item 7).

The exact Keras summary text is pinned by the golden files in tests/golden (test_keras_parity.py);
here: the rows' shapes and parameter counts, and the totals.
"""
import re

import numpy as np
import pytest

import glassnet
from glassnet import layers
from glassnet.models import Sequential


def mlp():
    return Sequential([layers.Input((28, 28)), layers.Flatten(), layers.Dense(100, activation="relu"),
                       layers.Dropout(0.2), layers.Dense(10, activation="softmax")])


def summary_rows(model):
    lines = []
    model.summary(print_fn=lines.append)
    rows = [re.findall(r"│ (.+?) +│ (.+?) +│ +(.+?) │", line) for line in lines]
    return [r[0] for r in rows if r], lines


# -- structure ------------------------------------------------------------------------------------------
def test_list_constructor_add_and_layers():
    dense = layers.Dense(4, input_shape=(3,))
    model = Sequential([dense])
    second = layers.Dense(2)
    model.add(second)
    assert model.layers == [dense, second]
    model.layers.append(layers.Dense(1))                 # a copy: the model is not changed
    assert len(model.layers) == 2
    assert model.built and model.output_shape == (None, 2)
    assert glassnet.models.Sequential is glassnet.Sequential


def test_pop_removes_the_last_layer_and_rebuilds():
    model = mlp()
    last = model.pop()
    assert last.units == 10
    assert model.output_shape == (None, 100)
    assert model.count_params() == 78_500
    model.add(layers.Dense(3))
    assert model.output_shape == (None, 3)
    with pytest.raises(IndexError, match="no layers"):
        Sequential().pop()


def test_input_must_come_first_and_names_must_be_unique():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="can only be the first"):
        model.add(layers.Input((3,)))
    with pytest.raises(ValueError, match=r"unique.*'same'"):
        Sequential([layers.Dense(2, name="same", input_shape=(3,)), layers.Dense(2, name="same")])


def test_deferred_build_on_first_data():
    model = Sequential([layers.Dense(5, activation="relu"), layers.Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not been built"):
        model.output_shape
    with pytest.raises(ValueError, match="count_params"):
        model.count_params()
    out = model.predict(np.ones((3, 7), np.float32), verbose=0)
    assert out.shape == (3, 2) and model.built
    assert model.input_shape == (None, 7)
    assert model.count_params() == 7 * 5 + 5 + 5 * 2 + 2


def test_build_with_an_explicit_shape():
    model = Sequential([layers.Dense(4)])
    model.build((None, 6))
    assert model.count_params() == 28
    assert [w.shape for w in model.weights] == [(6, 4), (4,)]
    with pytest.raises(ValueError, match="input shape"):
        Sequential([layers.Dense(2)]).build()


# -- weights ---------------------------------------------------------------------------------------
def test_count_params_and_weight_lists():
    model = mlp()
    assert model.count_params() == 784 * 100 + 100 + 100 * 10 + 10
    assert [w.shape for w in model.weights] == [(784, 100), (100,), (100, 10), (10,)]
    assert len(model.trainable_weights) == 4 and model.non_trainable_weights == []


def test_get_and_set_weights_round_trip():
    model = mlp()
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    weights = model.get_weights()
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float32 for w in weights)
    before = model.predict(x, verbose=0)
    weights[0][...] = 0                                      # a copy: the model is not changed
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    other = mlp()
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(other.predict(x, verbose=0), before)


def test_set_weights_rejects_wrong_count_and_shapes_without_partial_assignment():
    model = mlp()
    weights = model.get_weights()
    with pytest.raises(ValueError, match=r"expected a list of 4 arrays, received 3"):
        model.set_weights(weights[:3])
    bad = [w.copy() + 1 for w in weights]
    bad[3] = np.zeros(11, np.float32)
    with pytest.raises(ValueError, match=r"shape \(10,\), received an array of shape \(11,\)"):
        model.set_weights(bad)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)                  # untouched


# -- config -------------------------------------------------------------------------------------------
def test_get_config_from_config_round_trip():
    model = mlp()
    config = model.get_config()
    assert [e["class_name"] for e in config["layers"]] == ["InputLayer", "Flatten", "Dense", "Dropout", "Dense"]
    assert config["layers"][0]["config"]["batch_shape"] == [None, 28, 28]
    clone = Sequential.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_from_config_rejects_unknown_layer_types():
    config = {"name": "m", "layers": [{"class_name": "os.system", "config": {}}]}
    with pytest.raises(ValueError, match="unknown layer type 'os.system'"):
        Sequential.from_config(config)


def test_compile_config_records_names():
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.compile_config["metrics"] == ["accuracy"]
    assert model.compile_config["optimizer"]["class_name"] == "Adam"


# -- summary ----------------------------------------------------------------------------------------
def test_summary_rows_for_the_notes_model():
    model = Sequential([layers.Dense(10, input_shape=(784,), activation="sigmoid")], name="notes")
    rows, lines = summary_rows(model)
    assert lines[0] == 'Model: "notes"'
    assert [(r[1], r[2]) for r in rows] == [("(None, 10)", "7,850")]
    assert rows[0][0].endswith("(Dense)")
    assert " Total params: 7,850 (30.66 KB)" in lines
    assert " Trainable params: 7,850 (30.66 KB)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines


def test_summary_rows_for_an_mlp_with_flatten_and_dropout():
    rows, lines = summary_rows(mlp())
    assert [(r[1], r[2]) for r in rows] == [("(None, 784)", "0"), ("(None, 100)", "78,500"),
                                               ("(None, 100)", "0"), ("(None, 10)", "1,010")]
    assert [r[0].split(" ")[1] for r in rows] == ["(Flatten)", "(Dense)", "(Dropout)", "(Dense)"]
    assert " Total params: 79,510 (310.59 KB)" in lines


def test_summary_of_an_unbuilt_model():
    model = Sequential([layers.Dense(3)])
    rows, lines = summary_rows(model)
    assert rows[0][1:] == ("?", "0 (unbuilt)")
    assert " Total params: 0 (0.00 B)" in lines


def test_summary_prints_to_stdout_by_default(capsys):
    Sequential([layers.Dense(2, input_shape=(3,))]).summary()
    assert "Total params: 8" in capsys.readouterr().out
