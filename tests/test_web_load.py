"""A bounded load test of the real server on 127.0.0.1: 5,000 requests from 32 clients, zero errors.

The server is ``glassnet serve --port 0`` in a subprocess; the clients are bench/bench_serve.py's
asyncio load generator (keep-alive connections, fixed request count, 300 s deadline). The latency
figures in docs/benchmarks.md come from ``python bench/bench_serve.py``.
"""
import importlib.util
import pathlib

import pytest

pytest.importorskip("starlette", reason='needs the web extra: pip install "glassnet[web]"')
pytest.importorskip("uvicorn", reason='needs the web extra: pip install "glassnet[web]"')

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_serve.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_serve", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_5000_requests_from_32_clients_without_an_error(bench):
    flat, picture = bench.digit_bodies()
    with bench.Server() as server:
        stats = bench.load(server.port, bench.http_request("/api/predict?model=hidden", flat), 5000, 32)
        pictures = bench.load(server.port, bench.http_request("/api/predict?model=cnn", picture), 200, 32)
        bad = bench.load(server.port, bench.http_request("/api/predict", b"[1, 2]"), 200, 32)
    assert stats["answered"] == 5000 and stats["errors"] == 0, stats["first_errors"]
    assert stats["p99"] < 2000, stats                       # queueing behind 31 others, on a 2-core machine
    assert pictures["errors"] == 0, pictures["first_errors"]
    assert bad["answered"] == 200 and all("422" in e for e in bad["first_errors"])    # refused, still serving
