"""Pictures of what the network does: activations, training curves, confusion matrix, digit grids.

Needs matplotlib, the optional extra: ``pip install "glassnet[plot]"``. It is imported inside each
function, so ``import glassnet`` stays fast and works without it. Without a display (a server, CI)
the "Agg" backend is chosen, so figures can always be saved with ``fig.savefig("name.png")``.

Every function returns the matplotlib ``Figure``; nothing is shown or saved behind your back::

    fig = glassnet.plots.plot_history(history)      # history = model.fit(...)
    fig.savefig("curves.png")
"""
import os
import sys

import numpy as np


def _pyplot():
    """Import ``matplotlib.pyplot``, choosing "Agg" first when there is no display to draw on."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError('glassnet.plots needs matplotlib, which is not installed. Install it with: '
                          'pip install "glassnet[plot]"') from None
    headless = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY"))
    if headless and "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# -- activation functions --------------------------------------------------------------------------
def activation_curves(z=None):
    """``{name: (z, f(z), f'(z))}`` for step, sigmoid, tanh, ReLU and leaky ReLU ``max(0.1z, z)``.

    f is the function from ``glassnet.activations``; f' is what glassnet's autograd computes
    (``f(z).sum().backward()`` leaves ``f'(z)`` in ``z.grad``), so the picture shows the very
    derivatives that training uses. The step function has no useful derivative (0 wherever it
    exists), and its backward refuses to run, so its f' is drawn as 0.
    """
    from . import activations
    from .engine import Tensor
    z = np.linspace(-5, 5, 1001) if z is None else np.asarray(z, np.float64)
    functions = {
        "step": activations.step,
        "sigmoid": activations.sigmoid,
        "tanh": activations.tanh,
        "ReLU": activations.relu,
        "leaky ReLU max(0.1z, z)": lambda t: activations.leaky_relu(t, negative_slope=0.1),
    }
    curves = {}
    for name, f in functions.items():
        zt = Tensor(z, requires_grad=True, dtype="float64")
        out = f(zt)
        try:
            out.sum().backward()                    # d(Σ f(z_i))/dz_i = f'(z_i)
            slope = zt.grad.copy()
        except RuntimeError:                        # step: f' = 0 almost everywhere
            slope = np.zeros_like(z)
        curves[name] = (z, out.data.copy(), slope)
    return curves


def plot_activations():
    """The notes' "graphs of activation functions": each f(z) with its derivative f'(z)."""
    plt = _pyplot()
    curves = activation_curves()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), layout="constrained")
    for ax, (name, (z, f, df)) in zip(axes.flat, curves.items()):
        ax.plot(z, _gaps(f), lw=2.2, label="f(z)")
        slope_label = "f'(z) = 0 (undefined at 0)" if name == "step" else "f'(z)"
        ax.plot(z, _gaps(df), lw=1.6, ls="--", label=slope_label)
        _zero_lines(ax)
        ax.set_title(name)
        ax.set_xlabel("z")
        ax.legend(loc="upper left")
    all_ax = axes.flat[5]
    for name, (z, f, _) in curves.items():
        all_ax.plot(z, _gaps(f), lw=1.8, label=name.split(" max")[0])
    _zero_lines(all_ax)
    all_ax.set_ylim(-1.5, 2.5)
    all_ax.set_title("all five, f(z)")
    all_ax.set_xlabel("z")
    all_ax.legend(loc="upper left", fontsize="small")
    fig.suptitle("Activation functions and their derivatives (computed by glassnet's autograd)")
    return fig


def _gaps(y):
    """``y`` with NaN where it jumps, so a discontinuity is drawn as a gap, not a vertical line."""
    y = np.array(y, dtype=float)
    y[1:][np.abs(np.diff(y)) > 0.05] = np.nan
    return y


def _zero_lines(ax):
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.grid(alpha=0.3)


# -- training curves -------------------------------------------------------------------------------
def plot_history(history):
    """Loss and metric curves per epoch from ``model.fit``: one panel per quantity, ``val_*`` dashed.

    Args:
        history: the ``History`` returned by ``fit`` or its ``.history`` dict of lists.
    """
    plt = _pyplot()
    logs = _logs(history)
    names = [k for k in logs if not k.startswith("val_")]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in names]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), layout="constrained",
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        _draw_curve(ax, logs, name)
    return fig


def _logs(history):
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history expects the History returned by fit (or its .history dict of "
                         f"lists) with at least one entry. Received: {history!r}")
    return logs


def _draw_curve(ax, logs, name):
    for key, style, label in ((name, "-", "training"), ("val_" + name, "--", "validation")):
        if key in logs:
            values = np.asarray(logs[key], dtype=float)
            ax.plot(np.arange(1, len(values) + 1), values, style, marker="o", ms=4, label=label)
    ax.xaxis.get_major_locator().set_params(integer=True)       # whole epochs on the axis
    ax.set_title(name)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()


# -- confusion matrix ------------------------------------------------------------------------------
def plot_confusion_matrix(cm, labels=None, title="Confusion matrix"):
    """A heat map of ``cm`` (rows = true label, columns = predicted) with the count in each cell."""
    plt = _pyplot()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * max(len(cm), 4), 0.8 + 0.55 * max(len(cm), 4)),
                           layout="constrained")
    _draw_confusion(ax, cm, labels, title)
    return fig


def _draw_confusion(ax, cm, labels, title):
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K). Received shape {cm.shape}.")
    labels = list(range(len(cm))) if labels is None else list(labels)
    if len(labels) != len(cm):
        raise ValueError(f"{len(labels)} labels for a {cm.shape[0]} x {cm.shape[1]} confusion matrix.")
    image = ax.imshow(cm, cmap="Blues")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    threshold = cm.max() / 2 if cm.size else 0
    for (i, j), count in np.ndenumerate(cm):
        text = f"{count:.2f}" if np.issubdtype(cm.dtype, np.floating) else str(count)
        ax.text(j, i, text, ha="center", va="center", fontsize="small",
                color="white" if count > threshold else "black")
    slanted = max(len(str(x)) for x in labels) > 3                 # class names: slant them
    ax.set_xticks(range(len(labels)), [str(x) for x in labels], rotation=40 if slanted else 0,
                  ha="right" if slanted else "center")
    ax.set_yticks(range(len(labels)), [str(x) for x in labels])
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title)


# -- image grids -----------------------------------------------------------------------------------
def show_images(images, labels=None, predictions=None, ncols=10, max_images=50):
    """A grid of images titled with their labels; with ``predictions``, wrong ones in red.

    Args:
        images: (N, H, W) grayscale, (N, H, W, 3) colour, or flattened (N, H·W) square images.
        labels: the true labels (optional).
        predictions: predicted labels (optional); a title reads "7 → 2" (true → predicted).
        ncols: images per row.
        max_images: show at most this many (the first ones).
    """
    plt = _pyplot()
    images = _as_images(images)[:max_images]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = plt.figure(figsize=(1.3 * ncols, 1.5 * nrows + 0.3), layout="constrained")
    _draw_images(fig, images, labels, predictions, ncols)
    return fig


def _as_images(images):
    images = np.asarray(images)
    if images.ndim == 2:                                    # (N, H·W) flattened square images
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"cannot show flattened images of length {images.shape[1]}: not a square.")
        images = images.reshape(len(images), side, side)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"show_images expects (N, H, W), (N, H, W, 3) or (N, H·W) with N ≥ 1. "
                         f"Received shape {images.shape}.")
    return images


def _draw_images(fig, images, labels, predictions, ncols):
    nrows = -(-len(images) // ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= len(images):
            continue
        ax.imshow(images[k], cmap="gray" if images.ndim == 3 else None)
        title, colour = _caption(k, labels, predictions)
        ax.set_title(title, color=colour, fontsize="medium")
        if colour == "red":                                 # a red frame around a wrong answer
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set(color="red", linewidth=2.5)


def _caption(k, labels, predictions):
    true = None if labels is None else np.ravel(labels[k])[0]      # (N,) or Keras's (N, 1)
    pred = None if predictions is None else np.ravel(predictions[k])[0]
    if pred is None:
        return ("" if true is None else str(true)), "black"
    if true is None:
        return f"pred {pred}", "black"
    return (f"{true}", "black") if true == pred else (f"{true} → {pred}", "red")


# -- one page for a training run (used by `glassnet train`) ----------------------------------------
def plot_training_report(history, cm, labels, images, y_true, y_pred, title="glassnet training report",
                         max_examples=20):
    """Curves, the confusion matrix and misclassified test examples on one page."""
    plt = _pyplot()
    logs = _logs(history)
    fig = plt.figure(figsize=(15, 11), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.35, 1])
    left, right = top.subfigures(1, 2, width_ratios=[1, 1.25])
    curve_names = [k for k in ("loss", "accuracy") if k in logs] or list(logs)[:2]
    for ax, name in zip(left.subplots(len(curve_names), 1, squeeze=False)[:, 0], curve_names):
        _draw_curve(ax, logs, name)
    _draw_confusion(right.subplots(), np.asarray(cm), labels, "confusion matrix (test set)")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)[:max_examples]
    if len(wrong):
        bottom.suptitle(f"misclassified test examples: true → predicted (first {len(wrong)} of "
                        f"{int((y_true != y_pred).sum())})")
        names = np.asarray([str(x) for x in labels])                 # captions by name ("cat → dog")
        _draw_images(bottom, _as_images(images)[wrong], names[y_true[wrong]], names[y_pred[wrong]], ncols=10)
    else:
        bottom.suptitle("no misclassified test examples")
    fig.suptitle(title, fontsize="x-large")
    return fig


__all__ = ["activation_curves", "plot_activations", "plot_history", "plot_confusion_matrix",
           "show_images", "plot_training_report"]


# -- look inside a CNN -----------------------------------------------------------------------------
def feature_map_stages(model, image):
    """``[(title, maps (H, W, C))]`` for one image: the input, then what each layer up to Flatten makes.

    A Conv2D with a nonlinear activation gives two stages, the filter responses before it
    (``conv.conv2d`` with the layer's own kernel and bias) and the maps after it (e.g. ReLU), so the
    notes' conv → ReLU → pool sequence is visible. Uses ``model.layer_outputs``.
    """
    from . import conv
    from .engine import Tensor
    from .layers import Conv2D
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    stages, previous = [("input", image)], image[None]
    for layer, out in zip(model.layers, model.layer_outputs(image[None])):
        if out.ndim != 4:
            break
        act = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if isinstance(layer, Conv2D) and act != "linear":
            pre = conv.conv2d(Tensor(previous), layer.kernel, layer.bias, layer.strides, layer.padding).data
            stages.append((f"{layer.name}: {layer.filters} filters {layer.kernel_size[0]}×{layer.kernel_size[1]}",
                           pre[0]))
            stages.append((f"{layer.name}: after {act}", out[0]))
        else:
            stages.append((layer.name, out[0]))
        previous = out
    return stages


def plot_feature_maps(model, image, max_maps=8, title=None):
    """One row per stage (input, conv, ReLU, pool, ...), the first ``max_maps`` channels of each.

    Args:
        model: a built Sequential whose first layers take images (N, H, W, C).
        image: one image (H, W, C) or (H, W), scaled as the model was trained (e.g. / 255).
        max_maps: channels drawn per row.
    """
    plt = _pyplot()
    stages = feature_map_stages(model, image)
    fig, axes = plt.subplots(len(stages), max_maps, figsize=(1.5 * max_maps, 1.75 * len(stages)),
                             layout="constrained", squeeze=False)
    for row, (name, maps) in zip(axes, stages):
        for k, ax in enumerate(row):
            ax.set_axis_off()
        if name == "input":
            row[0].imshow(np.clip(maps, 0, 1) if maps.shape[-1] == 3 else maps[..., 0], cmap="gray")
            row[0].set_title(f"input {maps.shape[0]}×{maps.shape[1]}×{maps.shape[2]}", fontsize="small",
                             loc="left")
            continue
        for k, ax in enumerate(row[:maps.shape[-1]]):
            ax.imshow(maps[..., k], cmap="viridis")
        row[0].set_title(f"{name}  ({maps.shape[0]}×{maps.shape[1]}×{maps.shape[2]}, first "
                         f"{min(max_maps, maps.shape[-1])} maps)", fontsize="small", loc="left")
    fig.suptitle(title or "feature maps: what each layer sees", fontsize="large")
    return fig


def plot_filters(model, layer=None, ncols=8):
    """The kernels of a Conv2D layer (the first by default) as small images, one per filter.

    With 3 input channels each (KH, KW, 3) kernel is drawn in colour, rescaled to [0, 1] per filter;
    with one channel in grey; otherwise the mean over the input channels, in grey.
    """
    from .layers import Conv2D
    plt = _pyplot()
    convs = [l for l in model.layers if isinstance(l, Conv2D)]
    if layer is None and not convs:
        raise ValueError("plot_filters needs a model with a Conv2D layer; this one has "
                         f"{[type(l).__name__ for l in model.layers]}.")
    layer = convs[0] if layer is None else (model.layers[layer] if isinstance(layer, int) else layer)
    kernel = np.asarray(layer.kernel.data, dtype=np.float64)           # (KH, KW, C, F)
    f = kernel.shape[-1]
    ncols = min(ncols, f)
    nrows = -(-f // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.3 * nrows + 0.5), layout="constrained",
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= f:
            continue
        w = kernel[..., k]
        w = (w - w.min()) / max(w.max() - w.min(), 1e-12)
        ax.imshow(w if w.shape[-1] == 3 else w.mean(axis=-1), cmap=None if w.shape[-1] == 3 else "gray",
                  interpolation="nearest")
        ax.set_title(str(k), fontsize="small")
    fig.suptitle(f"{layer.name}: {f} filters {kernel.shape[0]}×{kernel.shape[1]}×{kernel.shape[2]}")
    return fig


__all__ += ["feature_map_stages", "plot_feature_maps", "plot_filters"]
