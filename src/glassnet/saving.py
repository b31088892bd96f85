"""Model files: ``save_model`` / ``load_model`` and ``save_weights`` / ``load_weights``.

One file (recommended extension ``.gnet``; any name works) is a zip archive, never extracted to disk:

    config.json       {"format": "glassnet", "format_version": 1, "glassnet_version": "0.1.0",
                       "kind": "model" | "weights",
                       "model": {"class_name": "Sequential", "config": model.get_config()} | null,
                       "build_input_shape": [null, 784] | null,
                       "compile": {"optimizer": {"class_name", "config"}, "loss", "metrics"} | null,
                       "weights": [{"member": "weights/0000.npy", "layer": "dense", "name": "kernel",
                                    "shape": [784, 10], "dtype": "float32"}, ...],
                       "optimizer": {"class_name": "Adam", "iterations": 3,
                                     "state": [{"member": "optimizer/0000.npy", "shape", "dtype"}]} | null}
    metadata.json     {"glassnet_version", "numpy_version", "python_version", "date_saved"}: informative only
    weights/0000.npy  one array per weight, in ``model.get_weights()`` order (stored, not compressed)
    optimizer/0000.npy  the optimizer's state arrays (``optimizer.get_state``), for resuming training

A weights file (``save_weights``) has the same layout with ``"kind": "weights"`` and null model,
compile and optimizer entries. Weights are matched to a model by position; names are informative.

Loading trusts nothing: zip integrity, member names (no ``..``, absolute paths, backslashes,
symlinks, unexpected names), caps on member count / declared size / expansion ratio, JSON only
(arrays via ``np.load(allow_pickle=False)``; object arrays and pickles raise
``UnsafeModelFileError``), layer, optimizer and loss classes resolved only through glassnet's own
registries, and every shape and dtype checked before any weight is assigned. Nothing in the file
is executed, and nothing in the file can switch these checks off.

Saving is atomic: a temp file in the same directory, flush + fsync, then ``os.replace``; on failure
the temp file is removed, an ``OSError`` naming the path is raised and the old file is unchanged.
"""
import datetime
import errno
import inspect
import io
import json
import os
import platform
import re
import tempfile
import warnings
import zipfile

import numpy as np

FORMAT_VERSION = 1
MAX_MEMBERS = 20_000                  # config + metadata + weight and optimizer arrays
MAX_JSON_BYTES = 16 * 2**20           # config.json / metadata.json
MAX_MEMBER_BYTES = 2**30              # one array, as declared in the zip directory
MAX_TOTAL_BYTES = 4 * 2**30           # all members together
MAX_RATIO = 200                       # declared / compressed size, checked for members over 1 MiB
_ARRAY_MEMBER = re.compile(r"(weights|optimizer)/[0-9]{4,5}\.npy")
_FLOAT_DTYPES = ("float16", "float32", "float64")
_STATE_DTYPES = _FLOAT_DTYPES + ("int32", "int64")
_CONFIG_KEYS = {"format", "format_version", "glassnet_version", "kind", "model", "build_input_shape",
                "compile", "weights", "optimizer"}


class ModelFileError(ValueError):
    """A model or weights file is malformed, unsafe, or does not fit the model."""


class UnsafeModelFileError(ModelFileError):
    """The file holds a pickle or an object array: refused, never unpickled."""


class ModelFileWarning(UserWarning):
    """A model file loaded, but something in it deserves attention (e.g. non-finite weights)."""


# -- registries: the only way a name in a file becomes a class ------------------------------------
def _classes(module, base):
    """{name: class} for every class in ``module`` that subclasses ``base`` (by attribute and __name__)."""
    found = {}
    for attr, obj in vars(module).items():
        if isinstance(obj, type) and issubclass(obj, base) and not attr.startswith("_"):
            found[attr] = obj
            found.setdefault(obj.__name__, obj)
    return found


def layer_registry():
    """``{"Dense": Dense, ...}``: every public ``glassnet.layers`` class that subclasses ``Layer``."""
    from . import layers
    return _classes(layers, layers.Layer)


def get_layer_class(class_name):
    """The glassnet layer class called ``class_name``; ``ModelFileError`` if there is none."""
    registry = layer_registry()
    if not isinstance(class_name, str) or class_name not in registry:
        raise ModelFileError(f"unknown layer type {class_name!r}. Known layer types: "
                             f"{', '.join(sorted(registry))}.")
    return registry[class_name]


def deserialize_layer(entry):
    """``{"class_name": "Dense", "config": {...}}`` -> a new layer, through the registry only."""
    if not isinstance(entry, dict) or set(entry) != {"class_name", "config"}:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ModelFileError(f"a layer entry must have exactly the keys 'class_name' and 'config'. "
                             f"Received: {keys}")
    cls = get_layer_class(entry["class_name"])
    return _from_config(cls, entry["config"], f"layer type {entry['class_name']!r}")


def _from_config(cls, config, what):
    """``cls.from_config(config)`` with the keys checked against the constructor first."""
    if not isinstance(config, dict):
        raise ModelFileError(f"the config of {what} must be a JSON object. Received: {type(config).__name__}")
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        extra = sorted(set(config) - set(params) - {"self"})
        if extra:
            raise ModelFileError(f"unexpected keys {extra} in the config of {what}")
    try:
        obj = cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"cannot rebuild {what} from the file: {e}") from None
    if hasattr(obj, "get_config"):
        extra = sorted(set(config) - set(obj.get_config()))
        if extra:
            raise ModelFileError(f"unexpected keys {extra} in the config of {what}")
    return obj


def _resolve(entry, module, base_name, what):
    """A compile setting: a string passes through; ``{"class_name", "config"}`` -> an instance."""
    if isinstance(entry, str) or entry is None:
        return entry
    base = getattr(module, base_name, None)
    if base is None or not isinstance(entry, dict) or set(entry) != {"class_name", "config"}:
        raise ModelFileError(f"cannot read the {what} setting {entry!r}")
    registry = _classes(module, base)
    if entry["class_name"] not in registry:
        raise ModelFileError(f"unknown {what} type {entry['class_name']!r}. Known: {', '.join(sorted(registry))}.")
    return _from_config(registry[entry["class_name"]], entry["config"], f"{what} {entry['class_name']!r}")


# -- saving ------------------------------------------------------------------------------------------
def save_model(model, path, overwrite=True):
    """Save architecture, weights, compile settings and optimizer state to one file, atomically.

    Raises:
        FileExistsError: the file exists and ``overwrite=False``.
        OSError (or a subclass): the directory is missing or read-only, the disk is full, ...;
            the message names ``path``, no temp file is left and an existing file is unchanged.
    """
    config, arrays = _weights_manifest(model, "model")
    config["model"] = {"class_name": type(model).__name__, "config": model.get_config()}
    config["compile"], optimizer = _compile_settings(model)
    if optimizer is not None:
        state, entries = _optimizer_state(model, optimizer)
        config["optimizer"] = {"class_name": type(optimizer).__name__,
                               "iterations": int(np.asarray(getattr(optimizer, "iterations", 0))),
                               "state": entries}
        arrays += state
    _write_file(path, config, arrays, overwrite)


def save_weights(model, path, overwrite=True):
    """Save only the weights (same zip format, ``"kind": "weights"``); read back with ``load_weights``."""
    config, arrays = _weights_manifest(model, "weights")
    _write_file(path, config, arrays, overwrite)


def _weights_manifest(model, kind):
    names = [(layer.name, w.name) for layer in model.layers for w in layer.weights]
    arrays = [np.asarray(a) for a in model.get_weights()] if getattr(model, "built", True) else []
    if len(names) != len(arrays):
        raise RuntimeError(f"model.get_weights() gave {len(arrays)} arrays but its layers hold {len(names)}")
    entries = [{"member": f"weights/{i:04d}.npy", "layer": layer, "name": name,
                "shape": list(a.shape), "dtype": a.dtype.name} for i, ((layer, name), a) in enumerate(zip(names, arrays))]
    config = {"format": "glassnet", "format_version": FORMAT_VERSION, "glassnet_version": _version(),
              "kind": kind, "model": None, "build_input_shape": _input_shape(model), "compile": None,
              "weights": entries, "optimizer": None}
    return config, [(e["member"], a) for e, a in zip(entries, arrays)]


def _input_shape(model):
    for attr in ("build_input_shape", "_build_input_shape", "input_shape"):
        shape = getattr(model, attr, None)
        if shape is not None and getattr(model, "built", False):
            return [None if d is None else int(d) for d in shape]
    return None


def _compile_settings(model):
    settings = getattr(model, "compile_config", None)
    if not settings:
        return None, None
    settings = dict(settings)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "get_config"):   # the live optimizer (lr may have changed)
        settings["optimizer"] = {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
    return settings, optimizer


def _trainable_variables(model):
    if hasattr(model, "trainable_weights"):
        return list(model.trainable_weights)
    return [w for layer in model.layers for w in layer.weights if getattr(w, "trainable", True)]


def _optimizer_state(model, optimizer):
    if not hasattr(optimizer, "get_state"):
        return [], []
    state = [np.asarray(a) for a in optimizer.get_state(_trainable_variables(model))]
    entries = [{"member": f"optimizer/{i:04d}.npy", "shape": list(a.shape), "dtype": a.dtype.name}
               for i, a in enumerate(state)]
    return [(e["member"], a) for e, a in zip(entries, state)], entries


def _version():
    from . import __version__
    return __version__


def _write_file(path, config, arrays, overwrite):
    path = os.fspath(path)
    try:
        config_bytes = json.dumps(config, indent=1, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot save {path!r}: the model or compile config is not plain JSON ({e}). "
                        "Use names (strings) or glassnet objects for layers, losses and optimizers.") from None
    metadata = {"glassnet_version": _version(), "numpy_version": np.__version__,
                "python_version": platform.python_version(),
                "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if os.path.isdir(path):
        raise IsADirectoryError(21, f"cannot save a model file to {path!r}: it is a directory", path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(17, f"{path!r} exists; pass overwrite=True to replace it", path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, config_bytes, json.dumps(metadata, indent=1).encode(), arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise _save_error(e, path) from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _write_archive(f, config_bytes, metadata_bytes, arrays):
    """The zip itself: fixed timestamps, arrays stored uncompressed (``np.lib.format``, no pickle)."""
    with zipfile.ZipFile(f, "w") as zf:
        for name, data in (("config.json", config_bytes), ("metadata.json", metadata_bytes)):
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
        for name, array in arrays:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=array.nbytes > 2**31) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def _file_mode(path):
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _save_error(e, path):
    """The same kind of OSError (PermissionError, FileNotFoundError, ...) with a message naming ``path``."""
    message = f"could not save the model file {path!r}: {e.strerror or e}"
    try:
        return type(e)(e.errno if e.errno is not None else errno.EIO, message, path)
    except TypeError:
        return OSError(e.errno if e.errno is not None else errno.EIO, message, path)
