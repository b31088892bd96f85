"""The notes' worked examples, computed by glassnet: ``glassnet lesson [NAME] [--plot FILE.png]``.

Each lesson is a short module here with a ``run(plot=None)`` function that prints what it computes
(every number comes from the library, nothing is typed in) and, given ``plot``, saves a picture.
They use the public API only, so each one is also an example of how to call glassnet::

    >>> import glassnet.lessons
    >>> glassnet.lessons.run("derivatives")          # doctest: +SKIP
"""
import importlib

# name -> (module, one line for the list), in the order of the course
LESSONS = {
    "neuron": ("neuron", "y = Σ wᵢxᵢ + b on age, income, education, then the sigmoid"),
    "activations": ("activations", "step, sigmoid, tanh, ReLU, leaky ReLU and their derivatives"),
    "losses": ("losses", "MAE, MSE, log loss, categorical and sparse cross-entropy, per sample"),
    "derivatives": ("derivatives", "slope vs derivative, partial derivatives, the chain rule by autograd"),
    "gradient-descent": ("gradient_descent", "logistic regression on the insurance table, epoch by epoch"),
    "batch-vs-sgd": ("batch_vs_sgd", "batch, stochastic and mini-batch gradient descent on home prices"),
    "digits": ("digits", "one MNIST digit as numbers, flattened, the notes' model trained"),
    "precision-recall": ("precision_recall", "the dog example: TP, FP, TN, FN, precision, recall, F1"),
    "convolution": ("convolution", "a 3×3 filter sliding over an image, ReLU, max pooling, flattening"),
    "cnn": ("cnn", "the CIFAR-10 CNN layer by layer, and the feature maps of one image"),
}


def module(name):
    """The lesson's module (``glassnet.lessons.<module>``); ValueError for an unknown name."""
    if name not in LESSONS:
        raise ValueError(f"no lesson named {name!r}. Expected one of: {', '.join(LESSONS)}. "
                         "Hint: 'glassnet lesson' lists them.")
    return importlib.import_module(f"{__name__}.{LESSONS[name][0]}")


def run(name, plot=None):
    """Run lesson ``name`` (printing its output); with ``plot``, also save its picture there."""
    lesson = module(name)
    if plot is not None and not hasattr(lesson, "draw"):
        drawing = [n for n in LESSONS if hasattr(module(n), "draw")]
        raise ValueError(f"lesson {name!r} draws no picture. Expected --plot with one of: "
                         f"{', '.join(drawing)}.")
    lesson.run(plot=plot)


def save(fig, path):
    """Save a matplotlib Figure (made with ``matplotlib.figure.Figure``, no pyplot state) and say where."""
    fig.savefig(path, dpi=100)
    if fig.canvas.manager is not None:             # a pyplot figure (from glassnet.plots): release it
        import matplotlib.pyplot as plt
        plt.close(fig)
    print(f"\nSaved the picture to {path}")


def figure(**kwargs):
    """A matplotlib Figure not tied to any window (so it works on servers); ImportError if missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('--plot needs matplotlib; install it with: pip install "glassnet[plot]"') from None
    return Figure(**kwargs)


# -- the command line --------------------------------------------------------------------------------
def add_commands(subparsers):
    p = subparsers.add_parser(
        "lesson", help="run one of the notes' worked examples (no NAME: list them)",
        description="Run one of the notes' worked examples, computed by glassnet. Without NAME, list them.")
    p.add_argument("name", nargs="?", metavar="NAME", help="the lesson (see the list)")
    p.add_argument("--plot", metavar="FILE.png", help="also save the lesson's picture to this PNG file")
    p.set_defaults(run=_command)


def _command(args):
    from ..cli import CommandError
    if args.name is None:
        width = max(map(len, LESSONS))
        print("Lessons (run one with: glassnet lesson NAME [--plot FILE.png]):")
        for name, (_, line) in LESSONS.items():
            print(f"  {name:<{width}}  {line}")
        return 0
    try:
        run(args.name, plot=args.plot)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return 0
