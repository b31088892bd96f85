"""Property-based tests (hypothesis): broadcasting gradients, layer shapes, fit/predict on random small
shapes and dtypes, and mutated real files for the IDX reader (and Keras's mnist.npz), the CIFAR-10
batch reader (pickle, binary and .npz batches) and the model-file loader.

The file readers' contract: a mutated file loads, or raises the documented ``DatasetFileError`` /
``ModelFileError`` (both ``ValueError`` subclasses); never another exception, never a hang (a 5 s
alarm per case), never a memory blow-up (peak RSS checked), never code execution (a pickle gadget
spliced into the files would create a sentinel file). The case counts (``max_examples``) are fixed
so that this whole file runs in about a minute on two cores, within the suite's time budget.
"""
import contextlib
import gzip
import io
import json
import os
import pickle
import resource
import signal
import tempfile
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import glassnet
from glassnet import layers, saving
from glassnet.datasets import cifar10
from glassnet.datasets._download import DatasetFileError
from glassnet.datasets._idx import read_idx
from glassnet.engine import Tensor

QUICK = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
MAX_RSS_GROWTH_MB = 400


class Hang(Exception):
    pass


class Quiet(tuple):
    """Fixture values with a short repr, so a failing example's report stays readable."""

    def __repr__(self):
        return f"<{len(self)} real files>"


@contextlib.contextmanager
def time_limit(seconds=5):
    """Raise ``Hang`` if the block runs longer than ``seconds`` (SIGALRM; main thread only)."""
    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield d


# -- 1. broadcasting gradients -------------------------------------------------------------------------
def reduce_to(g, shape):
    """The oracle for 'sum in reverse', written independently of ops.unbroadcast: sum every axis that
    broadcasting added or stretched, one axis at a time."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@st.composite
def broadcast_pair(draw):
    out = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    def operand():
        keep = draw(st.integers(0, len(out)))
        return tuple(1 if draw(st.booleans()) else n for n in out[len(out) - keep:])
    return operand(), operand()


@settings(max_examples=300, **QUICK)
@given(shapes=broadcast_pair(), op=st.sampled_from(["add", "sub", "mul", "div"]), seed=st.integers(0, 2**16))
def test_fuzz_broadcast_gradients_reduce_to_the_operand_shapes(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a_np = rng.uniform(0.5, 2, shapes[0])
    b_np = rng.uniform(0.5, 2, shapes[1])
    a, b = Tensor(a_np, requires_grad=True, dtype="float64"), Tensor(b_np, requires_grad=True, dtype="float64")
    z = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}[op]
    w = rng.standard_normal(z.shape)
    (z * Tensor(w, dtype="float64")).sum().backward()
    da, db = {"add": (w, w), "sub": (w, -w), "mul": (w * b_np, w * a_np),
              "div": (w / b_np, -w * a_np / b_np ** 2)}[op]
    full = np.broadcast_shapes(a_np.shape, b_np.shape)
    for t, d in ((a, da), (b, db)):
        assert t.grad.shape == t.shape and t.grad.dtype == np.float64
        np.testing.assert_allclose(t.grad, reduce_to(np.broadcast_to(d, full), t.shape), rtol=1e-12, atol=1e-12)


# -- 2. layer shapes --------------------------------------------------------------------------------------
@settings(max_examples=120, **QUICK)
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 3), filters=st.integers(1, 4),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["valid", "same"]), pool=st.integers(1, 3), n=st.integers(1, 3))
def test_fuzz_conv_pool_dense_shapes_match_compute_output_shape(h, w, c, filters, k, s, padding, pool, n):
    conv = layers.Conv2D(filters, k, strides=s, padding=padding)
    x = np.random.default_rng(0).random((n, h, w, c), dtype=np.float32)
    try:
        model = glassnet.models.Sequential([glassnet.layers.Input((h, w, c)), conv,
                                            layers.MaxPooling2D(pool, padding="same"), layers.Flatten(),
                                            layers.Dense(3)])
    except ValueError as e:          # the documented refusal: a kernel larger than the input (#30)
        assert padding == "valid" and (k[0] > h or k[1] > w), e
        assert "output spatial size" in str(e) or "larger" in str(e)
        return
    shape = (None, h, w, c)
    out = Tensor(x)
    for layer in model.layers:
        shape = layer.compute_output_shape(shape)
        out = layer(out)
        assert out.shape == (n,) + tuple(shape[1:]) and out.dtype == np.float32
    assert model.predict(x, verbose=0).shape == (n, 3)


# -- 3. fit / predict on random small shapes and dtypes ------------------------------------------------
DTYPES = ["float16", "float32", "float64", "uint8", "int32", "int64", "bool"]


@settings(max_examples=60, **QUICK)
@given(n=st.integers(1, 12), d=st.integers(1, 6), k=st.integers(2, 4), dtype=st.sampled_from(DTYPES),
       batch=st.integers(1, 16), label_dtype=st.sampled_from(["int64", "uint8", "float32", "int8"]),
       loss=st.sampled_from(["sparse_categorical_crossentropy", "categorical_crossentropy", "mse"]),
       seed=st.integers(0, 1000))
def test_fuzz_fit_predict_small_shapes_and_dtypes(n, d, k, dtype, batch, label_dtype, loss, seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, d)) * (255 if dtype in ("uint8", "int32", "int64") else 1)).astype(dtype)
    labels = rng.integers(0, k, n).astype(label_dtype)
    y = np.eye(k, dtype="float32")[labels.astype(int)] if loss != "sparse_categorical_crossentropy" else labels
    model = glassnet.models.Sequential([layers.Dense(5, input_shape=(d,), activation="relu"),
                                        layers.Dense(k, activation="softmax")])
    model.compile("adam", loss, metrics=["accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # unscaled-input (#10) and similar advice
        history = model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
        p = model.predict(x, verbose=0)
    assert p.shape == (n, k) and p.dtype == np.float32
    assert np.isfinite(history.history["loss"]).all() and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


@settings(max_examples=60, **QUICK)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=4), dtype=st.sampled_from(DTYPES + ["complex64",
       "U3", "object"]), y_len=st.integers(0, 6))
def test_fuzz_wrong_shapes_and_kinds_raise_documented_errors(shape, dtype, y_len):
    x = np.zeros(shape, dtype=dtype)
    model = glassnet.models.Sequential([layers.Dense(2, input_shape=(3,), activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(x, np.zeros(y_len, int), verbose=0, epochs=1)
        except (ValueError, TypeError):
            pass
        try:
            model.predict(x, verbose=0)
        except (ValueError, TypeError):
            pass


# -- 4. mutated files -------------------------------------------------------------------------------------
GADGET = b"cbuiltins\nexec\n(Vopen(%r, 'w').close()\ntR."       # a pickle that would create a file


@st.composite
def mutated(draw, base, gadget=None):
    """``base`` with 1-4 edits: byte overwrites, 32-bit big-endian ints with extreme values,
    truncation, deletion, insertion (possibly of a code-running pickle gadget)."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["byte", "int32", "truncate", "delete", "insert", "gadget"]))
        if kind == "byte" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "int32":
            value = draw(st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 3072, 2049, 2051, 10000]))
            data[pos:pos + 4] = value.to_bytes(4, "big")
        elif kind == "truncate":
            del data[pos:]
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "gadget" and gadget is not None:
            data[pos:pos] = gadget
    return bytes(data)


def check_file(path, data, reader, documented, sentinel=None):
    with open(path, "wb") as f:
        f.write(data)
    try:
        with time_limit(5):
            reader(path)
    except documented:
        pass
    if sentinel is not None:
        assert not os.path.exists(sentinel), "a pickle in the file ran code"


def idx_bytes(array):
    return bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()


@pytest.fixture(scope="module")
def real_idx():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), _ = glassnet.datasets.mnist.load_data(embedded=True)
    return Quiet((idx_bytes(x[:6]), idx_bytes(y[:6])))


IDX_EXAMPLES = 1500


@settings(max_examples=IDX_EXAMPLES, **QUICK)
@given(data=st.data(), which=st.sampled_from(["images", "labels"]), gz=st.booleans())
def test_fuzz_idx_reader_on_mutated_mnist_files(real_idx, workdir, data, which, gz):
    base = real_idx[0] if which == "images" else real_idx[1]
    if gz:
        blob = data.draw(st.one_of(mutated(gzip.compress(base, mtime=0)), mutated(base).map(gzip.compress)))
    else:
        blob = data.draw(mutated(base))
    start = peak_rss_mb()
    check_file(os.path.join(workdir, "idx.gz" if gz else "idx"), blob, lambda p: read_idx(p, which),
               DatasetFileError)
    assert peak_rss_mb() - start < MAX_RSS_GROWTH_MB


@pytest.fixture(scope="module")
def real_keras_npz(real_idx):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([1, 2, 3], np.uint8)
    buf = io.BytesIO()
    np.savez(buf, x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    return Quiet([buf.getvalue()])


@settings(max_examples=300, **QUICK)
@given(data=st.data())
def test_fuzz_keras_mnist_npz_reader(real_keras_npz, workdir, data):
    blob = data.draw(mutated(real_keras_npz[0]))
    check_file(os.path.join(workdir, "mnist.npz"), blob, lambda p: glassnet.datasets.mnist.load_data(path=p),
               DatasetFileError)


@pytest.fixture(scope="module")
def real_cifar():
    rng = np.random.default_rng(0)
    data, labels = rng.integers(0, 256, (4, 3072), dtype=np.uint8), [3, 1, 4, 1]
    pickled = pickle.dumps({b"batch_label": b"training batch 1 of 5", b"labels": labels, b"data": data,
                            b"filenames": [b"a.png"] * 4}, protocol=2)
    binary = b"".join(bytes([label]) + row.tobytes() for label, row in zip(labels, data))
    npz = io.BytesIO()
    np.savez(npz, x=data.reshape(4, 3, 32, 32).transpose(0, 2, 3, 1), y=np.array(labels, np.uint8))
    return Quiet([{"": pickled, ".bin": binary, ".npz": npz.getvalue()}])


CIFAR_EXAMPLES = 1000


@settings(max_examples=CIFAR_EXAMPLES, **QUICK)
@given(data=st.data(), suffix=st.sampled_from(["", ".bin", ".npz"]))
def test_fuzz_cifar_batch_reader_on_mutated_batches(real_cifar, workdir, data, suffix):
    sentinel = os.path.join(workdir, "cifar-pwned")
    blob = data.draw(mutated(real_cifar[0][suffix], gadget=GADGET % sentinel.encode()))
    start = peak_rss_mb()
    check_file(os.path.join(workdir, "data_batch_1" + suffix), blob, cifar10.load_batch, DatasetFileError,
               sentinel)
    assert peak_rss_mb() - start < MAX_RSS_GROWTH_MB


@pytest.fixture(scope="module")
def real_model(workdir):
    model = glassnet.models.Sequential([layers.Dense(4, input_shape=(5,), activation="relu"),
                                        layers.Dropout(0.1), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.ones((4, 5), np.float32), np.arange(4) % 3, verbose=0)
    path = os.path.join(workdir, "real.gnet")
    model.save(path)
    with open(path, "rb") as f:
        blob = f.read()
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    return Quiet((blob, members))


def rezip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 64) | st.sampled_from([2**40, -2**40, 10**30]) |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) |
    st.sampled_from(["Dense", "os.system", "builtins", "float64", "int64", "object", "weights/0000.npy",
                     "../../x", "model", "weights", "Sequential", "glorot_uniform"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6)


def json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from json_paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from json_paths(child, prefix + (i,))


@st.composite
def mutated_model_file(draw, blob, members, sentinel):
    how = draw(st.sampled_from(["bytes", "config", "config", "npy", "members"]))
    if how == "bytes":
        return draw(mutated(blob, gadget=GADGET % sentinel.encode()))
    members = dict(members)
    if how == "config":              # a valid zip whose config.json has one value replaced or removed
        config = json.loads(members["config.json"])
        paths = list(json_paths(config))
        path = draw(st.sampled_from(paths[1:]))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
        members["config.json"] = json.dumps(config).encode()
    elif how == "npy":               # an array member with a mutated header or data
        name = draw(st.sampled_from(sorted(n for n in members if n.endswith(".npy"))))
        members[name] = draw(mutated(members[name], gadget=GADGET % sentinel.encode()))
    else:                            # members dropped, duplicated under new names, or a pickle added
        name = draw(st.sampled_from(sorted(members)))
        action = draw(st.sampled_from(["drop", "rename", "pickle"]))
        if action == "drop":
            del members[name]
        elif action == "rename":
            members[draw(st.sampled_from(["weights/0009.npy", "a/../b.npy", "/abs.npy", "x.pkl"]))] = members[name]
        else:
            members[name] = GADGET % sentinel.encode()
    return rezip(members)


MODEL_EXAMPLES = 1200


@settings(max_examples=MODEL_EXAMPLES, **QUICK)
@given(data=st.data())
def test_fuzz_model_loader_on_mutated_model_files(real_model, workdir, data):
    sentinel = os.path.join(workdir, "model-pwned")
    blob = data.draw(mutated_model_file(*real_model, sentinel))
    start = peak_rss_mb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # NaN weights (#37), learning_rate=0 and such load with a warning
        check_file(os.path.join(workdir, "m.gnet"), blob, glassnet.models.load_model, saving.ModelFileError,
                   sentinel)
    assert peak_rss_mb() - start < MAX_RSS_GROWTH_MB


def test_the_gadget_is_live(workdir):
    """The spliced gadget really runs code when plain pickle loads it, so the checks above mean something."""
    sentinel = os.path.join(workdir, "gadget-check")
    pickle.loads(GADGET % sentinel.encode())
    assert os.path.exists(sentinel)
    os.remove(sentinel)
