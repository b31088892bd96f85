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
import datetime
import errno
import inspect
import io
import json
import math
import os
import platform
import re
import secrets
import struct
import warnings
import zipfile
import zlib

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
_JSON_MEMBERS = ("config.json", "metadata.json")
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
    _require(isinstance(entry["config"], dict), what, "the config must be a JSON object")
    obj = _call(registry[entry["class_name"]].from_config, entry["config"], what=f"rebuilding {what}")
    extra = sorted(set(entry["config"]) - set(obj.get_config()))
    _require(not extra, what, f"unexpected keys {extra} in the config")
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
    config, arrays = _read_archive(path)
    _require(config["kind"] == "model", repr(os.fspath(path)), "this file holds only weights (written by "
             "save_weights); build the model in code, then call load_weights")
    try:
        model = _build_model(config)
    except MemoryError:                  # e.g. Dense(10**6) on 10**6 inputs in a 1 KB file
        raise ModelFileError(f"{os.fspath(path)!r}: the model config asks for more memory than is available; "
                             "its layer sizes cannot be those of the weights in the file") from None
    _assign_weights(model, config, arrays, strict)
    if compile and config["compile"] is not None:
        _restore_compile(model, config, arrays)
    return model


def load_weights(model, path, strict=False):
    """Load the weights of a ``save_weights`` (or ``save_model``) file into ``model``, by position.

    An unbuilt model is first built with the input shape recorded in the file. Every shape and dtype
    is checked before any weight is assigned: on error the model's weights are unchanged.
    """
    config, arrays = _read_archive(path)
    if not getattr(model, "built", True) and config["build_input_shape"] is not None:
        _call(model.build, tuple(config["build_input_shape"]), what="building the model")
    _assign_weights(model, config, arrays, strict)


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
    _require(isinstance(entry, dict) and set(entry) == {"class_name", "config"}, what,
             "must have exactly the keys 'class_name' and 'config'")
    _require(entry["class_name"] == "Sequential", what, f"unknown model type {entry['class_name']!r}")
    layers = entry["config"].get("layers") if isinstance(entry["config"], dict) else None
    _require(isinstance(layers, list), what, "must be a JSON object with a 'layers' list")
    for layer in layers:
        _require(isinstance(layer, dict) and set(layer) == {"class_name", "config"} and isinstance(
            layer["config"], dict), what, f"a layer entry must be {{'class_name': ..., 'config': {{...}}}}, "
                 f"with no other keys. Received: {layer!r:.200}")
        get_layer_class(layer["class_name"])
    model = _call(models.Sequential.from_config, entry["config"], what="rebuilding the model")
    rebuilt = model.get_config()
    _require(set(entry["config"]) <= set(rebuilt) and len(rebuilt["layers"]) == len(layers), what,
             f"unexpected keys {sorted(set(entry['config']) - set(rebuilt))} or a different number of layers")
    for old, new in zip(layers, rebuilt["layers"]):
        _require(old["class_name"] == new["class_name"] and set(old["config"]) <= set(new["config"]), what,
                 f"unexpected keys {sorted(set(old['config']) - set(new['config']))} in layer type "
                 f"{old['class_name']!r}")
    if not model.built and config["build_input_shape"] is not None:
        _call(model.build, tuple(config["build_input_shape"]), what="building the model")
    return model


def _assign_weights(model, config, arrays, strict):
    """Check every array against the model, then assign all of them at once (or none)."""
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
    model.set_weights([arrays[entry["member"]] for entry in entries])
    for message in non_finite:
        warnings.warn(message, ModelFileWarning, stacklevel=3)


def _restore_compile(model, config, arrays):
    """``model.compile`` with the saved settings (classes via registries), then the optimizer state."""
    from . import losses, metrics, optimizers
    settings, what = dict(config["compile"]), "the compile settings"
    extra = sorted(set(settings) - set(inspect.signature(model.compile).parameters))
    _require(not extra, what, f"unknown compile settings {extra}")
    if "optimizer" in settings:
        settings["optimizer"] = _resolve(settings["optimizer"], optimizers, "Optimizer", "optimizer")
    if "loss" in settings:
        settings["loss"] = _resolve(settings["loss"], losses, "Loss", "loss")
    if settings.get("metrics") is not None:
        _require(isinstance(settings["metrics"], list), what,
                 f"metrics must be a list: {settings['metrics']}")
        settings["metrics"] = [_resolve(m, metrics, "Metric", "metric") for m in settings["metrics"]]
    _call(model.compile, what="compiling the model", **settings)
    saved, optimizer = config["optimizer"], getattr(model, "optimizer", None)
    if saved is None or optimizer is None:
        return
    _require(type(optimizer).__name__ == saved["class_name"], what, f"the optimizer state is for "
             f"{saved['class_name']}, but the compile settings give {type(optimizer).__name__}")
    if hasattr(optimizer, "set_state"):
        state = [arrays[entry["member"]] for entry in saved["state"]]
        _call(optimizer.set_state, model.trainable_weights, state, what="restoring the optimizer state")
    optimizer.iterations = saved["iterations"]


# -- reading the archive: every check happens here, before any model is touched ---------------------
def _require(ok, where, message, error=ModelFileError):
    """Raise ``error("where: message")`` unless ``ok``: one line per check."""
    if not ok:
        raise error(f"{where}: {message}")


def _read_archive(path):
    """``(config, {member: ndarray})`` from a validated file; nothing is extracted or executed."""
    shown = repr(os.fspath(path))        # the path as messages show it
    with open(path, "rb") as f:
        _check_magic(f.read(8), shown)
        size = f.seek(0, os.SEEK_END)
        try:
            with zipfile.ZipFile(f) as zf:
                infos = _check_members(zf.infolist(), size, shown)
                config = _read_json(zf, infos["config.json"], shown)
                _read_json(zf, infos["metadata.json"], shown)
                _check_config(config, shown)
                declared = config["weights"] + (config["optimizer"] or {}).get("state", [])
                listed, present = {e["member"] for e in declared}, set(infos) - set(_JSON_MEMBERS)
                _require(listed == present, shown, f"arrays listed in config.json but missing: "
                         f"{sorted(listed - present) or 'none'}; arrays present but not listed: "
                         f"{sorted(present - listed) or 'none'}")
                arrays = {e["member"]: _read_array(zf, infos[e["member"]], e, shown) for e in declared}
        except (zipfile.BadZipFile, EOFError, zlib.error, struct.error, OSError) as e:   # OSError: bad offsets
            raise ModelFileError(f"{shown}: file is truncated or corrupted (zip central directory missing "
                                 f"or a member incomplete: {e})") from None
    return config, arrays


def _check_magic(head, path):
    _require(not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), path,
             "this is a pickle (a .pkl or a torch .pt file?): object arrays and pickles are not allowed. "
             "glassnet never unpickles a model file.", UnsafeModelFileError)
    _require(head, path, "file is truncated or corrupted (it is empty)")
    _require(head[:2] == b"PK", path, "not a glassnet model file (not a zip archive; pickles are never read)")


def _check_members(infos, size, path):
    """Names, types and sizes of the zip members, from the zip directory alone."""
    _require(len(infos) <= MAX_MEMBERS, path, f"{len(infos)} members; the cap is {MAX_MEMBERS}")
    found, total, packed = {}, 0, 0
    for info in infos:
        name, where = info.orig_filename, f"member {info.orig_filename!r}"
        _require(not (name.endswith((".pkl", ".pickle", ".pt", ".pth")) or "data.pkl" in name), path,
                 f"{where} is a pickle: object arrays and pickles are not allowed", UnsafeModelFileError)
        reason = _bad_name(name, info)
        _require(reason is None, path, f"{where} {reason}; refusing to read the file")
        cap = MAX_JSON_BYTES if name.endswith(".json") else MAX_MEMBER_BYTES
        _require(info.file_size <= cap, path, f"{where} declares {info.file_size} bytes; the cap is {cap}")
        _require(info.file_size <= 2**20 or info.file_size <= MAX_RATIO * max(info.compress_size, 1), path,
                 f"{where} expands {info.file_size} / {info.compress_size} times, over the cap of "
                 f"{MAX_RATIO} (a decompression bomb?)")
        _require(info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and not info.flag_bits & 1,
                 path, f"{where} is encrypted or uses an unsupported compression method")
        _require(info.header_offset + info.compress_size <= size, path,
                 f"file is truncated or corrupted ({where} runs past the end)")
        found[name], total, packed = info, total + info.file_size, packed + info.compress_size
    _require(total <= MAX_TOTAL_BYTES and packed <= size, path, f"members declare {total} bytes ({packed} "
             f"compressed) in {size} bytes; the cap is {MAX_TOTAL_BYTES} (overlapping members or a bomb?)")
    _require(len(found) == len(infos), path, "duplicate member names")
    for required in _JSON_MEMBERS:
        _require(required in found, path, f"not a glassnet model file (no {required})")
    return found


def _bad_name(name, info):
    if "\\" in name or "\x00" in name:
        return "contains a backslash or a NUL byte"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "escapes the archive ('..')"
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return "is a symbolic link"
    if name not in _JSON_MEMBERS and not _ARRAY_MEMBER.fullmatch(name):
        hint = " (a Keras .keras file? glassnet reads its own files)" if name.endswith(".h5") else ""
        return ("is not expected (a glassnet file holds config.json, metadata.json, weights/NNNN.npy "
                "and optimizer/NNNN.npy)" + hint)
    return None


def _read_member(zf, info):
    with zf.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise zipfile.BadZipFile(f"member {info.filename!r} has {len(data)} bytes, not {info.file_size}")
    return data


def _read_json(zf, info, path):
    def no_duplicates(pairs):
        _require(len({k for k, _ in pairs}) == len(pairs), path, f"{info.filename} repeats a key")
        return dict(pairs)

    def no_constants(name):
        _require(False, path, f"{info.filename} contains {name}, which is not JSON")

    try:
        text = _read_member(zf, info).decode("utf-8")
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: {info.filename} is not valid JSON ({type(e).__name__}: {e})") from None
    _require(isinstance(value, dict), path, f"{info.filename} must hold a JSON object")
    return value


def _check_config(config, path):
    """The structure of config.json: version first, then exactly the known keys and types."""
    _require(config.get("format") == "glassnet", path, 'not a glassnet model file (no "format": "glassnet")')
    version = config.get("format_version")
    _require(type(version) is int and version >= 1, path, f"format_version must be an int >= 1: {version!r}")
    _require(version <= FORMAT_VERSION, path, f"format version {version} is newer than supported "
             f"({FORMAT_VERSION}); upgrade glassnet")
    _require(set(config) == _CONFIG_KEYS, path, f"config.json keys are wrong: missing "
             f"{sorted(_CONFIG_KEYS - set(config))}, unexpected {sorted(set(config) - _CONFIG_KEYS)}")
    kind, shape, settings = config["kind"], config["build_input_shape"], config["compile"]
    _require(kind in ("model", "weights"), path, f"'kind' must be 'model' or 'weights': {kind!r}")
    _require(kind == "weights" or isinstance(config["model"], dict), path, "'model' must be an object")
    dims_ok = isinstance(shape, list) and all(d is None or type(d) is int and d > 0 for d in shape)
    _require(shape is None or dims_ok, path, f"build_input_shape must be a list like [null, 784]: {shape!r}")
    _require(settings is None or isinstance(settings, dict), path, "'compile' must be an object or null")
    _check_entries(config["weights"], "weights", {"layer", "name"}, _FLOAT_DTYPES, path)
    optimizer = config["optimizer"]
    if optimizer is not None:
        _require(isinstance(optimizer, dict) and set(optimizer) == {"class_name", "iterations", "state"}
                 and type(optimizer["iterations"]) is int and optimizer["iterations"] >= 0, path,
                 "'optimizer' must be {class_name, iterations >= 0, state}")
        _check_entries(optimizer["state"], "optimizer", set(), _STATE_DTYPES, path)


def _check_entries(entries, folder, more_keys, dtypes, path):
    _require(isinstance(entries, list), path, f"the {folder} entry of config.json must be a list")
    keys = {"member", "shape", "dtype"} | more_keys
    for i, e in enumerate(entries):
        _require(isinstance(e, dict) and set(e) == keys and all(isinstance(e[k], str) for k in more_keys),
                 path, f"{folder} entry {i} must have the keys {sorted(keys)} ('layer' and 'name' strings)")
        member = f"{folder}/{i:04d}.npy"
        _require(e["member"] == member, path, f"{folder} entry {i} must name the member {member}")
        _require(isinstance(e["shape"], list) and all(type(d) is int and d >= 0 for d in e["shape"]), path,
                 f"{e['member']} has an invalid shape {e['shape']!r}")
        _require(e["dtype"] in dtypes, path, f"{e['member']} has dtype {e['dtype']!r}; allowed: {dtypes}")


def _read_array(zf, info, entry, path):
    """One ``.npy`` member: header checked (no object dtype, declared shape and dtype) before ``np.load``."""
    data = _read_member(zf, info)
    where = info.filename + (f" (layer {entry['layer']!r} {entry['name']})" if "layer" in entry else "")
    try:
        fh = io.BytesIO(data)
        version = np.lib.format.read_magic(fh)
        _require(version in ((1, 0), (2, 0)), path, f"{where}: unsupported .npy version {version}")
        fmt = np.lib.format
        shape, _, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fh)
    except ModelFileError:
        raise
    except Exception as e:     # numpy's header parser: ValueError, SyntaxError, tokenize.TokenError...
        raise ModelFileError(f"{path}: {where} is not a valid .npy array ({type(e).__name__}: {e})") from None
    _require(not dtype.hasobject, path, f"{where} is an object array: object arrays and pickles are not "
             "allowed", UnsafeModelFileError)
    _require(dtype.fields is None and dtype.subdtype is None and dtype.name == entry["dtype"], path,
             f"{where}: expected dtype {entry['dtype']}, received {dtype}")
    _require(shape == tuple(entry["shape"]), path,
             f"{where}: config.json says shape {tuple(entry['shape'])}, the array has {shape}")
    _require(len(data) - fh.tell() == math.prod(shape) * dtype.itemsize, path,
             f"file is truncated or corrupted ({where}: the array data has the wrong length)")
    array = np.load(io.BytesIO(data), allow_pickle=False)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
