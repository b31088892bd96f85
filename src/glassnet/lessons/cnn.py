"""A convolutional network layer by layer: output shapes, parameter counts, and what each layer sees.

First the notes' CIFAR-10 CNN (Conv 32 3×3 relu → MaxPool 2 → Conv 64 3×3 relu → MaxPool 2 →
Flatten → Dense 64 relu → Dense 10 softmax) on 32×32×3 images: each layer's output shape and its
parameters, counted by glassnet and checked against the formulas (Conv2D: KH·KW·C·F + F; Dense:
D·U + U). Then, to see feature maps offline, the same kind of network for digits, trained briefly
on 3,000 of the MNIST digits shipped with glassnet, and one test digit passed through it layer by layer.
"""
import numpy as np

import glassnet as gn
from . import figure, save

L = gn.layers


def cifar_cnn():
    return gn.Sequential([
        L.Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])


def formula(layer):
    if isinstance(layer, L.Conv2D):
        kh, kw, c, f = layer.get_weights()[0].shape
        return f"{kh}·{kw}·{c}·{f} + {f} = {kh * kw * c * f + f:,}"
    if isinstance(layer, L.Dense):
        d, u = layer.get_weights()[0].shape
        return f"{d:,}·{u} + {u} = {d * u + u:,}"
    return "no weights"


def layer_table(model):
    shape = model.input_shape
    print(f"{'layer':<14}{'output shape':<22}{'params':>8}   formula")
    print(f"{'input':<14}{str(shape):<22}")
    for layer in model.layers:
        out = layer.compute_output_shape(shape)
        print(f"{type(layer).__name__:<14}{str(out):<22}{layer.count_params():>8,}   {formula(layer)}")
        shape = out
    print(f"{'total':<36}{model.count_params():>8,}")


def run(plot=None):
    print("The CIFAR-10 CNN, layer by layer (each 32×32 colour image is (32, 32, 3)):")
    gn.utils.set_random_seed(0)
    layer_table(cifar_cnn())

    (x_train, y_train), (x_test, y_test) = gn.datasets.mnist.load_embedded()
    x_train, y_train = x_train[:3000, :, :, None] / 255, y_train[:3000]
    x_test, y_test = x_test[:1000, :, :, None] / 255, y_test[:1000]
    model = gn.Sequential([L.Conv2D(30, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                           L.MaxPooling2D((2, 2)), L.Flatten(),
                           L.Dense(100, activation="relu"), L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"\nA CNN for digits, trained 1 epoch on {len(x_train):,} digits:")
    layer_table(model)
    history = model.fit(x_train, y_train, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"training loss {history.history['loss'][0]:.4f}; test accuracy on {len(x_test):,} digits "
          f"{accuracy:.4f}")

    digit = x_test[:1]
    maps = [digit]
    for layer in model.layers[:2]:                     # Conv2D, then MaxPooling2D
        maps.append(layer(maps[-1]))
    conv_maps = maps[1][0]
    strongest = np.argsort(conv_maps.mean(axis=(0, 1)))[::-1][:5]
    print(f"\nTest digit 0 (a {y_test[0]}), {digit.shape} -> Conv2D {maps[1].shape} -> "
          f"MaxPooling2D {maps[2].shape}")
    print("The 5 filters that respond most (mean activation): "
          + ", ".join(f"#{k} {conv_maps[:, :, k].mean():.3f}" for k in strongest))
    silent = int((conv_maps.max(axis=(0, 1)) == 0).sum())
    print(f"Filters silent on this digit (ReLU output all 0): {silent} of {conv_maps.shape[-1]}")
    print(f"Predicted: {int(np.argmax(model.predict(digit, verbose=0)))}")
    if plot:
        save(draw(maps, y_test[0]), plot)


def draw(maps, label):
    digit, conv_maps, pooled = maps[0][0, :, :, 0], maps[1][0], maps[2][0]
    n = 8
    fig = figure(figsize=(n * 1.6, 3 * 1.8 + 0.6), layout="constrained")
    axes = fig.subplots(3, n)
    axes[0, 0].imshow(digit, cmap="gray_r")
    axes[0, 0].set_title(f"input: a {label}", fontsize=9)
    for k in range(n):
        axes[1, k].imshow(conv_maps[:, :, k], cmap="viridis")
        axes[1, k].set_title(f"conv #{k} {conv_maps.shape[0]}×{conv_maps.shape[1]}", fontsize=8)
        axes[2, k].imshow(pooled[:, :, k], cmap="viridis")
        axes[2, k].set_title(f"pooled #{k} {pooled.shape[0]}×{pooled.shape[1]}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[0, 1:]:
        ax.axis("off")
    fig.suptitle(f"Feature maps of one digit: the first {n} of {conv_maps.shape[-1]} filters after "
                 "Conv2D + ReLU, then after 2×2 max pooling")
    return fig
