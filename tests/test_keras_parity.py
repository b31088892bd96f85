"""Keras parity: glassnet against golden numbers recorded from Keras 3 (TensorFlow backend).

The golden files under tests/golden/ are written by ``tools/make_keras_golden.py`` (which needs
tensorflow-cpu); this test needs NumPy and glassnet only. Every case is one file, so a failure
names the loss, the optimizer and the procedure, e.g.
``test_train_on_batch[scce_sigmoid__adam]`` or ``test_fit[cce__sgd_nesterov-batch10]``.

Each case builds the same model with the Keras API (``import glassnet as keras`` would run this
code unchanged), sets the recorded initial weights, compiles with the recorded optimizer, loss and
metrics, and compares, to 1e-5 (rtol and atol, float32):

- ``train_on_batch(x, y)`` five times: each returned loss (and metric), the weights after the
  first and after the fifth call;
- ``fit(x, y, batch_size=8, epochs=2, shuffle=False)``: the weights and ``history.history``;
  then ``evaluate(x, y)`` and ``predict(x)``;
- ``fit(..., batch_size=10, ...)``: 24 samples make batches of 10, 10 and 4, which pins how the
  partial batch counts in the epoch loss (Keras: a mean weighted by the batch's sample count).

Keras behaviour these numbers pin (all checked against an independent float64 re-implementation
when the files were made):

- sigmoid + binary cross-entropy and softmax + (sparse) categorical cross-entropy are computed
  from the logits (the pre-activation), without the 1e-7 clipping: see the ``*_saturated`` cases.
- A **sigmoid** output with (sparse) categorical cross-entropy is computed as softmax
  cross-entropy of the sigmoid's logits (Keras's TensorFlow backend takes the logits it finds
  on any sigmoid or softmax output), so training follows softmax, while ``predict`` still
  returns sigmoid outputs: ``scce_sigmoid``.
- ``"accuracy"`` with three sigmoid outputs and a (N, 3) target (``bce_multilabel``) resolves to
  categorical accuracy (argmax), not binary accuracy.
- RMSprop divides by ``sqrt(v + epsilon)``, epsilon inside the square root.

Summaries: ``model.summary(print_fn=lines.append, line_length=76)`` is compared with Keras's text
in two ways: ``test_summary_rows`` checks the model name, header, each row's (name (type), output
shape, param #) and the totals lines, with auto-numbered names compared up to their ``_N``
suffix; ``test_summary_text`` checks the whole text line by line (box-drawing table included),
after resetting auto-naming with ``clear_session()`` as Keras does. The width is passed
explicitly (76 is what Keras picks when output is not a terminal: min(88, 80 - 4)), so the
result does not depend on the terminal that runs pytest. Trailing spaces are ignored, and it does
not matter whether ``print_fn`` is called once with the whole text (Keras 3) or once per line.
"""
import json
import pathlib
import re

import numpy as np
import pytest

import glassnet

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
CASE_FILES = sorted((GOLDEN / "keras_parity").glob("*.npz"))
CASE_IDS = [path.stem for path in CASE_FILES]
SUMMARY_MANIFEST = json.loads((GOLDEN / "summary" / "manifest.json").read_text("utf-8"))
SUMMARY_IDS = sorted(SUMMARY_MANIFEST["models"])
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
N_LOSS_CASES, N_OPTIMIZERS, N_EXTRA = 10, 5, 2


def load_case(case_id):
    """(meta dict, {key: array}) of one golden file."""
    with np.load(GOLDEN / "keras_parity" / f"{case_id}.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def weights(arrays, prefix):
    """The weights stored as prefix0, prefix1, ... in get_weights() order."""
    count = sum(1 for key in arrays if re.fullmatch(re.escape(prefix) + r"\d+", key))
    return [arrays[f"{prefix}{i}"] for i in range(count)]


def layer_kwargs(kwargs):
    """JSON lists back to the tuples Keras signatures use (input_shape=(5,))."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def make_layers(layer_specs):
    return [getattr(glassnet.layers, cls)(**layer_kwargs(kwargs)) for cls, kwargs in layer_specs]


def make_loss(spec):
    if "name" in spec:
        return spec["name"]
    return getattr(glassnet.losses, spec["class"])(**spec["kwargs"])


def compiled_model(meta, arrays):
    model = glassnet.Sequential(make_layers(meta["layers"]))
    model.set_weights(weights(arrays, "w0_"))
    optimizer = getattr(glassnet.optimizers, meta["optimizer"]["class"])(
        **meta["optimizer"]["kwargs"])
    model.compile(optimizer=optimizer, loss=make_loss(meta["loss"]), metrics=list(meta["metrics"]))
    return model


def assert_weights(actual, expected, case_id, when):
    assert len(actual) == len(expected), f"{case_id} {when}: {len(actual)} weight arrays"
    for i, (got, want) in enumerate(zip(actual, expected)):
        what = f"{case_id} {when}: layer {i // 2} {'kernel' if i % 2 == 0 else 'bias'}"
        got = np.asarray(got)
        assert got.shape == want.shape, f"{what}: shape {got.shape}, Keras {want.shape}"
        assert got.dtype == np.float32, f"{what}: dtype {got.dtype}, expected float32"
        np.testing.assert_allclose(got, want, **TOLERANCE, err_msg=what)


def as_values(result):
    """train_on_batch/evaluate return a scalar without metrics and a list with them."""
    return np.atleast_1d(np.asarray(result, dtype=np.float64))


def test_golden_files_are_complete():
    assert len(CASE_FILES) == N_LOSS_CASES * N_OPTIMIZERS + N_EXTRA, (
        "run tools/make_keras_golden.py to regenerate tests/golden/")
    assert len(SUMMARY_IDS) == 4
    meta, arrays = load_case(CASE_IDS[0])
    assert meta["versions"]["keras"].startswith("3.")
    assert arrays["x"].dtype == np.float32


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_train_on_batch(case_id):
    meta, arrays = load_case(case_id)
    model = compiled_model(meta, arrays)
    x, y = arrays["x"], arrays["y"]
    for step in range(1, meta["train_on_batch_steps"] + 1):
        result = model.train_on_batch(x, y)
        expected = np.concatenate([arrays["tob_losses"][step - 1:step],
                                   arrays["tob_metrics"][step - 1]])
        np.testing.assert_allclose(as_values(result), expected, **TOLERANCE,
                                   err_msg=f"{case_id}: train_on_batch call {step} returned "
                                           f"[loss, *metrics] {meta['metrics']}")
        if f"tob{step}_w0" in arrays:
            assert_weights(model.get_weights(), weights(arrays, f"tob{step}_w"), case_id,
                           f"after train_on_batch call {step}")


@pytest.mark.parametrize("batch_size", [8, 10], ids=["batch8", "batch10"])
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_fit(case_id, batch_size):
    meta, arrays = load_case(case_id)
    model = compiled_model(meta, arrays)
    history = model.fit(arrays["x"], arrays["y"], batch_size=batch_size,
                        epochs=meta["fit"]["epochs"], shuffle=False, verbose=0)
    tag = f"fit{batch_size}"
    assert_weights(model.get_weights(), weights(arrays, f"{tag}_w"), case_id,
                   f"after fit(batch_size={batch_size})")
    expected = {key[len(tag) + 6:]: arrays[key] for key in arrays
                if key.startswith(f"{tag}_hist_")}
    assert sorted(history.history) == sorted(expected), f"{case_id}: history keys"
    for key, values in expected.items():
        np.testing.assert_allclose(np.asarray(history.history[key], dtype=np.float64), values,
                                   **TOLERANCE,
                                   err_msg=f"{case_id}: history.history[{key!r}] "
                                           f"(batch_size={batch_size})")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_evaluate_and_predict_after_fit(case_id):
    meta, arrays = load_case(case_id)
    model = compiled_model(meta, arrays)
    x, y = arrays["x"], arrays["y"]
    model.fit(x, y, batch_size=8, epochs=meta["fit"]["epochs"], shuffle=False, verbose=0)
    np.testing.assert_allclose(as_values(model.evaluate(x, y, verbose=0)), arrays["fit8_eval"],
                               **TOLERANCE, err_msg=f"{case_id}: evaluate -> [loss, *metrics]")
    prediction = model.predict(x, verbose=0)
    assert isinstance(prediction, np.ndarray) and prediction.dtype == np.float32, (
        f"{case_id}: predict returned {type(prediction).__name__} "
        f"{getattr(prediction, 'dtype', '')}, expected a float32 ndarray")
    np.testing.assert_allclose(prediction, arrays["fit8_pred"], **TOLERANCE,
                               err_msg=f"{case_id}: predict")


# ----------------------------------------------------------------------------------------------
# summary()

def golden_summary(name):
    return (GOLDEN / "summary" / f"{name}.txt").read_text("utf-8")


def clear_session():
    """Reset auto-naming (dense, dense_1, ...) as keras.utils.clear_session() does; or None."""
    for module in (getattr(glassnet, "utils", None), getattr(glassnet, "backend", None)):
        function = getattr(module, "clear_session", None)
        if function is not None:
            function()
            return True
    return False


def glassnet_summary(name):
    spec = SUMMARY_MANIFEST["models"][name]
    model = glassnet.Sequential(make_layers(spec["layers"]))
    chunks = []
    model.summary(line_length=spec["line_length"], print_fn=chunks.append)
    return "\n".join(chunks)


def lines_of(text):
    return [line.rstrip() for line in text.rstrip("\n").split("\n")]


def summary_parts(text):
    """Model name, header cells, rows of (name (type), output shape, params), totals lines."""
    lines = lines_of(text)
    model_names = [line for line in lines if line.startswith("Model:")]
    header = [[cell.strip() for cell in line.strip("┃").split("┃")]
              for line in lines if line.startswith("┃")]
    rows = [[cell.strip() for cell in line.strip("│").split("│")]
            for line in lines if line.startswith("│")]
    totals = [line.strip() for line in lines if re.match(r"\s*(Non-t|T)\w+ params:", line)]
    return model_names, header, rows, totals


def without_suffix(text):
    """dense_3 -> dense, sequential_2 -> sequential (auto-numbering depends on earlier tests)."""
    return re.sub(r"\b([a-z]+(?:_[a-z]+)*)_\d+\b", r"\1", text)


@pytest.mark.parametrize("name", SUMMARY_IDS)
def test_summary_rows(name):
    clear_session()
    got = summary_parts(glassnet_summary(name))
    want = summary_parts(golden_summary(name))
    labels = ("model name line", "header", "rows", "totals")
    for label, got_part, want_part in zip(labels, got, want):
        if label in ("model name line", "rows"):
            got_part = json.loads(without_suffix(json.dumps(got_part)))
            want_part = json.loads(without_suffix(json.dumps(want_part)))
        assert got_part == want_part, f"{name}: summary {label}"


@pytest.mark.parametrize("name", SUMMARY_IDS)
def test_summary_text(name):
    assert clear_session(), ("glassnet.utils.clear_session() (keras.utils.clear_session) is "
                             "needed to reset layer auto-naming")
    assert lines_of(glassnet_summary(name)) == lines_of(golden_summary(name))
