"""Write the Keras golden files that tests/test_keras_parity.py compares glassnet against.

Needs ``pip install tensorflow-cpu`` (Keras 3 on the TensorFlow backend). The tests and CI do not:
they read the committed files under tests/golden/ with NumPy alone.

    python tools/make_keras_golden.py          # rewrite tests/golden/keras_parity and summary
    python tools/make_keras_golden.py --check  # regenerate in memory, fail if anything differs

What is written (all arrays float32, labels int64, every file a few KB):

- ``tests/golden/keras_parity/<loss case>__<optimizer>.npz``, one file per (loss, optimizer)
  pair. Keys: ``meta`` (a JSON string: versions, the model's layers, the loss and optimizer as
  constructor arguments, the metrics, the steps taken), ``x``, ``y``, ``w0_*`` (initial weights,
  in ``get_weights()`` order), then per procedure:
  ``tob_losses`` / ``tob_metrics`` (what each of 5 ``train_on_batch(x, y)`` calls returned),
  ``tob1_w*`` / ``tob5_w*`` (weights after the first and the fifth call),
  ``fit8_w*`` / ``fit8_hist_<key>`` (``fit(batch_size=8, epochs=2, shuffle=False)``: weights
  and History), ``fit8_eval`` / ``fit8_pred`` (``evaluate`` and ``predict`` on x after it),
  ``fit10_w*`` / ``fit10_hist_<key>`` (``fit(batch_size=10, epochs=2, shuffle=False)``: the
  last batch has 4 samples, which pins how a partial batch is weighted in the epoch loss).
- ``tests/golden/summary/<name>.txt``: ``model.summary(print_fn=...)`` text, exactly as Keras
  hands it to ``print_fn`` (rich table, no colour), and ``tests/golden/summary/manifest.json``
  with each model's layers and the line width used.

The script is deterministic and idempotent: data and initial weights come from a seeded NumPy
generator, TensorFlow runs single-threaded with op determinism and without oneDNN or XLA, and the
.npz archives are written with fixed zip timestamps, so a second run rewrites identical bytes.
"""
import argparse
import io
import json
import os
import pathlib
import sys
import zipfile

# Before TensorFlow is imported: plain float32 kernels, no GPU, quiet logs, and a summary width
# that does not depend on the terminal the script runs in (what a non-terminal gets: 80 columns).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["COLUMNS"] = "80"
os.environ["LINES"] = "24"

import warnings  # noqa: E402

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

N_SAMPLES, N_FEATURES, N_HIDDEN, N_CLASSES = 24, 5, 4, 3
TOB_STEPS = 5
FIT_EPOCHS = 2

# ---------------------------------------------------------------------------------------------
# The cases. Layer specs are (class name, constructor kwargs): the test builds the same model
# with glassnet.layers.<class name>(**kwargs).

HIDDEN = ("Dense", {"units": N_HIDDEN, "activation": "relu", "input_shape": [N_FEATURES]})


def net(units, activation):
    return [HIDDEN, ("Dense", {"units": units, "activation": activation})]


def case(layers, loss, target, metrics=("accuracy",), output_bias=None, optimizers=None):
    """One loss case. ``loss`` is {"name": "..."} (compile(loss="...")) or
    {"class": "...", "kwargs": {...}} (compile(loss=keras.losses.<class>(**kwargs)));
    ``output_bias`` replaces the last layer's initial bias; ``optimizers`` restricts OPTIMIZERS."""
    return {"layers": layers, "loss": loss, "target": target, "metrics": list(metrics),
            "output_bias": output_bias, "optimizers": optimizers}


LOSS_CASES = {
    "mse": case(net(3, "linear"), {"name": "mean_squared_error"}, "regression", metrics=()),
    "mae": case(net(3, "linear"), {"name": "mean_absolute_error"}, "regression", metrics=()),
    "bce": case(net(1, "sigmoid"), {"name": "binary_crossentropy"}, "binary"),
    "bce_multilabel": case(net(3, "sigmoid"), {"name": "binary_crossentropy"}, "multilabel"),
    "bce_logits": case(net(1, "linear"),
                       {"class": "BinaryCrossentropy", "kwargs": {"from_logits": True}}, "binary"),
    "cce": case(net(3, "softmax"), {"name": "categorical_crossentropy"}, "onehot"),
    "cce_logits": case(net(3, "linear"),
                       {"class": "CategoricalCrossentropy", "kwargs": {"from_logits": True}},
                       "onehot"),
    "scce": case(net(3, "softmax"), {"name": "sparse_categorical_crossentropy"}, "sparse"),
    "scce_logits": case(net(3, "linear"),
                        {"class": "SparseCategoricalCrossentropy",
                         "kwargs": {"from_logits": True}}, "sparse"),
    # The course notes' digits model: sigmoid outputs with sparse categorical cross-entropy.
    "scce_sigmoid": case(net(3, "sigmoid"), {"name": "sparse_categorical_crossentropy"}, "sparse"),
    # Output biases of +-20: logits beyond +-16, so probabilities saturate in float32. These pin
    # whether the loss and its gradient come from the logits (Keras on TensorFlow: yes, no
    # clipping; gradient p - y) or from clipped probabilities (a clipped loss tops out at
    # -log(1e-7) = 16.1 per sample, and its gradient is 0 where the clip is active).
    "bce_saturated": case(net(1, "sigmoid"), {"name": "binary_crossentropy"}, "binary",
                          output_bias=[20.0], optimizers=["sgd"]),
    "cce_saturated": case(net(3, "softmax"), {"name": "categorical_crossentropy"}, "onehot",
                          output_bias=[20.0, 0.0, -20.0], optimizers=["sgd"]),
}

# name -> (class name, constructor kwargs)
OPTIMIZERS = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 0.01}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
}

# name -> layers (for summary()).
SUMMARY_MODELS = {
    "notes_dense10": [("Dense", {"units": 10, "input_shape": [784], "activation": "sigmoid"})],
    "hidden_mlp": [("Dense", {"units": 100, "input_shape": [784], "activation": "relu"}),
                   ("Dense", {"units": 10, "activation": "sigmoid"})],
    "flatten_mlp": [("Flatten", {"input_shape": [28, 28]}),
                    ("Dense", {"units": 128, "activation": "relu"}),
                    ("Dense", {"units": 10, "activation": "softmax"})],
    "dropout_mlp": [("Flatten", {"input_shape": [28, 28]}),
                    ("Dense", {"units": 128, "activation": "relu"}),
                    ("Dropout", {"rate": 0.2}),
                    ("Dense", {"units": 10, "activation": "softmax"})],
}


# ---------------------------------------------------------------------------------------------
# Data and initial weights: NumPy only, seeded, float32.

def make_data():
    rng = np.random.default_rng(20240601)
    x = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype(np.float32)
    classes = np.arange(N_SAMPLES) % N_CLASSES      # every class present, 8 samples each
    classes = rng.permutation(classes).astype(np.int64)
    targets = {
        "regression": rng.normal(size=(N_SAMPLES, N_CLASSES)).astype(np.float32),
        "binary": (np.arange(N_SAMPLES) % 2)[rng.permutation(N_SAMPLES)].reshape(-1, 1)
        .astype(np.float32),
        "multilabel": (rng.random((N_SAMPLES, N_CLASSES)) < 0.5).astype(np.float32),
        "onehot": np.eye(N_CLASSES, dtype=np.float32)[classes],
        "sparse": classes,
    }
    return x, targets


def make_initial_weights(layers, output_bias=None):
    """Kernels uniform in ±0.6, biases uniform in ±0.1 (non-zero so bias gradients show); the
    last layer's bias replaced by ``output_bias`` where given."""
    rng = np.random.default_rng(7)
    weights, fan_in = [], N_FEATURES
    for _, kwargs in layers:
        units = kwargs["units"]
        weights.append(rng.uniform(-0.6, 0.6, size=(fan_in, units)).astype(np.float32))
        weights.append(rng.uniform(-0.1, 0.1, size=(units,)).astype(np.float32))
        fan_in = units
    if output_bias is not None:
        weights[-1] = np.array(output_bias, dtype=np.float32)
    return weights


# ---------------------------------------------------------------------------------------------
# Keras side.

def import_keras():
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices: each case builds a fresh model
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    import keras

    keras.utils.set_random_seed(0)
    return tf, keras


def build_model(keras, layers):
    keras.utils.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 suggests keras.Input over input_shape=
        return keras.Sequential([getattr(keras.layers, cls)(**kwargs) for cls, kwargs in layers])


def make_loss(keras, spec):
    if "name" in spec:
        return spec["name"]
    return getattr(keras.losses, spec["class"])(**spec["kwargs"])


def compiled_model(keras, layers, w0, loss_spec, opt, metrics):
    model = build_model(keras, layers)
    model.set_weights(w0)
    cls, kwargs = opt
    model.compile(optimizer=getattr(keras.optimizers, cls)(**kwargs),
                  loss=make_loss(keras, loss_spec), metrics=list(metrics), jit_compile=False)
    return model


def as_list(result):
    return [float(v) for v in (result if isinstance(result, (list, tuple)) else [result])]


def run_case(keras, spec, opt, x, y):
    """All procedures for one (loss, optimizer) pair -> dict of arrays (everything but meta)."""
    layers, loss_spec, metrics = spec["layers"], spec["loss"], spec["metrics"]
    w0 = make_initial_weights(layers, spec["output_bias"])
    out = {"x": x, "y": y}
    out.update({f"w0_{i}": w for i, w in enumerate(w0)})

    model = compiled_model(keras, layers, w0, loss_spec, opt, metrics)
    returned = []
    for step in range(1, TOB_STEPS + 1):
        returned.append(as_list(model.train_on_batch(x, y)))
        if step in (1, TOB_STEPS):
            out.update({f"tob{step}_w{i}": w for i, w in enumerate(model.get_weights())})
    returned = np.array(returned, dtype=np.float32)
    out["tob_losses"] = returned[:, 0]
    out["tob_metrics"] = returned[:, 1:]

    for batch_size in (8, 10):
        model = compiled_model(keras, layers, w0, loss_spec, opt, metrics)
        history = model.fit(x, y, batch_size=batch_size, epochs=FIT_EPOCHS, shuffle=False,
                            verbose=0)
        tag = f"fit{batch_size}"
        out.update({f"{tag}_w{i}": w for i, w in enumerate(model.get_weights())})
        for key, values in history.history.items():
            out[f"{tag}_hist_{key}"] = np.array(values, dtype=np.float32)
        if batch_size == 8:
            out[f"{tag}_eval"] = np.array(as_list(model.evaluate(x, y, verbose=0)),
                                          dtype=np.float32)
            out[f"{tag}_pred"] = model.predict(x, verbose=0).astype(np.float32)
    for key, value in out.items():
        if value.dtype == np.float64:
            raise TypeError(f"{key} is float64; golden arrays are float32")
    return out


def summary_text(keras, layers):
    model = build_model(keras, layers)
    chunks = []
    model.summary(print_fn=chunks.append)
    return "".join(chunks)


# ---------------------------------------------------------------------------------------------
# Deterministic writing.

def npz_bytes(arrays):
    """An .npz (readable by np.load(allow_pickle=False)) with fixed timestamps and key order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            array_buffer = io.BytesIO()
            np.lib.format.write_array(array_buffer, np.asarray(arrays[key]), allow_pickle=False)
            zf.writestr(info, array_buffer.getvalue())
    return buffer.getvalue()


def generate(keras, tf):
    """Return {relative path: bytes} of every golden file."""
    versions = {"keras": keras.__version__, "tensorflow": tf.__version__,
                "numpy": np.__version__, "python": sys.version.split()[0],
                "backend": keras.backend.backend()}
    files = {}
    x, targets = make_data()
    for loss_name, spec in LOSS_CASES.items():
        for opt_name in spec["optimizers"] or OPTIMIZERS:
            opt = OPTIMIZERS[opt_name]
            arrays = run_case(keras, spec, opt, x, targets[spec["target"]])
            cls, kwargs = opt
            opt_config = getattr(keras.optimizers, cls)(**kwargs).get_config()
            meta = {
                "case": f"{loss_name}__{opt_name}",
                "versions": versions,
                "layers": [[c, k] for c, k in spec["layers"]],
                "loss": spec["loss"],
                "target": spec["target"],
                "metrics": spec["metrics"],
                "output_bias": spec["output_bias"],
                "optimizer": {"class": cls, "kwargs": kwargs,
                              "keras_config": {k: v for k, v in opt_config.items()
                                               if k != "name" and (v is None or isinstance(
                                                   v, (int, float, bool, str)))}},
                "train_on_batch_steps": TOB_STEPS,
                "fit": {"batch_sizes": [8, 10], "epochs": FIT_EPOCHS, "shuffle": False},
                "compile": {"jit_compile": False, "run_eagerly": False},
            }
            arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
            files[f"keras_parity/{loss_name}__{opt_name}.npz"] = npz_bytes(arrays)

    manifest = {"versions": versions, "models": {}}
    for name, layers in SUMMARY_MODELS.items():
        text = summary_text(keras, layers)
        width = max(len(line) for line in text.splitlines())
        manifest["models"][name] = {"layers": [[c, k] for c, k in layers], "line_length": width}
        files[f"summary/{name}.txt"] = text.encode("utf-8")
    manifest["note"] = ("Text exactly as Keras passes it to summary(print_fn=...): a rich table "
                        "without colour, rendered with COLUMNS=80 (not a terminal), so the "
                        "table width is min(88, 80 - 4) = 76 characters; names from a fresh "
                        "keras.utils.clear_session().")
    files["summary/manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True)
                                      + "\n").encode("utf-8")
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the files on disk instead of writing them")
    args = parser.parse_args(argv)
    tf, keras = import_keras()
    files = generate(keras, tf)
    if args.check:
        stale = [p for p, data in files.items()
                 if not (GOLDEN / p).exists() or (GOLDEN / p).read_bytes() != data]
        print(f"{len(files) - len(stale)} up to date, {len(stale)} differ: {stale}")
        return 1 if stale else 0
    for path, data in files.items():
        (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
        (GOLDEN / path).write_bytes(data)
    print(f"wrote {len(files)} files under {GOLDEN} "
          f"(keras {keras.__version__}, tensorflow {tf.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
