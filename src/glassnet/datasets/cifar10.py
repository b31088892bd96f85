"""CIFAR-10: 60,000 colour images 32 x 32 in 10 classes (``LABEL_NAMES``), as Keras returns them.

By Alex Krizhevsky, Vinod Nair and Geoffrey Hinton (2009); cite "Learning Multiple Layers of
Features from Tiny Images". No formal licence; distributed for research use.

Three on-disk layouts are read, all validated (shape (N, 32, 32, 3) uint8, labels 0..9):

- ``.npz`` batches as in ``shared/data/cifar10/``: ``train_batch1.npz`` ... ``train_batch5.npz``
  and ``test_batch.npz`` or ``test_1k.npz`` (keys ``x``, ``y``), read with ``allow_pickle=False``.
  The shared folder's test set is the official first 1,000 test images only.
- the official python batches (``cifar-10-batches-py/data_batch_1`` ... ``test_batch``). They are
  pickles, so they go through ``_SafeUnpickler``, which admits plain data and the few numpy
  functions that rebuild an integer array, and nothing else: a crafted file raises
  DatasetFileError and never runs code.
- the official binary batches (``cifar-10-batches-bin/data_batch_1.bin`` ...): 1 label byte then
  3,072 pixel bytes (R plane, G plane, B plane) per record; no pickle at all.

Search order: ``path`` -> ``$GLASSNET_DATA/cifar10/`` -> ``$GLASSNET_HOME/cifar10/`` -> download
of the official python tarball (SHA-256 checked, extracted with link and path checks).
"""
import io
import os
import pickle
import pickletools
import shutil

import numpy as np

from ._download import DatasetFileError, cache_dir, data_dir, fetch, safe_extract_tar

LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
label_names = LABEL_NAMES
MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]
TARBALL = "cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
MAX_BATCH_BYTES = 256 * 2**20  # an official batch is ~31 MB; refuse to read anything absurd
_SUBDIRS = ("", "cifar10", "cifar-10-batches-py", "cifar-10-batches-bin")
_LAYOUTS = (  # (train file names, candidate test file names)
    ([f"train_batch{i}.npz" for i in range(1, 6)], ["test_batch.npz", "test_1k.npz"]),
    ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]),
    ([f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"]),
)


def load_data(path=None):
    """Load CIFAR-10 as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        path: a folder holding one of the three layouts (or holding ``cifar10/``,
            ``cifar-10-batches-py/`` or ``cifar-10-batches-bin/``); when given, only it is searched.

    Returns:
        x_train uint8 (50000, 32, 32, 3), y_train uint8 (50000, 1), x_test uint8 (N, 32, 32, 3),
        y_test uint8 (N, 1), N = 10000 (1000 with the shared ``test_1k.npz``).

    Raises:
        DatasetFileError: a batch is malformed or unsafe, or the download fails its SHA-256 check.
        DatasetUnavailableError: nothing on disk and the download site is unreachable.
        FileNotFoundError: ``path`` was given but holds no CIFAR-10 layout.
    """
    if path is not None:
        files = _find_layout(os.fspath(path))
        if files is None:
            raise FileNotFoundError(f"no CIFAR-10 batches in {path} (expected train_batch1..5.npz, "
                                    "data_batch_1..5 or data_batch_1..5.bin, plus a test batch)")
        return _load_files(*files)
    for directory in ([data_dir() / "cifar10"] if data_dir() else []) + [cache_dir() / "cifar10"]:
        files = _find_layout(directory)
        if files is not None:
            return _load_files(*files)
    return _load_files(*_download())


def load_batch(path):
    """Read one batch file in any of the three formats (by suffix) into ``(x, y)``.

    Returns:
        x uint8 (N, 32, 32, 3) and y uint8 (N,), labels checked to lie in 0..9.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_BATCH_BYTES:
        raise DatasetFileError(f"{path}: {size} bytes is far larger than a CIFAR-10 batch")
    if path.endswith(".npz"):
        x, y = _read_npz(path)
    elif path.endswith(".bin"):
        x, y = _read_binary(path, size)
    else:
        x, y = _read_pickle(path)
    return x, _check_labels(path, y, len(x))


def _find_layout(directory):
    for sub in _SUBDIRS:
        d = os.path.join(directory, sub)
        for train, tests in _LAYOUTS:
            test = next((os.path.join(d, t) for t in tests if os.path.isfile(os.path.join(d, t))), None)
            if test and all(os.path.isfile(os.path.join(d, f)) for f in train):
                return [os.path.join(d, f) for f in train], test
    return None


def _load_files(train_paths, test_path):
    parts = [load_batch(p) for p in train_paths]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts]).reshape(-1, 1)
    x_test, y_test = load_batch(test_path)
    return (x_train, y_train), (x_test, y_test.reshape(-1, 1))


def _download():
    """Fetch and verify the official python tarball, extract it safely, return its batch paths."""
    folder = cache_dir() / "cifar10"
    tarball = fetch(TARBALL, MIRRORS, SHA256, "cifar10")
    staging = safe_extract_tar(tarball, folder / "_extracting")
    inner = staging / "cifar-10-batches-py"
    if not inner.is_dir():
        shutil.rmtree(staging)
        raise DatasetFileError(f"{tarball}: no cifar-10-batches-py folder inside")
    os.replace(inner, folder / "cifar-10-batches-py")
    shutil.rmtree(staging)
    tarball.unlink()
    return _find_layout(folder)


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except Exception as exc:  # numpy's readers raise many kinds (BadZipFile, zlib.error, SyntaxError...)
        raise DatasetFileError(f"{path}: not a CIFAR-10 .npz batch with keys x and y ({exc})") from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DatasetFileError(f"{path}: x must be uint8 (N, 32, 32, 3), got {x.dtype} {x.shape}")
    return x, y


def _read_binary(path, size):
    record = 1 + 3072
    if size == 0 or size % record:
        raise DatasetFileError(f"{path}: {size} bytes is not a whole number of {record}-byte records "
                               "(1 label byte + 3072 pixel bytes)")
    rows = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    return _planes_to_hwc(rows[:, 1:]), rows[:, 0]


def _read_pickle(path):
    try:
        with open(path, "rb") as f:
            data = f.read()       # in memory: a length field in a damaged pickle cannot make a
        _check_memo_indices(data)                                           # read() allocate more
        batch = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except DatasetFileError as exc:
        raise DatasetFileError(f"{path}: {exc}") from None
    except Exception as exc:  # any malformed pickle: report it, never half-load
        raise DatasetFileError(f"{path}: not a readable CIFAR-10 python batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict):
        raise DatasetFileError(f"{path}: expected a dict, got {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFileError(f"{path}: 'data' must be a uint8 array (N, 3072), got {got}")
    if not isinstance(labels, (list, np.ndarray)):
        raise DatasetFileError(f"{path}: 'labels' must be a list of ints, got {type(labels).__name__}")
    return _planes_to_hwc(data), labels


def _planes_to_hwc(rows):
    """(N, 3072) rows of R, G, B planes -> (N, 32, 32, 3), the channels_last layout."""
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_labels(path, y, n):
    if isinstance(y, list) and not all(type(v) is int for v in y):
        raise DatasetFileError(f"{path}: labels must be ints")
    y = np.asarray(y)
    if y.dtype.kind not in "iu" or y.reshape(-1).shape != (n,):
        raise DatasetFileError(f"{path}: expected {n} integer labels, got {y.dtype} {y.shape}")
    y = y.reshape(-1)
    if n and (y.min() < 0 or y.max() > 9):
        raise DatasetFileError(f"{path}: labels must lie in 0..9, got {y.min()}..{y.max()}")
    return y.astype(np.uint8)


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise DatasetFileError(f"pickle asks for array subtype {subtype!r}; only numpy.ndarray is allowed")
    if shape != (0,):          # numpy pickles an empty placeholder, then fills it from its state
        raise DatasetFileError(f"pickle asks for an array placeholder of shape {shape!r}; numpy's own "
                               "pickles use (0,)")
    return np.empty(0).__reduce__()[0](subtype, shape, dtype)


def _safe_frombuffer(buffer, dtype, shape, order):
    if not isinstance(buffer, (bytes, bytearray)) or not isinstance(dtype, np.dtype):
        raise DatasetFileError("pickle rebuilds an array from something other than bytes")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


def _safe_dtype(name, align=False, copy=False):
    if name not in ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "b1"):
        raise DatasetFileError(f"pickle asks for numpy dtype {name!r}; only integer dtypes are allowed")
    return np.dtype(name)


def _latin1_encode(text, encoding="latin1"):
    """How protocol-2 pickles made by Python 3 spell a bytes object."""
    if not isinstance(text, str) or encoding != "latin1":
        raise DatasetFileError("pickle calls _codecs.encode with unexpected arguments")
    return text.encode("latin1")


MAX_MEMO_INDEX = 100_000      # a CIFAR batch pickle uses a few dozen memo slots


def _check_memo_indices(data):
    """Refuse huge memo indices before unpickling: CPython grows (and zero-fills) its memo table up to
    the largest index a PUT names, so one damaged 4-byte index could claim gigabytes."""
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET") \
                and int(arg) > MAX_MEMO_INDEX:
            raise DatasetFileError(f"pickle memo index {int(arg)} is far beyond what a CIFAR-10 batch uses")
        if op.name == "STOP":
            return


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler whose only callables are the numpy array rebuilders, checked and wrapped.

    ``find_class`` is the one door through which a pickle reaches code; every name outside
    ``ALLOWED`` (``os.system``, ``builtins.eval``, ...) raises DatasetFileError before anything runs.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise DatasetFileError(f"pickle refers to {module}.{name}, which is not allowed in a CIFAR-10 "
                                   "batch (only plain data and uint8 numpy arrays are)") from None

    def persistent_load(self, pid):
        raise DatasetFileError("pickle uses persistent ids, which a CIFAR-10 batch never does")

