"""The ``glassnet`` command (also ``python -m glassnet``): a thin argparse layer over the public API.

    glassnet train mnist [--model notes|hidden] [--epochs N] [--batch-size N] [--out DIR]
    glassnet train mnist --resume DIR               (after Ctrl-C, a crash or a kill)
    glassnet evaluate MODEL [--dataset mnist]
    glassnet predict MODEL IMAGE...
    glassnet plot activations [--out FILE.png]
    glassnet info MODEL

Every subcommand has ``--help``. Errors (a missing file, a bad image, a model that does not fit
the data) print one line, ``glassnet: error: ...``, and exit with status 1.
"""
import argparse
import csv
import datetime
import importlib
import json
import os
import pathlib
import sys
import warnings

import numpy as np

from . import __version__, callbacks, datasets, images, metrics, models, utils
from .layers import Dense

MODELS = {
    "notes": "the course notes' model: Dense(10, input_shape=(784,), activation='sigmoid')",
    "hidden": "one hidden layer: Dense(100, activation='relu'), then Dense(10, activation='sigmoid')",
}
PLOT_HINT = 'pip install "glassnet[plot]"'

# Subcommands that live beside the code they drive: each module named here has a function
# add_commands(subparsers) that adds its parsers (with set_defaults(run=...)).
COMMAND_MODULES = ["glassnet.lessons", "glassnet.web", "glassnet.export"]


class CommandError(Exception):
    """A user-facing problem: printed as one line, no traceback."""


# -- the subcommands ------------------------------------------------------------------------------
def train(args):
    """Train on MNIST, writing a backup after every epoch to OUT/backup (and OUT/history.csv).

    Ctrl-C stops at a batch boundary and exits with status 130; ``--resume OUT`` (also after a
    crash or SIGKILL) continues from the last finished epoch with the settings saved in OUT/run.json,
    to the same final weights as a run that was never stopped.
    """
    out = _train_settings(args)
    if args.seed is not None:
        utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = _load_mnist(args.embedded, args.limit)
    if args.model == "notes":
        layers = [Dense(10, input_shape=(784,), activation="sigmoid")]
    else:
        layers = [Dense(100, input_shape=(784,), activation="relu"), Dense(10, activation="sigmoid")]
    model = models.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"Training {args.model!r} ({MODELS[args.model]}) on {len(x_train):,} digits; "
          f"the {len(x_test):,} test digits are the validation data (curves only).")
    backup = callbacks.BackupAndRestore(out / "backup", delete_checkpoint=False)
    model.fit(_flat(x_train), y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(_flat(x_test), y_test),
              callbacks=[backup, callbacks.CSVLogger(out / "history.csv")])
    if model.interrupted:
        print(f"\nInterrupted. The last finished epoch is saved in {out / 'backup'}; continue with:\n"
              f"  glassnet train mnist --resume {out}", file=sys.stderr)
        return 130
    y_pred = _report(model, _flat(x_test), y_test)

    model.save(out / "model.gnet")
    print(f"\nSaved the model to {out / 'model.gnet'}")
    try:
        from . import plots
        cm = metrics.confusion_matrix(y_test, y_pred, labels=list(range(10)))
        fig = plots.plot_training_report(_read_history(out / "history.csv"), cm, list(range(10)), x_test,
                                         y_test, y_pred, title=f"glassnet train mnist --model {args.model}")
    except ImportError:
        print(f"No report.png: matplotlib is not installed ({PLOT_HINT}).")
        return 0
    fig.savefig(out / "report.png", dpi=90)
    _close(fig)
    print(f"Saved the report (curves, confusion matrix, misclassified digits) to {out / 'report.png'}")
    return 0


_RUN_SETTINGS = ("dataset", "model", "epochs", "batch_size", "seed", "embedded", "limit")


def _train_settings(args):
    """The output folder; a new run saves its settings in run.json, ``--resume`` reads them back
    (an explicit ``--epochs`` may extend the run)."""
    if args.resume is None:
        out = pathlib.Path(args.out) if args.out else _run_dir()
        out.mkdir(parents=True, exist_ok=True)
        args.epochs = 5 if args.epochs is None else args.epochs
        (out / "run.json").write_text(json.dumps({k: getattr(args, k) for k in _RUN_SETTINGS}, indent=1))
        return out
    out = pathlib.Path(args.resume)
    if args.out and pathlib.Path(args.out).resolve() != out.resolve():
        raise CommandError("--resume DIR continues the run in DIR; do not give a different --out")
    try:
        saved = json.loads((out / "run.json").read_text())
        settings = {k: saved[k] for k in _RUN_SETTINGS}
    except FileNotFoundError:
        raise CommandError(f"{out}: no run.json here, so nothing to resume (it is written by "
                           "'glassnet train ... --out DIR')") from None
    except (ValueError, KeyError, TypeError) as e:
        raise CommandError(f"{out / 'run.json'}: not a glassnet run settings file ({e})") from None
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    vars(args).update(settings)
    done = "" if (out / "backup" / "state.json").exists() else " (no finished epoch yet: from epoch 1)"
    print(f"Resuming the run in {out}{done}: model {args.model}, {args.epochs} epochs, batch size "
          f"{args.batch_size}, seed {args.seed}.")
    return out


def _read_history(path):
    """history.csv (all the run's epochs, across resumes) as a dict of lists, for the report."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {}) if k != "epoch"}


def evaluate(args):
    model = _load_model(args.model)
    _, (x_test, y_test) = _load_mnist(args.embedded, args.limit)
    x = _model_input(model, x_test, args.model)
    if getattr(model, "compiled", False):
        values = model.evaluate(x, y_test, verbose=0, return_dict=True)
        print("  ".join(f"{name}: {value:.4f}" for name, value in values.items()))
    _report(model, x, y_test)
    return 0


def predict(args):
    model = _load_model(args.model)
    digits = []
    for path in args.images:
        try:
            digits.append(images.to_mnist(images.read_image(path)))
        except ValueError as exc:
            raise CommandError(exc if str(path) in str(exc) else f"{path}: {exc}") from None
    scores = model.predict(_model_input(model, np.stack(digits), args.model), verbose=0)
    for path, row in zip(args.images, _probabilities(scores)):
        k = int(np.argmax(row))
        print(f"{path}: {k}  (probability {row[k]:.2f})")
    return 0


def plot(args):
    try:
        from . import plots
        fig = plots.plot_activations()
    except ImportError:
        raise CommandError(f"plotting needs matplotlib; install it with: {PLOT_HINT}") from None
    out = pathlib.Path(args.out)
    fig.savefig(out, dpi=100)
    _close(fig)
    print(f"Saved the activation functions and their derivatives to {out}")
    return 0


def info(args):
    model = _load_model(args.model)
    model.summary()
    if getattr(model, "compiled", False):
        loss = getattr(model.loss, "name", model.loss)
        print(f" Compiled with: optimizer {type(model.optimizer).__name__}, loss {loss}")
    return 0


# -- helpers ---------------------------------------------------------------------------------------
def _load_mnist(embedded, limit):
    """MNIST as uint8; the embedded-sample notice becomes one line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data(embedded=embedded)
    for w in caught:
        print(f"glassnet: note: {_one_line(w.message)}", file=sys.stderr)
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    return (x_train, y_train), (x_test, y_test)


def _flat(x):
    """The notes' preprocessing: (N, 28, 28) uint8 -> (N, 784) floats in [0, 1]."""
    return (x.reshape(len(x), -1) / 255).astype(np.float32)


def _model_input(model, digits, model_path):
    """Digits (N, 28, 28) in [0, 1] (or uint8) reshaped to what the model takes, or a clear error."""
    x = digits / 255 if digits.dtype == np.uint8 else digits
    shape = tuple(model.input_shape or ())[1:]
    if int(np.prod(shape)) != 28 * 28:
        raise CommandError(f"{model_path}: the model takes inputs of shape {shape}, but MNIST digits "
                           "are 28 x 28 = 784 values; expected (784,), (28, 28) or (28, 28, 1)")
    if tuple(model.output_shape)[-1] != 10:
        raise CommandError(f"{model_path}: the model has {model.output_shape[-1]} outputs, expected "
                           "10 (one score per digit)")
    return x.reshape((len(x),) + shape).astype(np.float32)


def _probabilities(scores):
    """Rows that sum to 1, as the loss reads them: probabilities are normalised, logits softmaxed."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.min() >= 0 and scores.max() <= 1:
        return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _report(model, x, y_true):
    """Print the test accuracy, the classification report and the confusion matrix; return y_pred."""
    y_pred = np.argmax(model.predict(x, verbose=0), axis=1)
    print(f"\nTest accuracy: {metrics.accuracy_score(y_true, y_pred):.4f}\n")
    print(metrics.classification_report(y_true, y_pred, labels=list(range(10)), zero_division=0))
    cm = metrics.confusion_matrix(y_true, y_pred, labels=list(range(10)))
    width = max(4, len(str(cm.max())) + 1)
    print("Confusion matrix (rows: true digit, columns: predicted digit)")
    print("     " + "".join(f"{k:>{width}}" for k in range(10)))
    for k, row in enumerate(cm):
        print(f"{k:>4} " + "".join(f"{count:>{width}}" for count in row))
    return y_pred


def _load_model(path):
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    return models.load_model(path)


def _run_dir():
    base = pathlib.Path("glassnet-runs") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def _close(fig):
    import matplotlib.pyplot as plt
    plt.close(fig)


def _one_line(message):
    return " ".join(str(message).split())


# -- the parser ------------------------------------------------------------------------------------
def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, received {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="glassnet", description="glassnet: deep learning you can see through (NumPy only).",
        epilog="Run 'glassnet COMMAND --help' for the options of each command.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train a model on a dataset, then report and save it",
                       description="Train on MNIST, print the test accuracy, the classification report "
                                   "and the confusion matrix, then save model.gnet and report.png.")
    p.add_argument("dataset", choices=["mnist"], help="the dataset (mnist)")
    p.add_argument("--model", choices=list(MODELS), default="notes",
                   help="notes (default): " + MODELS["notes"] + "; hidden: " + MODELS["hidden"])
    p.add_argument("--epochs", type=_positive, metavar="N",
                   help="passes over the training data (default 5; with --resume: extend the run to N)")
    p.add_argument("--batch-size", type=_positive, default=32, metavar="N",
                   help="samples per step (default 32)")
    p.add_argument("--out", metavar="DIR", help="where to write model.gnet and report.png "
                                                "(default ./glassnet-runs/<timestamp>)")
    p.add_argument("--seed", type=int, help="random seed for the initial weights and the shuffling")
    p.add_argument("--embedded", action="store_true",
                   help="use the 10,000 / 10,000 digits shipped inside glassnet (no search, no download)")
    p.add_argument("--limit", type=_positive, help=argparse.SUPPRESS)    # first N samples: fast tests
    p.add_argument("--resume", metavar="DIR",
                   help="continue the interrupted run in DIR (its --out) from its last finished epoch, "
                        "with the settings it was started with")
    p.set_defaults(run=train)

    p = sub.add_parser("evaluate", help="accuracy, report and confusion matrix of a saved model",
                       description="Evaluate a saved model on a dataset's test set.")
    p.add_argument("model", metavar="MODEL", help="a model file written by 'glassnet train' or model.save")
    p.add_argument("--dataset", choices=["mnist"], default="mnist", help="the test set (default mnist)")
    p.add_argument("--embedded", action="store_true", help="use the embedded 10,000 test digits")
    p.add_argument("--limit", type=_positive, help=argparse.SUPPRESS)
    p.set_defaults(run=evaluate)

    p = sub.add_parser("predict", help="read digits from image files",
                       description="Read each image (PNG, or JPEG with Pillow), convert it to a 28 x 28 "
                                   "MNIST digit (inverted when dark-on-light, cropped, scaled into 20 x 20, "
                                   "centred by mass) and print the predicted digit and its probability.")
    p.add_argument("model", metavar="MODEL", help="a saved model file")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files, one digit each")
    p.set_defaults(run=predict)

    p = sub.add_parser("plot", help="draw figures (needs matplotlib)",
                       description=f"Draw a figure to a PNG file (needs matplotlib: {PLOT_HINT}).")
    p.add_argument("what", choices=["activations"],
                   help="activations: step, sigmoid, tanh, ReLU, leaky ReLU and their derivatives")
    p.add_argument("--out", metavar="FILE.png", default="activations.png",
                   help="the PNG file to write (default activations.png)")
    p.set_defaults(run=plot)

    p = sub.add_parser("info", help="print a saved model's summary table",
                       description="Print the layers, output shapes and parameter counts of a saved model.")
    p.add_argument("model", metavar="MODEL", help="a saved model file")
    p.set_defaults(run=info)

    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv=None):
    """Entry point of the ``glassnet`` command; returns the exit status (0 ok, 1 error, 2 usage)."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.run(args)
    except BrokenPipeError:                       # e.g. `glassnet evaluate m.gnet | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except FileNotFoundError as exc:
        message = f"{exc.filename}: no such file" if exc.filename else str(exc)
    except (CommandError, OSError, ValueError, ImportError) as exc:
        message = str(exc)
    except KeyboardInterrupt:
        message = "interrupted"
    print(f"glassnet: error: {_one_line(message)}", file=sys.stderr)
    return 1


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"glassnet: warning: {_one_line(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
