"""Datasets: real files from ../shared/data, the embedded digits, and hostile files (bad-inputs 40-43)."""
import gzip
import os
import pickle

import numpy as np
import pytest

from glassnet.datasets import DatasetFileError, cifar10, fashion_mnist, homeprices, insurance, mnist
from glassnet.datasets._idx import read_idx

from conftest import SHARED_DATA, shared_file

IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array, magic=None):
    """An IDX file for a uint8 array: 00 00 08 ndim, big-endian dims, data."""
    header = bytes([0, 0, 8, array.ndim]) if magic is None else magic
    return header + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


def write_idx_set(folder, n_train=12, n_test=4, gz=True):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), np.arange(n_train, dtype=np.uint8) % 10,
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), np.arange(n_test, dtype=np.uint8) % 10]
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(IDX_NAMES, arrays):
        data = idx_bytes(array)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return arrays


# --- MNIST from the shared folder -------------------------------------------------------------

def test_mnist_full_set_from_glassnet_data(monkeypatch):
    shared_file("mnist", "train-images-idx3-ubyte.gz")
    monkeypatch.setenv("GLASSNET_DATA", str(SHARED_DATA))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert int(x_train.sum(dtype=np.int64)) == 1567298545


def test_mnist_explicit_path_and_missing_path(tmp_path):
    folder = shared_file("mnist")
    (_, y_train), _ = mnist.load_data(path=folder)
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist.load_data(path=tmp_path)


def test_embedded_digits_are_the_first_real_digits_and_balanced(monkeypatch):
    (x_train, y_train), (x_test, y_test) = mnist.load_embedded()
    assert x_train.shape == (10000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert np.bincount(y_train, minlength=10).min() >= 800
    assert np.bincount(y_test, minlength=10).min() >= 150
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert os.path.getsize(mnist.EMBEDDED_FILE) < 4 * 2**20
    if (SHARED_DATA / "mnist").is_dir():
        (full_x, full_y), (full_xt, _) = mnist.load_data(path=SHARED_DATA / "mnist")
        np.testing.assert_array_equal(x_train, full_x[:10000])
        np.testing.assert_array_equal(y_train, full_y[:10000])
        np.testing.assert_array_equal(x_test, full_xt[:10000])
    (x2, _), _ = mnist.load_data(embedded=True)
    np.testing.assert_array_equal(x2, x_train)


def test_keras_npz_is_read_without_pickle(tmp_path):
    arrays = write_idx_set(tmp_path / "idx")
    np.savez(tmp_path / "mnist.npz", x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    (x_train, _), (_, y_test) = mnist.load_data(path=tmp_path / "mnist.npz")
    np.testing.assert_array_equal(x_train, arrays[0])
    np.testing.assert_array_equal(y_test, arrays[3])
    np.savez(tmp_path / "bad.npz", x_train=np.array([object()] * 3))
    with pytest.raises(DatasetFileError, match="bad.npz"):
        mnist.load_data(path=tmp_path / "bad.npz")


def test_idx_round_trip_gzip_and_raw(tmp_path):
    for gz in (True, False):
        arrays = write_idx_set(tmp_path / str(gz), gz=gz)
        (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path / str(gz))
        for got, want in zip((x_train, y_train, x_test, y_test), arrays):
            np.testing.assert_array_equal(got, want)
        (x_train, _), _ = fashion_mnist.load_data(path=tmp_path / str(gz))
        assert x_train.shape == (12, 28, 28)


# --- malformed IDX files (bad-inputs 40-42) -------------------------------------------------------

@pytest.mark.parametrize("header, kind, message", [
    (b"\x01\x00\x08\x01", "labels", "not an IDX file"),
    (b"\x00\x00\x0a\x01", "labels", "type code 0x0a"),
    (b"\x00\x00\x08\x03", "labels", "expected label file magic 2049, got 2051"),
    (b"\x00\x00\x08\x01", "images", "expected image file magic 2051, got 2049"),
])
def test_wrong_magic_is_rejected(tmp_path, header, kind, message):
    path = tmp_path / "file"
    path.write_bytes(header + (3).to_bytes(4, "big") * 3 + bytes(27))
    with pytest.raises(DatasetFileError, match=message) as info:
        read_idx(path, kind)
    assert str(path) in str(info.value)


def test_truncated_data_is_rejected_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (60000, 28, 28)) + bytes(1000000))
    with pytest.raises(DatasetFileError, match="expected 47040000 data bytes, found 1000000"):
        read_idx(path, "images")
    path.write_bytes(path.read_bytes()[:1000016] + b"x")  # trailing garbage is as wrong as missing data
    with pytest.raises(DatasetFileError, match="expected 47040000 data bytes, found 1000001"):
        read_idx(path, "images")


def test_absurd_dimensions_are_rejected_without_allocating(tmp_path):
    header = b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (2**31, 28, 28))
    raw, gz = tmp_path / "raw", tmp_path / "file.gz"
    raw.write_bytes(header + bytes(784))
    gz.write_bytes(gzip.compress(header + bytes(784)))
    with pytest.raises(DatasetFileError, match=f"expected {2**31 * 784} data bytes, found 784"):
        read_idx(raw, "images")
    with pytest.raises(DatasetFileError, match=f"expected {2**31 * 784} data bytes.*header dimensions are corrupt"):
        read_idx(gz, "images")


def test_truncated_gzip_stream_is_rejected(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(784 * 50, dtype=np.uint8).reshape(50, 28, 28) % 7))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match="truncated"):
        read_idx(path, "images")


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx_set(tmp_path)
    labels = gzip.compress(idx_bytes(np.zeros(5, dtype=np.uint8)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(labels)
    with pytest.raises(DatasetFileError, match=r"images \(12\) and labels \(5\) counts differ"):
        mnist.load_data(path=tmp_path)


def test_full_size_count_mismatch_message(tmp_path):
    shared_file("mnist", "t10k-labels-idx1-ubyte.gz")
    for name, source in zip(IDX_NAMES, ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]):
        os.symlink(SHARED_DATA / "mnist" / (source + ".gz"), tmp_path / (name + ".gz"))
    with pytest.raises(DatasetFileError, match=r"images \(60000\) and labels \(10000\) counts differ"):
        mnist.load_data(path=tmp_path)


def test_images_file_passed_as_labels_via_load_data(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(DatasetFileError, match="t10k-labels.*expected label file magic 2049, got 2051"):
        mnist.load_data(path=tmp_path)


# --- CIFAR-10 ------------------------------------------------------------------------------------

def test_cifar10_shared_npz_batches(monkeypatch):
    shared_file("cifar10", "train_batch1.npz")
    monkeypatch.setenv("GLASSNET_DATA", str(SHARED_DATA))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (50000, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (1000, 32, 32, 3) and y_test.shape == (1000, 1)
    assert y_train[:10, 0].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert y_test[:10, 0].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert x_train[0, 0, 0].tolist() == [59, 62, 63] and x_test[0, 0, 0].tolist() == [158, 112, 49]
    assert len(cifar10.LABEL_NAMES) == 10 and cifar10.label_names[1] == "automobile"


def planes(n, seed=0):
    """n CIFAR rows (N, 3072): R plane, G plane, B plane, and the same images as (N, 32, 32, 3)."""
    hwc = np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return hwc.transpose(0, 3, 1, 2).reshape(n, 3072).copy(), hwc


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("key_type", [str, bytes])
def test_cifar10_python_batch_loads(tmp_path, protocol, key_type):
    rows, hwc = planes(6)
    batch = {key_type(k, "ascii") if key_type is bytes else k: v for k, v in
             {"batch_label": b"testing batch 1 of 5", "labels": [0, 1, 2, 3, 9, 5], "data": rows,
              "filenames": [b"a.png"] * 6}.items()}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = cifar10.load_batch(path)
    np.testing.assert_array_equal(x, hwc)
    assert y.tolist() == [0, 1, 2, 3, 9, 5] and y.dtype == np.uint8


def test_cifar10_python2_style_batch_loads(tmp_path):
    """The official batches were written by Python 2: byte-string keys, numpy.core module names."""
    rows, hwc = planes(3)
    data = pickle.dumps({b"data": rows, b"labels": [4, 0, 7]}, protocol=2)
    data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in data
    path = tmp_path / "test_batch"
    path.write_bytes(data)
    x, y = cifar10.load_batch(path)
    np.testing.assert_array_equal(x, hwc)
    assert y.tolist() == [4, 0, 7]


class MarkerGadget:
    """A pickle that, loaded by plain pickle, runs code creating a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_malicious_cifar_pickle_is_rejected_and_never_runs(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(MarkerGadget(proof)))  # the gadget is real: plain pickle runs it
    assert proof.exists()
    marker = tmp_path / "marker"
    rows, _ = planes(2)
    for i, payload in enumerate([MarkerGadget(marker), {"data": MarkerGadget(marker), "labels": [1, 2]},
                                 {"data": rows, "labels": [1, 2], "x": MarkerGadget(marker)}]):
        path = tmp_path / f"data_batch_{i}"
        path.write_bytes(pickle.dumps(payload, protocol=2 + i))
        with pytest.raises(DatasetFileError, match=r"(__builtin__|builtins)\.exec, which is not allowed"):
            cifar10.load_batch(path)
    assert not marker.exists()


@pytest.mark.parametrize("batch, message", [
    ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "only integer dtypes"),
    ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, r"uint8 array \(N, 3072\)"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, r"labels must lie in 0\.\.9"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "expected 2 integer labels"),
    ({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 1]}, "'labels' must be a list"),
    ({"data": np.array([1, "x"], dtype=object), "labels": [0, 1]}, "only integer dtypes"),
    ([1, 2, 3], "expected a dict"),
])
def test_cifar10_python_batch_wrong_content(tmp_path, batch, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(DatasetFileError, match=message):
        cifar10.load_batch(path)


def test_cifar10_truncated_pickle(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": planes(3)[0], "labels": [1, 2, 3]})[:500])
    with pytest.raises(DatasetFileError, match="not a readable CIFAR-10 python batch"):
        cifar10.load_batch(path)


def test_cifar10_pickle_with_a_huge_memo_index_is_refused_before_unpickling(tmp_path):
    """A damaged LONG_BINPUT index would make CPython's unpickler zero-fill a memo of gigabytes."""
    blob = bytearray(pickle.dumps({"data": planes(3)[0], "labels": [1, 2, 3]}, protocol=2))
    at = blob.index(b"q\x00")                        # the first BINPUT: memo slot 0
    blob[at:at + 2] = b"r" + (0x10000000).to_bytes(4, "little")   # LONG_BINPUT 268,435,456
    path = tmp_path / "data_batch_1"
    path.write_bytes(bytes(blob))
    with pytest.raises(DatasetFileError, match="memo index 268435456"):
        cifar10.load_batch(path)


def test_cifar10_binary_batches_and_folder_layout(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]):
        rows, _ = planes(3, seed=i)
        labels = np.array([[i % 10], [7], [9]], dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels, rows], axis=1).tobytes())
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(path=tmp_path)
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15, 1) and y_test.shape == (3, 1)
    np.testing.assert_array_equal(x_test, planes(3, seed=5)[1])
    assert y_train[:3, 0].tolist() == [0, 7, 9]
    (folder / "test_batch.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(DatasetFileError, match="not a whole number of 3073-byte records"):
        cifar10.load_data(path=tmp_path)
    (folder / "test_batch.bin").write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(DatasetFileError, match=r"labels must lie in 0\.\.9, got 10\.\.10"):
        cifar10.load_data(path=tmp_path)
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        cifar10.load_data(path=tmp_path / "cifar-10-batches-bin" / "nothing")


def test_cifar10_npz_batches_are_read_without_pickle(tmp_path):
    _, hwc = planes(4)
    np.savez(tmp_path / "b.npz", x=hwc, y=np.array([1, 2, 3, 4], np.uint8))
    x, y = cifar10.load_batch(tmp_path / "b.npz")
    np.testing.assert_array_equal(x, hwc)
    np.savez(tmp_path / "obj.npz", x=np.array([None, 1], dtype=object), y=np.zeros(2))
    with pytest.raises(DatasetFileError, match="obj.npz"):
        cifar10.load_batch(tmp_path / "obj.npz")
    np.savez(tmp_path / "chw.npz", x=hwc.transpose(0, 3, 1, 2), y=np.zeros(4, np.uint8))
    with pytest.raises(DatasetFileError, match=r"uint8 \(N, 32, 32, 3\)"):
        cifar10.load_batch(tmp_path / "chw.npz")


# --- tabular -------------------------------------------------------------------------------------

def test_insurance_table():
    x, y = insurance.load_data()
    assert x.shape == (28, 2) and y.shape == (28,) and x.dtype == y.dtype == np.float32
    assert x[0].tolist() == [22.0, 1.0] and float(y.sum()) == 14.0
    assert 18 <= x[:, 0].min() and x[:, 0].max() <= 62
    assert insurance.FEATURE_NAMES == ("age", "affordibility")


def test_homeprices_table():
    x, y = homeprices.load_data()
    assert x.shape == (20, 2) and y.shape == (20,) and x.dtype == np.float32
    assert x[0].tolist() == [1056.0, 2.0] and y[1] == np.float32(120.0)


def test_shipped_tables_equal_the_shared_files():
    for name in ("insurance_data.csv", "homeprices_banglore.csv"):
        shared = shared_file("tabular", name)
        shipped = os.path.join(os.path.dirname(insurance.__file__), "data", name)
        with open(shipped, "rb") as a, open(shared, "rb") as b:
            assert a.read() == b.read()
