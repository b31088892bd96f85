"""The ``glassnet`` command (also ``python -m glassnet``): a thin argparse layer over the public API.

    glassnet train mnist [--model notes|hidden|cnn] [--epochs N] [--batch-size N] [--out DIR]
    glassnet train cifar10 [--model cnn|ann] [--epochs N] ...
    glassnet train mnist --resume DIR               (after Ctrl-C, a crash or a kill)
    glassnet evaluate MODEL [--dataset mnist]
    glassnet predict MODEL IMAGE...
    glassnet plot activations [--out FILE.png]
    glassnet plot feature-maps MODEL IMAGE [--out FILE.png]   (IMAGE: a file, or cifar10:bird, mnist:7, ...)
    glassnet plot filters MODEL [--out FILE.png]
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

from . import __version__, callbacks, datasets, images, metrics, models, utils, zoo

MODELS = {
    "notes": "the course notes' model: Dense(10, input_shape=(784,), activation='sigmoid')",
    "hidden": "one hidden layer: Dense(100, activation='relu'), then Dense(10, activation='sigmoid')",
    "cnn": "mnist: Conv2D(30, 3x3, relu), MaxPool, Flatten, Dense(100, relu), Dense(10); cifar10: the "
           "tutorial's CNN Conv32, MaxPool, Conv64, MaxPool, Flatten, Dense(64, relu), Dense(10), adam",
    "ann": "cifar10's dense baseline: Flatten, Dense(3000, relu), Dense(1000, relu), Dense(10), SGD",
}
PLOT_HINT = 'pip install "glassnet[plot]"'

# Subcommands that live beside the code they drive: each module named here has a function
# add_commands(subparsers) that adds its parsers (with set_defaults(run=...)).
COMMAND_MODULES = ["glassnet.lessons", "glassnet.web", "glassnet.export"]


class CommandError(Exception):
    """A user-facing problem: printed as one line, no traceback."""


# -- the subcommands ------------------------------------------------------------------------------
def train(args):
    """Train on MNIST or CIFAR-10 (models from ``zoo``), writing a backup after every epoch to OUT/backup (and OUT/history.csv).

    Ctrl-C stops at a batch boundary and exits with status 130; ``--resume OUT`` (also after a
    crash or SIGKILL) continues from the last finished epoch with the settings saved in OUT/run.json,
    to the same final weights as a run that was never stopped.
    """
    if args.resume is None:
        args.model = args.model or zoo.DEFAULT_MODEL[args.dataset]
        if args.model not in zoo.MODELS[args.dataset]:
            raise CommandError(f"no model {args.model!r} for {args.dataset}: choose one of "
                               + ", ".join(zoo.MODELS[args.dataset]))
    out = _train_settings(args)
    if args.seed is not None:
        utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test), names = _load_dataset(args.dataset, args.embedded, args.limit)
    model = zoo.build(args.dataset, args.model)
    shape = zoo.input_shape(args.dataset, args.model)
    x_train, x_test_in = _scaled(x_train, shape), _scaled(x_test, shape)
    about = MODELS[args.model]
    if args.model == "cnn":                             # the help text describes both datasets' CNNs
        about = about.split("; cifar10: ")[args.dataset == "cifar10"].removeprefix("mnist: ")
    print(f"Training {args.model!r} ({about}) on {len(x_train):,} {args.dataset} images; "
          f"the {len(x_test):,} test images are the validation data (curves only).")
    backup = callbacks.BackupAndRestore(out / "backup", delete_checkpoint=False)
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(x_test_in, y_test),
              callbacks=[backup, callbacks.CSVLogger(out / "history.csv")])
    if model.interrupted:
        print(f"\nInterrupted. The last finished epoch is saved in {out / 'backup'}; continue with:\n"
              f"  glassnet train {args.dataset} --resume {out}", file=sys.stderr)
        return 130
    y_pred = _report(model, x_test_in, y_test, names)

    model.save(out / "model.gnet")
    print(f"\nSaved the model to {out / 'model.gnet'}")
    try:
        from . import plots
        cm = metrics.confusion_matrix(y_test, y_pred, labels=list(range(10)))
        fig = plots.plot_training_report(_read_history(out / "history.csv"), cm, names, x_test, y_test,
                                         y_pred, title=f"glassnet train {args.dataset} --model {args.model}")
    except ImportError:
        print(f"No report.png: matplotlib is not installed ({PLOT_HINT}).")
        return 0
    fig.savefig(out / "report.png", dpi=90)
    _close(fig)
    print(f"Saved the report (curves, confusion matrix, misclassified images) to {out / 'report.png'}")
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


PLOTS = {"activations": ("activations.png", "the activation functions and their derivatives", 0),
         "feature-maps": ("feature_maps.png", "the feature maps of each layer", 2),
         "filters": ("filters.png", "the first convolution's filters", 1)}


def plot(args):
    default_out, what, needed = PLOTS[args.what]
    if len(args.inputs) != needed:
        usage = {0: "no MODEL or IMAGE", 1: "MODEL", 2: "MODEL IMAGE"}[needed]
        raise CommandError(f"'glassnet plot {args.what}' takes {usage}; received {args.inputs or 'none'}")
    try:
        from . import plots
        if args.what == "activations":
            fig = plots.plot_activations()
        elif args.what == "filters":
            fig = plots.plot_filters(_load_model(args.inputs[0]))
        else:
            model = _load_model(args.inputs[0])
            image, caption = _plot_image(args.inputs[1], tuple(model.input_shape)[1:])
            fig = plots.plot_feature_maps(model, image, title=f"feature maps of {caption}")
    except ImportError:
        raise CommandError(f"plotting needs matplotlib; install it with: {PLOT_HINT}") from None
    out = pathlib.Path(args.out or default_out)
    fig.savefig(out, dpi=100)
    _close(fig)
    print(f"Saved {what} to {out}")
    return 0


def _plot_image(spec, shape):
    """IMAGE for ``plot feature-maps``: ``DATASET:N`` / ``DATASET:CLASS`` (a test image) or an image file,
    returned scaled to [0, 1] with the model's per-sample ``shape``."""
    dataset, _, which = spec.partition(":")
    if dataset in zoo.MODELS and which and not os.path.exists(spec):
        _, (x_test, y_test), names = _load_dataset(dataset, False, None)
        y_test = np.ravel(y_test)
        if which.isdigit():
            k = int(which)
        elif which in names:
            k = int(np.flatnonzero(y_test == names.index(which))[0])
        else:
            raise CommandError(f"{spec}: expected {dataset}:N (a test image number) or {dataset}:CLASS, "
                               f"CLASS one of {', '.join(map(str, names))}")
        if k >= len(x_test):
            raise CommandError(f"{spec}: the {dataset} test set has {len(x_test)} images (0..{len(x_test) - 1})")
        image, caption = x_test[k] / 255, f"{dataset} test image {k} ({names[int(y_test[k])]})"
    else:
        import matplotlib.image
        if not os.path.exists(spec):
            raise FileNotFoundError(2, "No such file or directory", spec)
        image, caption = matplotlib.image.imread(spec), spec
        image = image / 255 if image.dtype == np.uint8 else image
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and shape[-1] == 1:
        image = image[..., :3].mean(axis=-1)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if int(np.prod(image.shape)) != int(np.prod(shape)):
        raise CommandError(f"{spec}: an image of shape {image.shape}, but the model takes {shape}")
    return image.reshape(shape), caption


def info(args):
    model = _load_model(args.model)
    model.summary()
    if getattr(model, "compiled", False):
        loss = getattr(model.loss, "name", model.loss)
        print(f" Compiled with: optimizer {type(model.optimizer).__name__}, loss {loss}")
    return 0


# -- helpers ---------------------------------------------------------------------------------------
def _load_dataset(name, embedded, limit):
    """(x_train, y_train), (x_test, y_test) as uint8 images with labels (N,), and the class names."""
    if name == "mnist":
        return (*_load_mnist(embedded, limit), list(range(10)))
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data()
    x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit, 0], x_test[:limit], y_test[:limit, 0]
    return (x_train, y_train), (x_test, y_test), list(datasets.cifar10.LABEL_NAMES)


def _scaled(x, shape):
    """uint8 images -> float32 in [0, 1] with the model's per-sample shape, e.g. (784,) or (28, 28, 1)."""
    return (x.reshape((len(x),) + tuple(shape)) / 255).astype(np.float32)


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


def _model_input(model, digits, model_path):
    """Digits (N, 28, 28) in [0, 1] (or uint8) reshaped to what the model takes, or a clear error."""
    x = digits / 255 if digits.dtype == np.uint8 else digits
    shape = images.digit_input_shape(model, model_path)
    return x.reshape((len(x),) + shape).astype(np.float32)


def _probabilities(scores):
    """Rows that sum to 1, as the loss reads them: probabilities are normalised, logits softmaxed."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.min() >= 0 and scores.max() <= 1:
        return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _report(model, x, y_true, names=None):
    """Print the test accuracy, the classification report and the confusion matrix; return y_pred.

    ``names``: the class names (default the digits 0..9); long names are shortened in the matrix."""
    names = list(range(10)) if names is None else list(names)
    y_pred = np.argmax(model.predict(x, verbose=0), axis=1)
    print(f"\nTest accuracy: {metrics.accuracy_score(y_true, y_pred):.4f}\n")
    print(metrics.classification_report(y_true, y_pred, labels=list(range(10)),
                                        target_names=[str(n) for n in names], zero_division=0))
    cm = metrics.confusion_matrix(y_true, y_pred, labels=list(range(10)))
    width = max(4, len(str(cm.max())) + 1, *(min(len(str(n)), 5) + 1 for n in names))
    left = max(4, *(len(str(n)) for n in names))
    kind = "digit" if names == list(range(10)) else "class"
    print(f"Confusion matrix (rows: true {kind}, columns: predicted {kind})")
    print(" " * (left + 1) + "".join(f"{str(n)[:5]:>{width}}" for n in names))
    for name, row in zip(names, cm):
        print(f"{str(name):>{left}} " + "".join(f"{count:>{width}}" for count in row))
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
                       description="Train on MNIST or CIFAR-10, print the test accuracy, the classification report "
                                   "and the confusion matrix, then save model.gnet and report.png.")
    p.add_argument("dataset", choices=["mnist", "cifar10"], help="the dataset (mnist or cifar10)")
    p.add_argument("--model", choices=list(MODELS),
                   help="mnist: notes (default), hidden or cnn; cifar10: cnn (default) or ann. "
                        + "; ".join(f"{k}: {v}" for k, v in MODELS.items()))
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
    p.add_argument("what", choices=list(PLOTS),
                   help="activations: step, sigmoid, tanh, ReLU, leaky ReLU and their derivatives; "
                        "feature-maps MODEL IMAGE: what each conv / ReLU / pool layer makes of one image "
                        "(IMAGE: a PNG file, or a test image DATASET:N or DATASET:CLASS, e.g. cifar10:bird); "
                        "filters MODEL: the first Conv2D layer's kernels")
    p.add_argument("inputs", nargs="*", metavar="MODEL [IMAGE]", help="for feature-maps and filters")
    p.add_argument("--out", metavar="FILE.png",
                   help="the PNG file to write (default activations.png, feature_maps.png or filters.png)")
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
