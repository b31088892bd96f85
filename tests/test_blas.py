"""``_blas.blas_threads``: the BLAS thread count is one setting for the whole process, so blocks that
several threads open at once (``predict`` called from a threaded web server, say) must leave it as
they found it, whatever order they close in."""
import os
import select
import signal
import threading
import time

import pytest

from glassnet import _blas


class FakeBlas:
    """A stand-in for OpenBLAS's set/get pair, so the bookkeeping is tested on any BLAS."""

    def __init__(self, threads):
        self.threads = threads

    def set(self, n):
        self.threads = n

    def get(self):
        return self.threads


@pytest.fixture
def fake(monkeypatch):
    blas = FakeBlas(4)
    monkeypatch.setattr(_blas, "_API", (blas.set, blas.get))
    monkeypatch.setattr(_blas, "_OPEN", {})
    return blas


def test_one_block_sets_and_restores(fake):
    with _blas.blas_threads(1):
        assert fake.threads == 1
    assert fake.threads == 4


def test_blocks_closing_in_the_order_they_opened_restore_the_count(fake):
    """Thread A opens, thread B opens, A closes, B closes: the interleaving that, with each block
    restoring the count it found, left B's "previous" (1) in place for good."""
    a, b = _blas.blas_threads(1), _blas.blas_threads(1)
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert fake.threads == 1                         # B is still open: it keeps its one thread
    b.__exit__(None, None, None)
    assert fake.threads == 4


def test_the_last_opened_block_still_open_decides(fake):
    a, b = _blas.blas_threads(1), _blas.blas_threads(3)
    a.__enter__()
    b.__enter__()
    assert fake.threads == 3
    a.__exit__(None, None, None)
    assert fake.threads == 3
    b.__exit__(None, None, None)
    assert fake.threads == 4


def test_nested_blocks_in_one_thread(fake):
    with _blas.blas_threads(1):
        with _blas.blas_threads(2):
            assert fake.threads == 2
        assert fake.threads == 1
    assert fake.threads == 4


def test_an_exception_inside_the_block_still_restores(fake):
    with pytest.raises(ZeroDivisionError):
        with _blas.blas_threads(1):
            1 / 0
    assert fake.threads == 4 and not _blas._OPEN


def test_two_threads_interleaved(fake):
    """The same interleaving with real threads: A enters, B enters, A leaves, B leaves."""
    b_inside, a_left, seen = threading.Event(), threading.Event(), {}

    def thread_a():
        with _blas.blas_threads(1):
            b_inside.wait(5)
        a_left.set()

    def thread_b():
        with _blas.blas_threads(1):
            b_inside.set()
            a_left.wait(5)
            seen["while B runs"] = fake.threads

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    threads[0].start()
    while not _blas._OPEN:                           # A is inside before B starts
        time.sleep(0.001)
    threads[1].start()
    for t in threads:
        t.join(10)
    assert seen == {"while B runs": 1}
    assert fake.threads == 4 and not _blas._OPEN


def test_with_the_real_blas_interleaved_blocks_leave_the_count_as_found():
    if _blas.get_num_threads() is None:
        pytest.skip("this NumPy's BLAS is not an OpenBLAS glassnet can control")
    before = _blas.get_num_threads()
    if before == 1:
        pytest.skip("the BLAS already uses one thread here, so a count stuck at one would not show")
    a, b = _blas.blas_threads(1), _blas.blas_threads(1)
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    b.__exit__(None, None, None)
    assert _blas.get_num_threads() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_forgets_the_blocks_of_threads_it_does_not_have(fake):
    """Another thread is inside a block when the process forks: in the child that thread does not
    exist and its block never closes, so the child drops it and gets the count from before it."""
    inside, release = threading.Event(), threading.Event()

    def other():
        with _blas.blas_threads(1):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                                          # the child
        try:
            ok = not _blas._OPEN and fake.threads == 4
            with _blas.blas_threads(2):                                   # the lock works here
                ok = ok and fake.threads == 2
            os.write(write, b"1" if ok and fake.threads == 4 else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = b""
    if select.select([read], [], [], 10)[0]:
        answer = os.read(read, 1)
    os.close(read)
    if not answer:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    release.set()
    t.join(10)
    assert answer == b"1", "the forked child kept the other thread's block or hung"
    assert fake.threads == 4
