"""Reading a model file: every check happens here, before any model is touched.

A glassnet model file is a zip archive (see ``saving.py`` for its layout). ``read_archive`` opens it
in memory, never extracts it, and refuses anything unexpected: pickles, member names that could
escape a folder, links, too many or too large members, decompression bombs, non-JSON configs,
object arrays, unknown keys, a newer format version. ``keras_files.py`` reads ``.keras`` zips with
the same helpers.
"""
import io
import json
import math
import os
import re
import struct
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


def require(ok, where, message, error=ModelFileError):
    """Raise ``error("where: message")`` unless ``ok``: one line per check."""
    if not ok:
        raise error(f"{where}: {message}")


def read_archive(path):
    """``(config, {member: ndarray})`` from a validated file; nothing is extracted or executed."""
    shown = repr(os.fspath(path))        # the path as messages show it
    with open(path, "rb") as f:
        _check_magic(f.read(8), shown)
        size = f.seek(0, os.SEEK_END)
        try:
            with zipfile.ZipFile(f) as zf:
                infos = _check_members(zf.infolist(), size, shown)
                config = read_json(zf, infos["config.json"], shown)
                read_json(zf, infos["metadata.json"], shown)
                _check_config(config, shown)
                declared = config["weights"] + (config["optimizer"] or {}).get("state", [])
                listed, present = {e["member"] for e in declared}, set(infos) - set(_JSON_MEMBERS)
                require(listed == present, shown, f"arrays listed in config.json but missing: "
                         f"{sorted(listed - present) or 'none'}; arrays present but not listed: "
                         f"{sorted(present - listed) or 'none'}")
                arrays = {e["member"]: _read_array(zf, infos[e["member"]], e, shown) for e in declared}
        except (zipfile.BadZipFile, EOFError, zlib.error, struct.error, OSError,
                NotImplementedError) as e:   # OSError: bad offsets; NotImplementedError: zip version, method
            raise ModelFileError(f"{shown}: file is truncated or corrupted (zip central directory missing "
                                 f"or a member incomplete: {e})") from None
    return config, arrays


def _check_magic(head, path):
    require(not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), path,
             "this is a pickle (a .pkl or a torch .pt file?): object arrays and pickles are not allowed. "
             "glassnet never unpickles a model file.", UnsafeModelFileError)
    require(head, path, "file is truncated or corrupted (it is empty)")
    require(head[:2] == b"PK", path, "not a glassnet model file (not a zip archive; pickles are never read)")


def _check_members(infos, size, path):
    """Names, types and sizes of the zip members, from the zip directory alone."""
    require(len(infos) <= MAX_MEMBERS, path, f"{len(infos)} members; the cap is {MAX_MEMBERS}")
    found, total, packed = {}, 0, 0
    for info in infos:
        name, where = info.orig_filename, f"member {info.orig_filename!r}"
        require(not (name.endswith((".pkl", ".pickle", ".pt", ".pth")) or "data.pkl" in name), path,
                 f"{where} is a pickle: object arrays and pickles are not allowed", UnsafeModelFileError)
        reason = _bad_name(name, info)
        require(reason is None, path, f"{where} {reason}; refusing to read the file")
        cap = MAX_JSON_BYTES if name.endswith(".json") else MAX_MEMBER_BYTES
        require(info.file_size <= cap, path, f"{where} declares {info.file_size} bytes; the cap is {cap}")
        require(info.file_size <= 2**20 or info.file_size <= MAX_RATIO * max(info.compress_size, 1), path,
                 f"{where} expands {info.file_size} / {info.compress_size} times, over the cap of "
                 f"{MAX_RATIO} (a decompression bomb?)")
        require(info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and not info.flag_bits & 1,
                 path, f"{where} is encrypted or uses an unsupported compression method")
        require(info.header_offset + info.compress_size <= size, path,
                 f"file is truncated or corrupted ({where} runs past the end)")
        found[name], total, packed = info, total + info.file_size, packed + info.compress_size
    require(total <= MAX_TOTAL_BYTES and packed <= size, path, f"members declare {total} bytes ({packed} "
             f"compressed) in {size} bytes; the cap is {MAX_TOTAL_BYTES} (overlapping members or a bomb?)")
    require(len(found) == len(infos), path, "duplicate member names")
    for required in _JSON_MEMBERS:
        require(required in found, path, f"not a glassnet model file (no {required})")
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


def read_json(zf, info, path):
    def no_duplicates(pairs):
        require(len({k for k, _ in pairs}) == len(pairs), path, f"{info.filename} repeats a key")
        return dict(pairs)

    def no_constants(name):
        require(False, path, f"{info.filename} contains {name}, which is not JSON")

    try:
        text = _read_member(zf, info).decode("utf-8")
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: {info.filename} is not valid JSON ({type(e).__name__}: {e})") from None
    require(isinstance(value, dict), path, f"{info.filename} must hold a JSON object")
    return value


def _check_config(config, path):
    """The structure of config.json: version first, then exactly the known keys and types."""
    require(config.get("format") == "glassnet", path, 'not a glassnet model file (no "format": "glassnet")')
    version = config.get("format_version")
    require(type(version) is int and version >= 1, path, f"format_version must be an int >= 1: {version!r}")
    require(version <= FORMAT_VERSION, path, f"format version {version} is newer than supported "
             f"({FORMAT_VERSION}); upgrade glassnet")
    require(set(config) == _CONFIG_KEYS, path, f"config.json keys are wrong: missing "
             f"{sorted(_CONFIG_KEYS - set(config))}, unexpected {sorted(set(config) - _CONFIG_KEYS)}")
    kind, shape, settings = config["kind"], config["build_input_shape"], config["compile"]
    require(kind in ("model", "weights"), path, f"'kind' must be 'model' or 'weights': {kind!r}")
    require(kind == "weights" or isinstance(config["model"], dict), path, "'model' must be an object")
    dims_ok = isinstance(shape, list) and all(d is None or type(d) is int and d > 0 for d in shape)
    require(shape is None or dims_ok, path, f"build_input_shape must be a list like [null, 784]: {shape!r}")
    require(settings is None or isinstance(settings, dict), path, "'compile' must be an object or null")
    _check_entries(config["weights"], "weights", {"layer", "name"}, _FLOAT_DTYPES, path)
    optimizer = config["optimizer"]
    if optimizer is not None:
        require(isinstance(optimizer, dict) and set(optimizer) == {"class_name", "iterations", "state"}
                 and type(optimizer["iterations"]) is int and optimizer["iterations"] >= 0, path,
                 "'optimizer' must be {class_name, iterations >= 0, state}")
        _check_entries(optimizer["state"], "optimizer", set(), _STATE_DTYPES, path)


def _check_entries(entries, folder, more_keys, dtypes, path):
    require(isinstance(entries, list), path, f"the {folder} entry of config.json must be a list")
    keys = {"member", "shape", "dtype"} | more_keys
    for i, e in enumerate(entries):
        require(isinstance(e, dict) and set(e) == keys and all(isinstance(e[k], str) for k in more_keys),
                 path, f"{folder} entry {i} must have the keys {sorted(keys)} ('layer' and 'name' strings)")
        member = f"{folder}/{i:04d}.npy"
        require(e["member"] == member, path, f"{folder} entry {i} must name the member {member}")
        require(isinstance(e["shape"], list) and all(type(d) is int and d >= 0 for d in e["shape"]), path,
                 f"{e['member']} has an invalid shape {e['shape']!r}")
        require(e["dtype"] in dtypes, path, f"{e['member']} has dtype {e['dtype']!r}; allowed: {dtypes}")


def _read_array(zf, info, entry, path):
    """One ``.npy`` member: header checked (no object dtype, declared shape and dtype) before ``np.load``."""
    data = _read_member(zf, info)
    where = info.filename + (f" (layer {entry['layer']!r} {entry['name']})" if "layer" in entry else "")
    try:
        fh = io.BytesIO(data)
        version = np.lib.format.read_magic(fh)
        require(version in ((1, 0), (2, 0)), path, f"{where}: unsupported .npy version {version}")
        fmt = np.lib.format
        shape, _, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fh)
    except ModelFileError:
        raise
    except Exception as e:     # numpy's header parser: ValueError, SyntaxError, tokenize.TokenError...
        raise ModelFileError(f"{path}: {where} is not a valid .npy array ({type(e).__name__}: {e})") from None
    require(not dtype.hasobject, path, f"{where} is an object array: object arrays and pickles are not "
             "allowed", UnsafeModelFileError)
    require(dtype.fields is None and dtype.subdtype is None and dtype.name == entry["dtype"], path,
             f"{where}: expected dtype {entry['dtype']}, received {dtype}")
    require(shape == tuple(entry["shape"]), path,
             f"{where}: config.json says shape {tuple(entry['shape'])}, the array has {shape}")
    require(len(data) - fh.tell() == math.prod(shape) * dtype.itemsize, path,
             f"file is truncated or corrupted ({where}: the array data has the wrong length)")
    array = np.load(io.BytesIO(data), allow_pickle=False)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
