"""How fast ``glassnet serve`` answers: inference in-process, then HTTP under load on 127.0.0.1.

    python bench/bench_serve.py                          # 5,000 requests from 32 clients, then the others
    python bench/bench_serve.py --requests 500 --concurrency 8

1. In-process, per model: the forward pass alone (``inference_ms``, layer by layer as the page
   shows it) and the whole ``ServedModel.predict`` (forward + JSON-ready activations), median and
   99th percentile over 1,000 calls; and ``images.to_mnist`` on a 140 x 140 picture (the page's).
2. Over HTTP: ``glassnet serve --port 0`` in a subprocess; ``concurrency`` asyncio clients, each on
   one keep-alive connection, send their share of the requests one after another; latency is from
   the first byte sent to the last byte read. Bounded: a fixed count, and a 300 s deadline.
   Loads: the MLP with the 784-value JSON input (the load test's), the CNN with the same, and the
   MLP with the page's 140 x 140 picture (fewer requests).

Prints markdown tables (the ones in docs/benchmarks.md). Only 127.0.0.1 is contacted.
"""
import argparse
import asyncio
import json
import platform
import re
import subprocess
import sys
import time

import numpy as np

from glassnet import images
from glassnet.datasets import mnist

DEADLINE_S = 300


# -- the load generator (also used by tests/test_web_load.py) ---------------------------------------------
def http_request(path, body, content_type="application/json"):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _client(port, request, count, latencies, errors):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not status.startswith(b"HTTP/1.1 200") or not body.startswith(b"{"):
                errors.append(status.decode(errors="replace").strip() or "connection closed")
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


def load(port, request, requests, concurrency):
    """Send ``requests`` copies of ``request`` from ``concurrency`` connections; returns a stats dict."""
    latencies, errors = [], []
    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]

    async def run():
        clients = [_client(port, request, n, latencies, errors) for n in shares]
        await asyncio.wait_for(asyncio.gather(*clients), DEADLINE_S)

    start = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    answered = len(latencies)
    return {"requests": requests, "concurrency": concurrency, "answered": answered,
            "errors": len(errors) + requests - answered, "first_errors": errors[:3],
            "seconds": wall, "per_second": answered / wall,
            "p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max())}


def start_port(proc, lines=20):
    """The port that a starting ``glassnet serve`` prints ("open http://127.0.0.1:PORT/"), or an error."""
    seen = []
    for _ in range(lines):
        seen.append(proc.stdout.readline())
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", seen[-1])
        if match:
            return int(match.group(1))
        if not seen[-1]:
            break
    proc.kill()
    raise RuntimeError("glassnet serve did not start: " + "".join(seen))


class Server:
    """``glassnet serve --port 0`` in a subprocess, as a context manager; ``.port`` once started."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "glassnet", "serve", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = start_port(self.proc)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def digit_bodies():
    """(784-value JSON body, the page's 140 x 140 picture body) for one real test digit."""
    (_, _), (x_test, _) = mnist.load_embedded()
    flat = json.dumps(np.round(x_test[0] / 255, 4).ravel().tolist()).encode()
    picture = np.kron(255 - x_test[0].astype(int), np.ones((5, 5), int))        # dark on white, 140 x 140
    return flat, json.dumps({"image": picture.tolist()}).encode()


# -- in-process timings ------------------------------------------------------------------------------------
def in_process(repeats=1000):
    from glassnet.web.inference import load_models
    served = load_models()
    (_, _), (x_test, _) = mnist.load_embedded()
    digit = (x_test[0] / 255).astype(np.float32)
    rows = []
    for name, model in served.items():
        model.predict(digit)
        forward, whole = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            result = model.predict(digit)
            whole.append((time.perf_counter() - start) * 1000)
            forward.append(result["inference_ms"])
        rows.append((name, model.kind, np.median(forward), np.percentile(forward, 99), np.median(whole),
                     np.percentile(whole, 99)))
    picture = np.kron(1 - x_test[0] / 255, np.ones((5, 5)))
    times = []
    for _ in range(200):
        start = time.perf_counter()
        images.to_mnist(picture)
        times.append((time.perf_counter() - start) * 1000)
    return rows, (np.median(times), np.percentile(times, 99))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    rows, prep = in_process()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"numpy {np.__version__}\n")
    print("| model | kind | forward p50 (ms) | forward p99 (ms) | predict() p50 (ms) | predict() p99 (ms) |")
    print("|---|---|---:|---:|---:|---:|")
    for name, kind, f50, f99, w50, w99 in rows:
        print(f"| {name} | {kind} | {f50:.3f} | {f99:.3f} | {w50:.3f} | {w99:.3f} |")
    print(f"\n`images.to_mnist` on a 140 x 140 picture: p50 {prep[0]:.2f} ms, p99 {prep[1]:.2f} ms\n")
    flat, picture = digit_bodies()
    loads = [("hidden (MLP)", "784-value JSON", "hidden", flat, args.requests),
             ("cnn", "784-value JSON", "cnn", flat, args.requests),
             ("hidden (MLP)", "140 x 140 picture JSON", "hidden", picture, args.requests // 5)]
    print("| model | body | requests | clients | errors | req/s "
          "| p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with Server() as server:
        load(server.port, http_request("/api/predict", flat), 200, args.concurrency)          # warm-up
        for model, kind, name, body, n in loads:
            s = load(server.port, http_request(f"/api/predict?model={name}", body), n, args.concurrency)
            print(f"| {model} | {kind} | {n:,} | {args.concurrency} | {s['errors']} | "
                  f"{s['per_second']:.0f} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | "
                  f"{s['max']:.1f} |", flush=True)
            if s["errors"]:
                print(f"errors: {s['first_errors']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
