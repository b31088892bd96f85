"""Convolution: a 3×3 filter slides over an image; ReLU; max pooling; flattening — with the shapes.

The filter is the notes' ``[[1, 0, 1], [0, 1, 0], [1, 0, 1]]`` (an "X" detector) on a small binary
image; each window's value is the sum of the element-wise products (deep learning's "convolution"
is cross-correlation: the filter is not flipped, as in Keras and PyTorch). glassnet's ``Conv2D``
layer, given this filter as its kernel, computes the same feature map. Then a bias of −3 and ReLU
keep only the strong matches, and ``MaxPooling2D`` (2×2, stride 2) runs on the notes' 4×4 example.
Images are channels-last: (N, H, W, C).
"""
import numpy as np

import glassnet as gn
from . import figure, save

IMAGE = np.array([[1, 1, 1, 0, 0],
                  [0, 1, 1, 1, 0],
                  [0, 0, 1, 1, 1],
                  [0, 0, 1, 1, 0],
                  [0, 1, 1, 0, 0]], dtype=np.float32)
FILTER = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
POOL_INPUT = np.array([[1, 4, 2, 7], [2, 6, 8, 5], [3, 4, 0, 7], [1, 2, 3, 1]], dtype=np.float32)


def _grid(a, indent="  "):
    return "\n".join(indent + " ".join(f"{v:>3g}" for v in row) for row in a)


def conv_layer(bias=0.0, activation=None):
    """Conv2D with one 3×3 filter set to FILTER: kernel shape (KH, KW, C, F) = (3, 3, 1, 1)."""
    layer = gn.layers.Conv2D(1, 3, activation=activation)
    layer.build((None,) + IMAGE.shape + (1,))
    layer.set_weights([FILTER.reshape(3, 3, 1, 1), np.array([bias], dtype=np.float32)])
    return layer


def run(plot=None):
    x = IMAGE[None, :, :, None]                                        # (N, H, W, C) = (1, 5, 5, 1)
    print(f"Image {x.shape} (N, H, W, C):\n{_grid(IMAGE)}\nFilter (3×3):\n{_grid(FILTER)}\n")
    feature_map = conv_layer()(x)                                       # (1, 3, 3, 1)
    oh, ow = feature_map.shape[1:3]
    for i in range(oh):
        for j in range(ow):
            window = IMAGE[i:i + 3, j:j + 3]
            products = window * FILTER
            terms = " + ".join(f"{v:g}" for v in products.ravel())
            print(f"window ({i},{j}) rows {i}-{i + 2}, cols {j}-{j + 2}: {terms} = {products.sum():g}"
                  f"   Conv2D: {feature_map[0, i, j, 0]:g}")
    print(f"\nFeature map {feature_map.shape} (output size (5 − 3)/1 + 1 = "
          f"{gn.conv.conv_output_size(5, 3)}):\n{_grid(feature_map[0, :, :, 0])}")

    relu_map = conv_layer(bias=-3.0, activation="relu")(x)
    print(f"\nWith bias −3 and ReLU, max(0, sum − 3): only the strong matches stay\n"
          f"{_grid(relu_map[0, :, :, 0])}")

    pool = gn.layers.MaxPooling2D(pool_size=(2, 2), strides=2)
    p_in = POOL_INPUT[None, :, :, None]
    pooled = pool(p_in)
    print(f"\nMax pooling 2×2, stride 2, on {p_in.shape}:\n{_grid(POOL_INPUT)}")
    for i in range(pooled.shape[1]):
        for j in range(pooled.shape[2]):
            window = POOL_INPUT[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            print(f"  window ({i},{j}): max{window.ravel().astype(int).tolist()} = {pooled[0, i, j, 0]:g}")
    print(f"Pooled {pooled.shape}:\n{_grid(pooled[0, :, :, 0])}")

    flat = gn.layers.Flatten()(pooled)
    print(f"\nFlatten: {pooled.shape} -> {flat.shape}: {flat[0].tolist()}  (the input of a Dense layer)")
    if plot:
        save(draw(IMAGE, FILTER, feature_map[0, :, :, 0], relu_map[0, :, :, 0], POOL_INPUT,
                  pooled[0, :, :, 0]), plot)


def draw(*maps):
    titles = ["image", "filter", "feature map", "bias −3, ReLU", "pooling input", "max pooled 2×2"]
    fig = figure(figsize=(13, 3), layout="constrained")
    for ax, a, title in zip(fig.subplots(1, len(maps)), maps, titles):
        ax.imshow(a, cmap="Blues", vmin=0)
        for (i, j), v in np.ndenumerate(a):
            dark = v > 0.6 * a.max()
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=11, color="white" if dark else "black")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Convolution, ReLU, max pooling (glassnet lesson convolution)")
    return fig
