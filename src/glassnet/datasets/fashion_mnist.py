"""Fashion-MNIST: Zalando's 28 x 28 grey article images, a drop-in replacement for MNIST.

60,000 training and 10,000 test images in 10 classes (``LABEL_NAMES``), uint8, same IDX files
and names as MNIST. By Han Xiao, Kashif Rasul and Roland Vollgraf (2017), MIT licence.

Search order: ``path`` -> ``$GLASSNET_DATA/fashion-mnist/`` -> Debian's
``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``) ->
``$GLASSNET_HOME/fashion-mnist/`` -> download from ``MIRRORS`` (SHA-256 checked). There is no
embedded sample: offline with nothing found raises DatasetUnavailableError saying where to put
the files.
"""
import os

from ._idx import load_files, locate

MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]
SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
LABEL_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
label_names = LABEL_NAMES


def load_data(path=None):
    """Load Fashion-MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        path: a folder holding the four IDX files (gzip or raw); when given, only it is searched.

    Returns:
        x_train uint8 (60000, 28, 28), y_train uint8 (60000,), x_test uint8 (10000, 28, 28),
        y_test uint8 (10000,).

    Raises:
        DatasetFileError: a file is malformed or every download failed its SHA-256 check.
        DatasetUnavailableError: nothing on disk and no mirror reachable.
        FileNotFoundError: ``path`` was given but does not hold the files.
    """
    paths = locate("fashion-mnist", SHA256, MIRRORS, path=None if path is None else os.fspath(path),
                   extra_dirs=[DEBIAN_DIR])
    return load_files(paths)
