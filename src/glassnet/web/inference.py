"""What ``glassnet serve`` computes, without the web framework: request bodies in, JSON-ready dicts out.

``load_models(paths)``     the shipped models (``models/*.gnet``) and any the user names, checked once
``digit_from_json(obj)``   a JSON body -> (28, 28) float32 network input (784 values, or a picture)
``digit_from_image(data)`` PNG bytes (stdlib decoder) or JPEG bytes (Pillow) -> (28, 28) via ``to_mnist``
``ServedModel.predict``    one forward pass, layer by layer, keeping every layer's activations

Every problem with a request raises ``RequestError(status, message)``: the message is one line and
says what was wrong, what was expected and what was received. Nothing here opens a file named by a
request: models are looked up by name in the dict built at start-up.
"""
import io
import json
import pathlib
import struct
import time

import numpy as np

from .. import images, models

MODELS_DIR = pathlib.Path(__file__).parent / "models"
SHIPPED = ("hidden", "cnn", "notes")           # the page's switch shows them in this order
MAX_PIXELS = 2**20                             # an uploaded picture: at most 1,048,576 pixels (1024 x 1024)
MAX_SIDE = 2048                                # ... and at most 2,048 pixels on a side


class RequestError(ValueError):
    """A bad request: ``status`` is the HTTP status (4xx), ``str(self)`` the one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class ServedModel:
    """A loaded Sequential model that takes a 28 x 28 digit and gives 10 scores.

    ``predict(digit)`` runs the layers one by one (``layer(x)``, arrays in and out) so that each
    layer's output can be shown: a Dense layer's units, a Conv2D or pooling layer's feature maps.
    """

    def __init__(self, name, model, description, test_accuracy=None):
        self.name, self.model, self.description = name, model, description
        self.test_accuracy = test_accuracy
        shape = images.digit_input_shape(model, name)
        self.input_shape = shape
        self.kind = "cnn" if len(shape) == 3 else "mlp"

    def info(self):
        """The model as ``GET /api/models`` lists it."""
        layers, shape = [], (None,) + self.input_shape
        for layer in self.model.layers:
            shape = tuple(layer.compute_output_shape(shape))
            layers.append({"name": layer.name, "class_name": type(layer).__name__,
                           "activation": _activation_name(layer), "output_shape": list(shape[1:])})
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "input_shape": list(self.input_shape), "params": int(self.model.count_params()),
                "test_accuracy": self.test_accuracy, "layers": layers}

    def predict(self, digit):
        """``digit`` (28, 28) float32 in [0, 1] -> dict: label, probabilities, scores, layer activations."""
        start = time.perf_counter()
        x = digit.reshape((1,) + self.input_shape).astype(np.float32)
        outputs = []
        for layer in self.model.layers:
            x = layer(x)
            outputs.append((layer, x[0]))
        scores = x[0].astype(np.float64)
        elapsed = time.perf_counter() - start
        probabilities = to_probabilities(scores)
        label = int(np.argmax(probabilities))
        layers = [{"name": layer.name, "class_name": type(layer).__name__,
                   "activation": _activation_name(layer), "shape": list(a.shape), "values": _rounded(a)}
                  for layer, a in outputs]
        return {"model": self.name, "label": label, "probability": round(float(probabilities[label]), 4),
                "probabilities": _rounded(probabilities), "scores": _rounded(scores),
                "input": _rounded(digit.reshape(28, 28)), "layers": layers,
                "inference_ms": round(elapsed * 1000, 3)}


def to_probabilities(scores):
    """10 scores -> 10 probabilities that sum to 1, read the way the loss reads them.

    Scores already in [0, 1] (softmax or sigmoid outputs) are divided by their sum; other scores are
    logits: ``softmax(s) = exp(s - max s) / sum(exp(s - max s))``.
    """
    if scores.min() >= 0 and scores.max() <= 1:
        return scores / max(float(scores.sum()), 1e-12)
    e = np.exp(scores - scores.max())
    return e / e.sum()


def _rounded(a):
    return np.round(np.asarray(a, dtype=np.float64), 4).tolist()


def _activation_name(layer):
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) if act is not None else None


# -- loading ----------------------------------------------------------------------------------------
def load_models(paths=()):
    """{name: ServedModel}: each file in ``paths`` (named after its stem) first, then the shipped models.

    Raises ``ValueError`` (one line, naming the file) when a file is not a model that reads digits.
    """
    catalog = json.loads((MODELS_DIR / "models.json").read_text(encoding="utf-8"))
    served = {}
    for path in paths:
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        name, n = path.stem, 1
        while name in served or name in SHIPPED:
            n += 1
            name = f"{path.stem}-{n}"
        served[name] = ServedModel(name, models.load_model(path, compile=False), f"your model ({path.name})")
    for name in SHIPPED:
        entry = catalog[name]
        served[name] = ServedModel(name, models.load_model(MODELS_DIR / f"{name}.gnet", compile=False),
                                   entry["description"], entry.get("test_accuracy"))
    return served


# -- request bodies -> a 28 x 28 digit ---------------------------------------------------------------
def digit_from_json(obj):
    """A parsed JSON body -> (28, 28) float32.

    ``[v0, ..., v783]`` or ``{"input": [...]}``: the network input itself, 784 values in [0, 1] row by
    row (or 28 rows of 28), light ink on black, used as is. ``{"image": [[...], ...]}``: a grayscale
    picture (rows of numbers, any scale, ink dark or light), prepared with ``images.to_mnist``.
    """
    if isinstance(obj, dict):
        keys = [k for k in ("input", "image") if k in obj]
        if len(keys) != 1:
            raise RequestError(400, "expected a JSON array of 784 values, or an object with 'input' (784 "
                                    "values in [0, 1]) or 'image' (rows of gray values); received keys "
                                    f"{sorted(obj)[:5]}")
        if keys[0] == "image":
            return _digit_from_picture(_number_array(obj["image"], "image"))
        obj = obj["input"]
    values = _number_array(obj, "input")
    if values.size != 784 or values.shape not in ((784,), (28, 28)):
        raise RequestError(422, f"expected 784 values (28 x 28, row by row), received an array of shape "
                                f"{values.shape} ({values.size} values)")
    if values.min() < 0 or values.max() > 1:
        raise RequestError(422, f"expected values in [0, 1], received values from {values.min():g} to "
                                f"{values.max():g}; hint: divide 0-255 gray levels by 255")
    return values.reshape(28, 28).astype(np.float32)


def _number_array(obj, what):
    if not isinstance(obj, list) or not obj:
        raise RequestError(422, f"'{what}' must be a non-empty JSON array of numbers, received "
                                f"{type(obj).__name__ if obj != [] else 'an empty array'}")
    try:
        a = np.array(obj, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(422, f"'{what}' must hold only numbers, in rows of equal length") from None
    if not np.all(np.isfinite(a)):
        raise RequestError(422, f"'{what}' holds a value that is not a finite number")
    return a


def digit_from_image(data):
    """PNG or JPEG bytes -> (28, 28) float32 through ``images.to_mnist``."""
    if not data:
        raise RequestError(400, "the request body is empty; expected the bytes of a PNG or JPEG image")
    if data.startswith(images.PNG_SIGNATURE):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            _check_size(*struct.unpack(">II", data[16:24]))
        try:
            gray = images.decode_png(data, name="the uploaded PNG")
        except ValueError as exc:
            raise RequestError(422, str(exc)) from None
    elif data.startswith(b"\xff\xd8\xff"):
        gray = _decode_jpeg(data)
    else:
        raise RequestError(415, "the body is neither a PNG nor a JPEG image (its first bytes are not a PNG "
                                "or JPEG signature)")
    return _digit_from_picture(gray)


def _check_size(width, height):
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise RequestError(413, f"the image is {width} x {height} pixels; expected at most {MAX_PIXELS:,} "
                                f"pixels and {MAX_SIDE} on a side; hint: scale it down first")


def _decode_jpeg(data):
    try:
        from PIL import Image
    except ImportError:
        raise RequestError(415, 'JPEG needs Pillow on the server (pip install "glassnet[web]"); send a PNG '
                                "instead") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_size(*im.size)
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255
    except RequestError:
        raise
    except Exception as exc:                                    # Pillow raises many kinds
        raise RequestError(422, f"the uploaded JPEG cannot be decoded ({_one_line(exc)})") from None
    return images._to_gray(rgba)


def _digit_from_picture(gray):
    if gray.ndim != 2:
        raise RequestError(422, f"'image' must be rows of gray values (2-D), received {gray.ndim}-D")
    _check_size(gray.shape[1], gray.shape[0])
    try:
        return images.to_mnist(gray)
    except ValueError as exc:                                   # blank picture, no ink, too small
        raise RequestError(422, str(exc)) from None


def _one_line(message):
    text = " ".join(str(message).split())
    return text if len(text) <= 200 else text[:197] + "..."


def parse_json(body):
    """Bytes -> a JSON value, or ``RequestError(400)``; NaN and Infinity are refused."""
    def refuse(constant):
        raise ValueError(f"{constant} is not a number JSON allows")
    try:
        return json.loads(body, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:                 # JSONDecodeError and UnicodeDecodeError too
        raise RequestError(400, f"the body is not valid JSON ({_one_line(exc)})") from None
