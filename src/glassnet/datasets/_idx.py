"""A validating reader for IDX files, the format of MNIST and Fashion-MNIST (gzip or raw).

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 = unsigned byte (the only type these datasets use)
    byte  3     number of dimensions: 3 for images (N, 28, 28), 1 for labels (N,)
    then        one uint32 per dimension, then prod(dims) data bytes

So the magic number read as one uint32 is 2051 (0x00000803) for images and 2049 (0x00000801)
for labels. Every size is checked against the file length before the data is read, so a
corrupted header claiming 2^31 images fails at once instead of trying to allocate terabytes.
"""
import gzip
import os
import zlib

import numpy as np

from ._download import DatasetFileError, fetch, find_local

MAGIC = {"images": 2051, "labels": 2049}
_NDIM = {"images": 3, "labels": 1}
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand data by more than ~1032:1


def read_idx(path, kind):
    """Read an IDX ``kind`` file ("images" or "labels") into a uint8 array.

    Returns:
        uint8 array: (N, rows, cols) for images, (N,) for labels.

    Raises:
        DatasetFileError: naming the file and what is wrong (magic, dims, length, gzip stream).
    """
    path = os.fspath(path)
    gzipped = _is_gzip(path)
    try:
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            dims = _read_header(f, path, kind)
            expected = int(np.prod(dims, dtype=np.int64))
            found = _check_size(path, gzipped, expected, len(dims))
            data = _read_exact(f, found)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFileError(f"{path}: damaged or truncated gzip stream ({exc})") from exc
    if len(data) != expected:
        raise DatasetFileError(f"{path}: expected {expected} data bytes, found {len(data)} "
                               f"(header dims {tuple(dims)}); the file is truncated or has trailing bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_header(f, path, kind):
    head = f.read(4)
    if len(head) < 4:
        raise DatasetFileError(f"{path}: not an IDX file (only {len(head)} bytes)")
    magic = int.from_bytes(head, "big")
    if head[:2] != b"\x00\x00":
        raise DatasetFileError(f"{path}: not an IDX file (first two bytes {head[:2].hex()}, expected 0000)")
    if head[2] != 0x08:
        raise DatasetFileError(f"{path}: not an IDX file of unsigned bytes (type code 0x{head[2]:02x}, "
                               "expected 0x08)")
    if magic != MAGIC[kind]:
        other = "images" if kind == "labels" else "labels"
        hint = f" (this looks like an {other} file)" if magic == MAGIC[other] else ""
        raise DatasetFileError(f"{path}: expected {kind[:-1]} file magic {MAGIC[kind]}, got {magic}{hint}")
    raw = f.read(4 * _NDIM[kind])
    if len(raw) < 4 * _NDIM[kind]:
        raise DatasetFileError(f"{path}: IDX header truncated (dimensions missing)")
    return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw), 4)]


def _check_size(path, gzipped, expected, ndim):
    """Reject a header whose data cannot fit in the file; return the byte count available (raw) or a bound (gzip)."""
    size = os.path.getsize(path)
    if not gzipped:
        found = size - 4 - 4 * ndim
        if found != expected:
            raise DatasetFileError(f"{path}: expected {expected} data bytes, found {found}")
        return found
    bound = size * _MAX_DEFLATE_RATIO
    if expected > bound:
        raise DatasetFileError(f"{path}: expected {expected} data bytes, but a {size}-byte gzip file "
                               f"can hold at most about {bound}; the header dimensions are corrupt")
    return expected


def _read_exact(f, limit):
    """Read up to ``limit + 1`` bytes in chunks (one extra byte reveals trailing data)."""
    chunks, total = [], 0
    while total <= limit:
        block = f.read(min(1 << 22, limit + 1 - total))
        if not block:
            break
        chunks.append(block)
        total += len(block)
    return b"".join(chunks)


NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def locate(folder, sha256s, mirrors, path=None, extra_dirs=()):
    """Paths of the four IDX files of ``folder`` (see ``_download`` for the search order).

    ``sha256s`` maps each published ``.gz`` name to its SHA-256. Each file is looked up as
    ``name.gz`` or ``name`` (raw). With ``path`` only that folder (or its ``folder`` sub-folder)
    is searched and a missing file raises FileNotFoundError.
    """
    found = []
    for name in NAMES:
        candidates = (name + ".gz", name)
        if path is not None:
            hits = [p for d in (path, os.path.join(path, folder)) for p in
                    (os.path.join(d, c) for c in candidates) if os.path.isfile(p)]
            if not hits:
                raise FileNotFoundError(f"{name}.gz (or {name}) not found in {path} or {os.path.join(path, folder)}")
            found.append(hits[0])
            continue
        local, trusted = find_local(folder, candidates, extra_dirs)
        if local is not None and (trusted or local.name != name + ".gz"):
            found.append(local)
        else:  # absent, or a cached .gz that fetch() must verify (and re-download if corrupted)
            found.append(fetch(name + ".gz", mirrors, sha256s[name + ".gz"], folder))
    return found


def load_files(paths):
    """Parse four IDX paths (train images, train labels, test images, test labels) into Keras' tuples."""
    x_train, y_train, x_test, y_test = (read_idx(p, kind) for p, kind in
                                        zip(paths, ("images", "labels", "images", "labels")))
    for x, y, xp, yp in ((x_train, y_train, paths[0], paths[1]), (x_test, y_test, paths[2], paths[3])):
        if len(x) != len(y):
            raise DatasetFileError(f"images ({len(x)}) and labels ({len(y)}) counts differ: {xp} vs {yp}")
    return (x_train, y_train), (x_test, y_test)
