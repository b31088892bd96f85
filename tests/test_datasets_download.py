"""Downloads against a local HTTP server on 127.0.0.1, safe extraction, and the offline fallback (bad-input 44)."""
import functools
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading
import time
import warnings

import numpy as np
import pytest

from glassnet.datasets import DatasetFileError, DatasetUnavailableError, cifar10, fashion_mnist, mnist
from glassnet.datasets._download import fetch, safe_extract_tar

from test_datasets import IDX_NAMES, planes, write_idx_set


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no output from tests
        pass


@pytest.fixture
def serve():
    """serve(folder) -> base URL of an HTTP server on 127.0.0.1 (port 0) for that folder."""
    servers = []

    def start(folder):
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Never touch ~/.glassnet or the shared data: the cache is a temp folder, GLASSNET_DATA unset."""
    monkeypatch.setenv("GLASSNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    return tmp_path / "home"


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def payload(tmp_path):
    """A good file and a corrupted copy in two served folders."""
    data = gzip.compress(bytes(range(256)) * 40, mtime=0)
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "good" / "f.gz").write_bytes(data)
    (tmp_path / "bad" / "f.gz").write_bytes(data[:-3] + b"xyz")
    return data


def test_good_download_is_verified_and_cached(serve, payload, tmp_path, isolated_dirs):
    path = fetch("f.gz", [serve(tmp_path / "good")], sha(payload), "demo")
    assert path == isolated_dirs / "demo" / "f.gz" and path.read_bytes() == payload
    assert [p.name for p in path.parent.iterdir()] == ["f.gz"]  # no temp file left behind


def test_corrupted_download_fails_hash_and_next_mirror_is_tried(serve, payload, tmp_path):
    mirrors = [serve(tmp_path / "bad"), serve(tmp_path / "good")]
    path = fetch("f.gz", mirrors, sha(payload), "demo")
    assert path.read_bytes() == payload
    with pytest.raises(DatasetFileError, match="every download of f.gz failed its sha256 check") as info:
        fetch("f.gz", mirrors[:1] * 2, sha(payload + b"!"), "other")
    assert "sha256 mismatch" in str(info.value)
    assert not (path.parent.parent / "other" / "f.gz").exists()


def test_server_down_is_a_clear_bounded_error(dead_url, payload, isolated_dirs):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as info:
        fetch("f.gz", [dead_url, dead_url + "x/"], sha(payload), "demo", timeout=2)
    assert time.monotonic() - start < 5
    message = str(info.value)
    for part in ("could not download f.gz", sha(payload), dead_url + "f.gz", dead_url + "x/f.gz",
                 str(isolated_dirs / "demo" / "f.gz"), "GLASSNET_DATA"):
        assert part in message


def test_corrupted_cached_file_is_deleted_and_downloaded_again(serve, payload, tmp_path, isolated_dirs, dead_url):
    cached = isolated_dirs / "demo" / "f.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tampered")
    assert fetch("f.gz", [serve(tmp_path / "good")], sha(payload), "demo").read_bytes() == payload
    assert fetch("f.gz", [dead_url], sha(payload), "demo").read_bytes() == payload  # verified cache, no network
    cached.write_bytes(b"tampered again")
    with pytest.raises(DatasetUnavailableError):
        fetch("f.gz", [dead_url], sha(payload), "demo")
    assert not cached.exists()  # a file that fails its hash is never parsed


def test_mnist_downloads_into_the_cache_then_works_offline(serve, tmp_path, monkeypatch, isolated_dirs, dead_url):
    arrays = write_idx_set(tmp_path / "mirror")
    hashes = {n + ".gz": sha((tmp_path / "mirror" / (n + ".gz")).read_bytes()) for n in IDX_NAMES}
    monkeypatch.setattr(mnist, "SHA256", hashes)
    monkeypatch.setattr(mnist, "MIRRORS", [dead_url, serve(tmp_path / "mirror")])
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for got, want in zip((x_train, y_train, x_test, y_test), arrays):
        np.testing.assert_array_equal(got, want)
    assert sorted(p.name for p in (isolated_dirs / "mnist").iterdir()) == sorted(hashes)
    monkeypatch.setattr(mnist, "MIRRORS", [dead_url])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cached copy is used: no fallback notice
        (x_again, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_again, arrays[0])


def test_offline_mnist_falls_back_to_embedded_digits_with_one_notice(monkeypatch, dead_url, isolated_dirs):
    monkeypatch.setattr(mnist, "MIRRORS", [dead_url])
    with pytest.warns(mnist.EmbeddedDataWarning) as record:
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert len(record) == 1
    notice = str(record[0].message)
    for part in ("embedded sample", "10,000 training", "10,000 test", "GLASSNET_DATA", str(isolated_dirs / "mnist")):
        assert part in notice
    assert x_train.shape == (10000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.dtype == y_test.dtype == np.uint8


def test_offline_fashion_mnist_raises_with_instructions(monkeypatch, dead_url):
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [dead_url])
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", "/nonexistent")
    with pytest.raises(DatasetUnavailableError, match="(?s)train-images-idx3-ubyte.gz.*place the file"):
        fashion_mnist.load_data()


def make_tar(members):
    """A .tar.gz from (TarInfo, bytes or None) pairs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def test_cifar10_download_verifies_and_extracts_the_tarball(serve, tmp_path, monkeypatch, isolated_dirs):
    members = []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        rows, _ = planes(2, seed=i)
        members.append((tarfile.TarInfo("cifar-10-batches-py/" + name),
                        pickle.dumps({b"data": rows, b"labels": [i, 9]}, protocol=2)))
    data = make_tar(members)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / cifar10.TARBALL).write_bytes(data)
    monkeypatch.setattr(cifar10, "SHA256", sha(data))
    monkeypatch.setattr(cifar10, "MIRRORS", [serve(tmp_path / "mirror")])
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and y_train[:, 0].tolist() == [0, 9, 1, 9, 2, 9, 3, 9, 4, 9]
    np.testing.assert_array_equal(x_test, planes(2, seed=5)[1])
    assert sorted(p.name for p in (isolated_dirs / "cifar10").iterdir()) == ["cifar-10-batches-py"]


@pytest.mark.parametrize("name, kind", [("../evil.txt", tarfile.REGTYPE), ("/tmp/evil.txt", tarfile.REGTYPE),
                                        ("a/../../evil.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE),
                                        ("hard", tarfile.LNKTYPE), ("dev", tarfile.CHRTYPE)])
def test_unsafe_tar_members_are_rejected_before_writing(tmp_path, name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    ok = tarfile.TarInfo("ok.txt")
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar([(ok, b"fine"), (info, b"evil" if kind == tarfile.REGTYPE else None)]))
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetFileError, match="unsafe member name|link or special file"):
        safe_extract_tar(archive, tmp_path / "out" / "dest")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_not_a_tar_archive(tmp_path):
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(b"this is not a tar archive")
    with pytest.raises(DatasetFileError, match="not a readable tar archive"):
        safe_extract_tar(archive, tmp_path / "dest")
