"""Train the models that ``glassnet serve`` ships, on the embedded MNIST digits (no download).

    python tools/train_web_models.py            # writes src/glassnet/web/models/{notes,hidden,cnn}.gnet
                                                # and models.json (descriptions, test accuracies)

notes   the course notes' model: Dense(10, input_shape=(784,), activation="sigmoid")
hidden  one hidden layer: Dense(64, relu) -> Dense(10, sigmoid) (64 units, not 100: the file stays small)
cnn     Conv2D(8, 3, relu) -> MaxPooling2D -> Conv2D(16, 3, relu) -> MaxPooling2D -> Flatten
        -> Dense(10, softmax), on (28, 28, 1) images

All three train on the 10,000 embedded training digits plus copies shifted by up to 2 pixels (drawn
digits are never centred exactly as MNIST's are), with Adam and sparse categorical crossentropy,
and are checked on the 10,000 embedded test digits. Fixed seed: the same files every run. The
optimizer state is not saved (``compile`` is left off the saved copy), which keeps the files small:
about 30 KB + 200 KB + 25 KB.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

import glassnet
from glassnet.layers import Conv2D, Dense, Flatten, MaxPooling2D

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "glassnet" / "web" / "models"


def shifted(x, y, copies, max_shift, rng):
    """``x`` (N, 28, 28) plus ``copies`` copies each moved by a random (dy, dx) in [-max_shift, max_shift]."""
    xs, ys = [x], [y]
    for _ in range(copies):
        out = np.zeros_like(x)
        for i, (dy, dx) in enumerate(rng.integers(-max_shift, max_shift + 1, size=(len(x), 2))):
            src = x[i, max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
            out[i, max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
        xs.append(out)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def build(name):
    """The model called ``name``, its layers named as the page shows them."""
    if name == "notes":
        return glassnet.Sequential([Dense(10, input_shape=(784,), activation="sigmoid", name="output")],
                                   name="notes")
    if name == "hidden":
        return glassnet.Sequential([Dense(64, input_shape=(784,), activation="relu", name="hidden"),
                                    Dense(10, activation="sigmoid", name="output")], name="hidden")
    return glassnet.Sequential([Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1), name="conv1"),
                                MaxPooling2D(name="pool1"), Conv2D(16, 3, activation="relu", name="conv2"),
                                MaxPooling2D(name="pool2"), Flatten(name="flatten"),
                                Dense(10, activation="softmax", name="output")], name="cnn")


EPOCHS = {"notes": 10, "hidden": 12, "cnn": 6}
DESCRIPTIONS = {
    "notes": "the course notes' model: Dense(10, sigmoid) on the 784 pixels",
    "hidden": "one hidden layer: Dense(64, relu), then Dense(10, sigmoid)",
    "cnn": "a small CNN: Conv2D(8, 3x3) - MaxPool - Conv2D(16, 3x3) - MaxPool - Dense(10, softmax)",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(OUT), help=f"output folder (default {OUT})")
    parser.add_argument("--only", choices=list(EPOCHS), help="train one model only")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = glassnet.datasets.mnist.load_embedded()
    x_aug, y_aug = shifted(x_train, y_train, copies=2, max_shift=2, rng=np.random.default_rng(0))
    catalog_file = out / "models.json"
    catalog = json.loads(catalog_file.read_text()) if catalog_file.exists() else {}
    for name in [args.only] if args.only else list(EPOCHS):
        glassnet.utils.set_random_seed(0)
        model = build(name)
        shape = (-1,) + tuple(model.input_shape[1:])
        x = (x_aug / 255).astype(np.float32).reshape(shape)
        xt = (x_test / 255).astype(np.float32).reshape(shape)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x, y_aug, epochs=EPOCHS[name], batch_size=64, verbose=0)
        accuracy = float(np.mean(np.argmax(model.predict(xt, verbose=0), axis=1) == y_test))
        saved = build(name)                                         # uncompiled copy: no optimizer state
        saved.set_weights(model.get_weights())
        saved.save(out / f"{name}.gnet")
        size = (out / f"{name}.gnet").stat().st_size
        print(f"{name:7s} test accuracy {accuracy:.4f}  {size / 1024:6.1f} KB  "
              f"({time.perf_counter() - start:.0f} s)  -> {out / (name + '.gnet')}")
        catalog[name] = {"description": DESCRIPTIONS[name], "test_accuracy": round(accuracy, 4),
                         "trained_on": "the 10,000 embedded training digits, plus copies shifted by "
                                       "up to 2 px",
                         "tested_on": "the 10,000 embedded test digits (the MNIST test set)"}
    catalog_file.write_text(json.dumps(catalog, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
