"""Datasets in Keras' shapes and dtypes, read with validating parsers and verified downloads.

- ``mnist``: handwritten digits (with an embedded 10,000 / 10,000 real sample for offline use),
- ``fashion_mnist``: Zalando's article images in the MNIST format,
- ``cifar10``: 32 x 32 colour images (npz, binary, or python batches through a safe unpickler),
- ``insurance``, ``homeprices``: the tutorial tables, shipped in the package.

Files are looked up in ``load_data(path=...)``, then ``$GLASSNET_DATA/<name>/``, then the cache
``$GLASSNET_HOME`` (default ``~/.glassnet/datasets``), then downloaded and SHA-256 checked.
"""
from ._download import DatasetFileError, DatasetUnavailableError
from . import mnist, fashion_mnist, cifar10, insurance, homeprices

__all__ = ["mnist", "fashion_mnist", "cifar10", "insurance", "homeprices",
           "DatasetFileError", "DatasetUnavailableError"]
