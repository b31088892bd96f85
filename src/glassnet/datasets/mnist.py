"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28 x 28 uint8, labels 0-9.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, under CC BY-SA 3.0.

Where the files come from (first hit wins; see ``glassnet.datasets._download``):
``path`` -> ``$GLASSNET_DATA/mnist/`` -> ``$GLASSNET_HOME/mnist/`` (default
``~/.glassnet/datasets/mnist/``) -> download from ``MIRRORS``, each file checked against the
published SHA-256 of the original ``.gz`` (``SHA256`` below) before it enters the cache.
Copies found through ``path`` or ``$GLASSNET_DATA`` are not hashed (a re-compressed ``.gz`` is
fine there; the IDX parser validates the contents). So ``shared/data/mnist/``, whose
``train-images-idx3-ubyte.gz`` was re-gzipped (same pixels, different ``.gz`` bytes and hash), is
used through ``GLASSNET_DATA`` or ``path``; copied into the cache, that one file would fail the
hash check and be deleted as corrupted.

Offline with nothing found, ``load_data`` returns the **embedded sample** shipped inside the
package (the first 10,000 training digits and the whole 10,000-digit test set of the real files) and says so
once with an ``EmbeddedDataWarning``.
"""
import os
import pathlib
import warnings

import numpy as np

from ._download import DatasetFileError, DatasetUnavailableError, cache_dir
from ._idx import load_files, locate

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
# Published SHA-256 of the original .gz downloads (identical on every mirror above).
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
EMBEDDED_FILE = pathlib.Path(__file__).parent / "data" / "mnist_embedded.npz"
EMBEDDED_SIZES = (10000, 10000)


class EmbeddedDataWarning(UserWarning):
    """Issued when ``load_data`` falls back to the small embedded sample instead of the full set."""


def load_data(path=None, embedded=False):
    """Load MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        path: a folder holding the four IDX files (``train-images-idx3-ubyte.gz`` ... or the
            raw, un-gzipped files), or a Keras ``mnist.npz``. When given, only it is searched.
        embedded: if True, return the embedded 10,000 / 10,000 sample without searching.

    Returns:
        x_train uint8 (60000, 28, 28), y_train uint8 (60000,), x_test uint8 (10000, 28, 28),
        y_test uint8 (10000,); the embedded sample has 10,000 and 10,000 rows (the full test set).

    Raises:
        DatasetFileError: a file found is malformed (wrong magic, truncated, counts differ ...).
        FileNotFoundError: ``path`` was given but does not hold the files.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()   # doctest: +SKIP
        >>> x_train.shape, y_train[:5]                            # doctest: +SKIP
        ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    if embedded:
        return load_embedded()
    if path is not None and str(path).endswith(".npz"):
        return _load_keras_npz(path)
    try:
        paths = locate("mnist", SHA256, MIRRORS, path=None if path is None else os.fspath(path))
    except DatasetUnavailableError as exc:
        warnings.warn(
            f"MNIST files not found locally and the download failed ({_first_failure(exc)}). Using the "
            f"embedded sample of real MNIST digits: {EMBEDDED_SIZES[0]:,} training and "
            f"{EMBEDDED_SIZES[1]:,} test images. For the full 60,000 / 10,000 set, set GLASSNET_DATA "
            f"to a folder holding mnist/train-images-idx3-ubyte.gz (and the other three files), or "
            f"place the four original .gz downloads in {cache_dir() / 'mnist'} (checked against their "
            f"published SHA-256).", EmbeddedDataWarning, stacklevel=2)
        return load_embedded()
    return load_files(paths)


def _first_failure(exc):
    lines = str(exc).splitlines()
    return lines[1].strip() if len(lines) > 1 else lines[0]


def load_embedded():
    """The embedded sample: the first 10,000 training digits and all 10,000 test digits of real MNIST.

    Made by ``tools/make_embedded_digits.py``; balanced enough to train on (every class has
    between 863 and 1,127 training digits). Same dtypes and layout as ``load_data``.
    """
    with np.load(EMBEDDED_FILE, allow_pickle=False) as f:
        arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    _check_arrays(EMBEDDED_FILE, *arrays)
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def _load_keras_npz(path):
    """Read a Keras ``mnist.npz`` (keys x_train, y_train, x_test, y_test) without pickle."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except FileNotFoundError:
        raise
    except Exception as exc:  # numpy's readers raise many kinds (BadZipFile, zlib.error, SyntaxError...)
        raise DatasetFileError(f"{path}: not a Keras mnist.npz ({exc})") from exc
    _check_arrays(path, *arrays)
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def _check_arrays(path, x_train, y_train, x_test, y_test):
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetFileError(f"{path}: x_{name} must be uint8 (N, 28, 28), got {x.dtype} {x.shape}")
        if y.dtype != np.uint8 or y.shape != (len(x),) or (y.size and y.max() > 9):
            raise DatasetFileError(f"{path}: y_{name} must be uint8 ({len(x)},) labels in 0..9, "
                                   f"got {y.dtype} {y.shape}")
