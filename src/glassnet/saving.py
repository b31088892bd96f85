"""Model files: ``save_model`` / ``load_model`` and ``save_weights`` / ``load_weights``.

One file (any name; ``.gnet`` recommended) is a zip archive, read in memory, never extracted:

    config.json         {"format": "glassnet", "format_version": 1, "glassnet_version": "0.1.0",
                         "kind": "model" | "weights", "build_input_shape": [null, 784] | null,
                         "model": {"class_name": "Sequential", "config": model.get_config()} | null,
                         "compile": {"optimizer": {"class_name", "config"}, "loss", "metrics"} | null,
                         "weights": [{"member": "weights/0000.npy", "layer": "dense", "name": "kernel",
                                      "shape": [784, 10], "dtype": "float32"}, ...],
                         "optimizer": {"class_name", "iterations", "state": [{"member", "shape",
                                       "dtype"}, ...]} | null}
    metadata.json       {"glassnet_version", "numpy_version", "python_version", "date_saved"} (informative)
    weights/0000.npy    one array per weight, in ``model.get_weights()`` order, stored uncompressed
    optimizer/0000.npy  the optimizer state (``optimizer.get_state(model.trainable_weights)``)

``save_weights`` writes the same layout with ``"kind": "weights"`` and null model, compile and optimizer.
Weights are matched to a model by position; the layer and weight names are for messages.

Loading trusts nothing: zip integrity, member names, caps on count / size / expansion ratio, JSON and
``np.load(allow_pickle=False)`` only, classes only from glassnet's registries, every shape and dtype
checked before any weight is assigned. Nothing in the file is executed or can switch the checks off.

Saving is atomic: a temp file in the same directory, flush + fsync, then ``os.replace``. On failure
the temp file is removed, an ``OSError`` naming the path is raised and an existing file is unchanged.
"""
import contextlib
import datetime
import errno
import inspect
import json
import os
import platform
import secrets
import warnings
import zipfile

import numpy as np

from .layers.layer import weights_from_file
from .model_archive import FORMAT_VERSION, ModelFileError, UnsafeModelFileError, read_archive, require

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "ModelFileError",
           "UnsafeModelFileError", "ModelFileWarning", "layer_registry", "get_layer_class"]


class ModelFileWarning(UserWarning):
    """A model file loaded, but something in it deserves attention (e.g. non-finite weights)."""


# -- registries: the only way a name in a file becomes a class ------------------------------------
def _classes(module, base):
    """{name: class} for every public class in ``module`` that subclasses ``base`` (not ``base`` itself)."""
    found = {}
    for attr, obj in vars(module).items():
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base and not attr.startswith("_"):
            found[attr] = found[obj.__name__] = obj
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


def _resolve(entry, module, base_name, what):
    """A compile setting: a string passes through; ``{"class_name", "config"}`` -> an instance.

    A ``"module"`` key is tolerated only if it names this glassnet module; it is never imported.
    """
    if isinstance(entry, str) or entry is None:
        return entry
    base = getattr(module, base_name, None)
    if (base is None or not isinstance(entry, dict) or not {"class_name", "config"} <= set(entry)
            or not isinstance(entry["class_name"], str)
            or not set(entry) <= {"class_name", "config", "module", "registered_name"}
            or entry.get("module", module.__name__) != module.__name__ or entry.get("registered_name")):
        raise ModelFileError(f"cannot read the {what} setting {entry!r:.200}")
    registry = _classes(module, base)
    if entry["class_name"] not in registry:
        raise ModelFileError(f"unknown {what} type {entry['class_name']!r}. Known: {sorted(registry)}")
    what = f"{what} {entry['class_name']!r}"
    require(isinstance(entry["config"], dict), what, "the config must be a JSON object")
    obj = _call(registry[entry["class_name"]].from_config, entry["config"], what=f"rebuilding {what}")
    extra = sorted(set(entry["config"]) - set(obj.get_config()))
    require(not extra, what, f"unexpected keys {extra} in the config")
    return obj


# -- saving ------------------------------------------------------------------------------------------
def save_model(model, path, overwrite=True):
    """Save architecture, weights, compile settings and optimizer state to one file, atomically.

    Raises ``FileExistsError`` if the file exists and ``overwrite=False``; ``OSError`` (the same subclass,
    the message naming ``path``) if the directory is missing or read-only or the disk is full: then no
    temp file is left and an existing file is unchanged.
    """
    config, arrays = _weights_manifest(model, "model")
    config["model"] = {"class_name": type(model).__name__, "config": model.get_config()}
    if getattr(model, "compile_config", None):
        optimizer = getattr(model, "optimizer", None)
        name, config["compile"] = type(optimizer).__name__, dict(model.compile_config)
        if hasattr(optimizer, "get_config"):     # the live optimizer: its learning rate may have changed
            config["compile"]["optimizer"] = {"class_name": name, "config": optimizer.get_config()}
        state = [np.asarray(a) for a in optimizer.get_state(model.trainable_weights)] \
            if hasattr(optimizer, "get_state") else []
        entries = [{"member": f"optimizer/{i:04d}.npy", "shape": list(a.shape), "dtype": a.dtype.name}
                   for i, a in enumerate(state)]
        config["optimizer"] = {"class_name": name, "iterations": int(getattr(optimizer, "iterations", 0)),
                               "state": entries}
        arrays += [(e["member"], a) for e, a in zip(entries, state)]
    _write_file(path, config, arrays, overwrite)


def save_weights(model, path, overwrite=True):
    """Save only the weights (same zip format, ``"kind": "weights"``); read back with ``load_weights``."""
    config, arrays = _weights_manifest(model, "weights")
    _write_file(path, config, arrays, overwrite)


def _weights_manifest(model, kind):
    names = [(layer.name, w.name) for layer in model.layers for w in layer.weights]
    arrays = [np.asarray(a) for a in model.get_weights()] if names else []
    entries = [{"member": f"weights/{i:04d}.npy", "layer": layer, "name": name, "shape": list(a.shape),
                "dtype": a.dtype.name} for i, ((layer, name), a) in enumerate(zip(names, arrays))]
    shape = getattr(model, "input_shape", None) if getattr(model, "built", False) else None
    from . import __version__
    config = {"format": "glassnet", "format_version": FORMAT_VERSION, "glassnet_version": __version__,
              "kind": kind, "model": None, "compile": None, "weights": entries, "optimizer": None,
              "build_input_shape": None if shape is None else [None if d is None else int(d) for d in shape]}
    return config, [(e["member"], a) for e, a in zip(entries, arrays)]


def _write_file(path, config, arrays, overwrite):
    path = os.fspath(path)
    try:
        config_bytes = json.dumps(config, indent=1, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot save {path!r}: the model or compile config is not plain JSON ({e}). Use "
                        "names (strings) or glassnet objects for layers, losses and optimizers.") from None
    metadata = {"glassnet_version": config["glassnet_version"], "numpy_version": np.__version__,
                "python_version": platform.python_version(),
                "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot save a model to {path!r}: it is a directory", path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(errno.EEXIST, f"{path!r} exists; pass overwrite=True to replace it", path)
    tmp = None
    try:
        folder, name = os.path.split(os.path.abspath(path))
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")   # hidden, beside the target
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            _write_archive(f, config_bytes, json.dumps(metadata, indent=1).encode(), arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:   # the same kind of error (PermissionError, FileNotFoundError...), naming the path
        code, message = e.errno or errno.EIO, f"could not save the model file {path!r}: {e.strerror or e}"
        raise (type(e) if type(e).__init__ is OSError.__init__ else OSError)(code, message, path) from e
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


# -- loading -----------------------------------------------------------------------------------------
def load_model(path, compile=True, strict=False):
    """Rebuild a model saved by ``save_model``: layers, weights, and (if ``compile``) its compile
    settings and optimizer state, so that training resumes exactly where it stopped.

    Raises ``ModelFileError`` if the file is truncated, malformed, newer, names an unknown class, or its
    arrays do not fit (the message says which), or, under ``strict=True``, if a weight holds NaN or Inf
    (else a ``ModelFileWarning``); ``UnsafeModelFileError`` for a pickle or an object array.
    """
    config, arrays = read_archive(path)
    require(config["kind"] == "model", repr(os.fspath(path)), "this file holds only weights (written by "
             "save_weights); build the model in code, then call load_weights")
    with _zero_filled(path):
        model = _build_model(config)
    _assign_weights(model, config, arrays, strict)
    if compile and config["compile"] is not None:
        _restore_compile(model, config, arrays)
    return model


def load_weights(model, path, strict=False):
    """Load the weights of a ``save_weights`` (or ``save_model``) file into ``model``, by position.

    An unbuilt model is built with the input shape recorded in the file, once the file's arrays are
    known to fit it. Every shape and dtype is checked before any weight is assigned: on error the
    model's weights are unchanged (and an unbuilt model stays unbuilt).
    """
    config, arrays = read_archive(path)
    if not getattr(model, "built", True) and config["build_input_shape"] is not None:
        # The arrays are checked against a zero-filled twin first: a file that does not fit leaves the
        # model unbuilt, and one whose input shape asks for huge layers fills nothing.
        shape = tuple(config["build_input_shape"])
        with _zero_filled(path):
            twin = _call(type(model).from_config, model.get_config(), what="rebuilding the model")
            _call(twin.build, shape, what="building the model")
        _check_weights(twin, config, arrays, strict)
        _call(model.build, shape, what="building the model")
    _assign_weights(model, config, arrays, strict)


@contextlib.contextmanager
def _zero_filled(path):
    """``weights_from_file`` (no initializer runs), and a ``MemoryError`` there blamed on the file."""
    try:
        with weights_from_file():
            yield
    except MemoryError:                  # e.g. Dense(10**6) on 10**6 inputs in a 1 KB file
        raise ModelFileError(f"{os.fspath(path)!r}: the model the file describes needs more memory than "
                             "is available; its layer sizes cannot be those of the weights in the file") from None


def _call(function, *args, what, **kwargs):
    try:
        return function(*args, **kwargs)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise ModelFileError(f"{what} from the file failed: {e}") from None


def _build_model(config):
    """Class names are checked before anything is built; keys by a round trip of the config (the
    constructors reject unknown arguments, and nothing may be silently dropped)."""
    from . import models
    entry, what = config["model"], "the model config"
    require(isinstance(entry, dict) and set(entry) == {"class_name", "config"}, what,
             "must have exactly the keys 'class_name' and 'config'")
    require(entry["class_name"] == "Sequential", what, f"unknown model type {entry['class_name']!r}")
    layers = entry["config"].get("layers") if isinstance(entry["config"], dict) else None
    require(isinstance(layers, list), what, "must be a JSON object with a 'layers' list")
    for layer in layers:
        require(isinstance(layer, dict) and set(layer) == {"class_name", "config"} and isinstance(
            layer["config"], dict), what, f"a layer entry must be {{'class_name': ..., 'config': {{...}}}}, "
                 f"with no other keys. Received: {layer!r:.200}")
        get_layer_class(layer["class_name"])
    model = _call(models.Sequential.from_config, entry["config"], what="rebuilding the model")
    rebuilt = model.get_config()
    require(set(entry["config"]) <= set(rebuilt) and len(rebuilt["layers"]) == len(layers), what,
             f"unexpected keys {sorted(set(entry['config']) - set(rebuilt))} or a different number of layers")
    for old, new in zip(layers, rebuilt["layers"]):
        require(old["class_name"] == new["class_name"] and set(old["config"]) <= set(new["config"]), what,
                 f"unexpected keys {sorted(set(old['config']) - set(new['config']))} in layer type "
                 f"{old['class_name']!r}")
    if not model.built and config["build_input_shape"] is not None:
        _call(model.build, tuple(config["build_input_shape"]), what="building the model")
    return model


def _assign_weights(model, config, arrays, strict):
    """Check every array against the model, then assign all of them at once (or none)."""
    non_finite = _check_weights(model, config, arrays, strict)
    model.set_weights([arrays[entry["member"]] for entry in config["weights"]])
    for message in non_finite:
        warnings.warn(message, ModelFileWarning, stacklevel=3)


def _check_weights(model, config, arrays, strict):
    """Raise ``ModelFileError`` unless every array fits ``model``'s weights; the non-finite warnings."""
    expected = [(layer.name, w.name, tuple(w.shape), np.dtype(w.dtype).name)
                for layer in model.layers for w in layer.weights]
    entries, unchanged = config["weights"], ". The model's weights are unchanged."
    if len(entries) != len(expected):
        missing = [f"layer {e[0]!r} {e[1]} {e[2]} {e[3]}" for e in expected[len(entries):]]
        extra = [f"layer {e['layer']!r} {e['name']} {tuple(e['shape'])} {e['dtype']}"
                 for e in entries[len(expected):]]
        raise ModelFileError(f"the file holds {len(entries)} weight arrays but the model has "
                             f"{len(expected)}; missing from the file: {missing or 'none'}; extra in the "
                             f"file: {extra or 'none'}{unchanged}")
    problems, non_finite = [], []
    for (layer, name, shape, dtype), entry in zip(expected, entries):
        if tuple(entry["shape"]) != shape or entry["dtype"] != dtype:
            problems.append(f"layer {layer!r} weight {name!r}: expected shape {shape} {dtype}, "
                            f"received {tuple(entry['shape'])} {entry['dtype']}")
        count = int(np.size(arrays[entry["member"]]) - np.count_nonzero(np.isfinite(arrays[entry["member"]])))
        if count:
            non_finite.append(f"layer {layer} {name} contains {count} non-finite values")
    if problems:
        raise ModelFileError(f"the weights in the file do not fit the model: {'; '.join(problems)}"
                             f"{unchanged}")
    if non_finite and strict:
        raise ModelFileError("; ".join(non_finite) + f" (strict=True){unchanged}")
    return non_finite


def _restore_compile(model, config, arrays):
    """``model.compile`` with the saved settings (classes via registries), then the optimizer state."""
    from . import losses, metrics, optimizers
    settings, what = dict(config["compile"]), "the compile settings"
    extra = sorted(set(settings) - set(inspect.signature(model.compile).parameters))
    require(not extra, what, f"unknown compile settings {extra}")
    if "optimizer" in settings:
        settings["optimizer"] = _resolve(settings["optimizer"], optimizers, "Optimizer", "optimizer")
    if "loss" in settings:
        settings["loss"] = _resolve(settings["loss"], losses, "Loss", "loss")
    if settings.get("metrics") is not None:
        require(isinstance(settings["metrics"], list), what,
                 f"metrics must be a list: {settings['metrics']}")
        settings["metrics"] = [_resolve(m, metrics, "Metric", "metric") for m in settings["metrics"]]
    _call(model.compile, what="compiling the model", **settings)
    saved, optimizer = config["optimizer"], getattr(model, "optimizer", None)
    if saved is None or optimizer is None:
        return
    require(type(optimizer).__name__ == saved["class_name"], what, f"the optimizer state is for "
             f"{saved['class_name']}, but the compile settings give {type(optimizer).__name__}")
    if hasattr(optimizer, "set_state"):
        state = [arrays[entry["member"]] for entry in saved["state"]]
        _call(optimizer.set_state, model.trainable_weights, state, what="restoring the optimizer state")
    optimizer.iterations = saved["iterations"]
