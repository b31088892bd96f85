"""glassnet vs PyTorch vs Keras on two CNNs, side by side in one run (issue 4, "Benchmark").

    python bench/bench_cnn.py                      # 3 repeats, 10,000 samples, all frameworks found
    python bench/bench_cnn.py --repeat 1 --samples 2000 --frameworks glassnet,torch

Workloads:
  cifar  the tutorial's CIFAR-10 CNN (Conv32 3×3 relu → MaxPool → Conv64 3×3 relu → MaxPool → Flatten →
         Dense 64 relu → Dense 10 softmax), Adam, batch 32, (N, 32, 32, 3) inputs
  mnist  Keras's MNIST convnet without dropout (Conv32 → MaxPool → Conv64 → MaxPool → Flatten → Dense 10
         softmax), Adam, batch 64, (N, 28, 28, 1) inputs
Sparse categorical cross-entropy, shuffled, one epoch over ``--samples`` images, timed after a short
warm-up fit (Keras traces its graph there). Inputs are uniform random pixels with random labels: the
time does not depend on the values. glassnet trains through ``fit`` (one BLAS thread; on Linux each
batch's two halves run in two processes, the second in a worker that ``fit`` forks, see
``glassnet/models/data_parallel.py``),
PyTorch with 2 threads (OMP_WAIT_POLICY=PASSIVE) in a plain loop (NCHW), Keras (TensorFlow backend) through ``fit``.

Every (framework, workload) runs in its own Python process, so its peak RSS (``ru_maxrss``,
imports included) is its own; glassnet's adds its fit worker's peak (an upper bound: the pages the
two processes share are counted twice). Frameworks run interleaved within each repeat, so a noisy neighbour
slows them alike; the ratio columns are medians of the per-repeat ratios. The machine's float32
matmul peak is measured here with a large ``np.matmul`` (best round, one thread and all cores), and each framework's
fraction of it counts the convolution and dense multiply-adds of forward and backward passes
as a direct convolution does them (an effective rate: glassnet's second conv layer, in Winograd's
F(2×2, 3×3), multiplies 2.25 times less, and TensorFlow's oneDNN may use Winograd too).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {"cifar": {"shape": (32, 32, 3), "batch": 32, "convs": [32, 64], "dense": [64, 10]},
             "mnist": {"shape": (28, 28, 1), "batch": 64, "convs": [32, 64], "dense": [10]}}
TARGETS = {"cifar": 1.2, "mnist": 1.5}      # glassnet / PyTorch epoch time
TARGET_KERAS = 0.7                          # glassnet / Keras
REFERENCE = {"cifar": (2.82, 5.05), "mnist": (1.50, 2.09)}   # issue 4: (PyTorch, Keras) s/epoch, idle machine


def flops_per_sample(workload):
    """Multiply-adds ×2 of one training step per sample: forward, dW, and dx except for the first layer."""
    spec = WORKLOADS[workload]
    h, w, c = spec["shape"]
    total = 0
    for i, f in enumerate(spec["convs"]):
        h, w = h - 2, w - 2
        macs = h * w * 9 * c * f
        total += macs * (2 if i == 0 else 3)
        h, w, c = h // 2, w // 2, f
    d = h * w * c
    for u in spec["dense"]:
        total += d * u * 3
        d = u
    return 2 * total


def matmul_peak(size=2048, rounds=10):
    """GFLOP/s of a float32 (size×size) @ (size×size) with NumPy's BLAS: the best round with one thread
    and with all of them (on a busy machine the best round is the closest to the machine's peak)."""
    from glassnet import _blas
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b = a.T.copy()
    best = {}
    for threads in (1, os.cpu_count()):
        with _blas.blas_threads(threads):
            a @ b
            best[threads] = 2 * size ** 3 / min(_timed(lambda: a @ b) for _ in range(rounds)) / 1e9
    return max(best.values()), best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _data(workload, n):
    rng = np.random.default_rng(0)
    x = rng.random((n,) + WORKLOADS[workload]["shape"], dtype=np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


# -- one framework, one workload, in this process ---------------------------------------------------
def run_glassnet(workload, x, y):
    import glassnet
    from glassnet import zoo
    glassnet.utils.set_random_seed(0)
    model = zoo.cifar10_cnn() if workload == "cifar" else zoo.mnist_convnet()
    batch = WORKLOADS[workload]["batch"]
    model.fit(x[:4 * batch], y[:4 * batch], batch_size=batch, epochs=1, verbose=0)     # warm-up
    return _timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0))


def run_torch(workload, x, y):
    import torch
    from torch import nn
    torch.set_num_threads(2)
    torch.manual_seed(0)
    spec = WORKLOADS[workload]
    c, (f1, f2) = spec["shape"][2], spec["convs"]
    side = ((spec["shape"][0] - 2) // 2 - 2) // 2
    head = [nn.Linear(f2 * side * side, 64), nn.ReLU(), nn.Linear(64, 10)] if workload == "cifar" \
        else [nn.Linear(f2 * side * side, 10)]
    model = nn.Sequential(nn.Conv2d(c, f1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(f1, f2, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), *head)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    X = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    Y = torch.from_numpy(y)
    batch = spec["batch"]

    def epoch(n):
        order = torch.randperm(n)
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X[idx]), Y[idx])     # softmax + sparse CCE
            loss.backward()
            opt.step()
            loss.item()
    epoch(4 * batch)
    return _timed(lambda: epoch(len(X)))


def run_keras(workload, x, y):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)
    spec = WORKLOADS[workload]
    head = [layers.Dense(64, activation="relu")] if workload == "cifar" else []
    model = keras.Sequential([keras.Input(spec["shape"]),
                              layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                              layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                              layers.Flatten(), *head, layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    batch = spec["batch"]
    model.fit(x[:4 * batch], y[:4 * batch], batch_size=batch, epochs=1, verbose=0)
    return _timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0))


RUNNERS = {"glassnet": run_glassnet, "torch": run_torch, "keras": run_keras}


def worker(framework, workload, samples):
    x, y = _data(workload, samples)
    seconds = RUNNERS[framework](workload, x, y)
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss            # KiB on Linux
                + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024  # (glassnet's fit worker)
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib}))


def spawn(framework, workload, samples):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, workload, "--samples", str(samples)]
    # PyTorch's OpenMP threads spin while waiting: on a shared, loaded machine two spinning threads
    # stall each other (measured 10x slower); the passive policy makes them sleep instead.
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{framework}/{workload} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def available(framework):
    import importlib.util
    needs = {"glassnet": ["glassnet"], "torch": ["torch"], "keras": ["keras", "tensorflow"]}[framework]
    return all(importlib.util.find_spec(name) is not None for name in needs)


# -- the comparison -----------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", default="cifar,mnist")
    parser.add_argument("--frameworks", default="glassnet,torch,keras")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker, args.samples)

    frameworks = [f for f in args.frameworks.split(",") if available(f)]
    workloads = args.workloads.split(",")
    peak, by_threads = matmul_peak()
    print(f"# bench_cnn: {args.samples:,} samples, {args.repeat} repeat(s), {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("# float32 matmul peak (np.matmul 2048², best of 10): "
          + ", ".join(f"{t} thread(s) {gf:.1f}" for t, gf in by_threads.items()) + " GFLOP/s")
    results = {(f, w): [] for f in frameworks for w in workloads}
    for r in range(args.repeat):
        for w in workloads:
            for f in frameworks:
                results[f, w].append(spawn(f, w, args.samples))
                print(f"  repeat {r + 1} {w:5s} {f:8s} {results[f, w][-1]['seconds']:6.2f} s", file=sys.stderr)
    peak_after, by_threads = matmul_peak()
    print("# measured again at the end: " + ", ".join(f"{t} thread(s) {gf:.1f}" for t, gf in by_threads.items())
          + f" GFLOP/s; the peak used below is the best of all: {max(peak, peak_after):.1f} GFLOP/s")
    peak = max(peak, peak_after)

    print("\n| workload | framework | epoch s (median) | images/s | peak RSS MiB | % of matmul peak "
          "| glassnet / this (median ratio) |")
    print("|---|---|---|---|---|---|---|")
    for w in workloads:
        flops = flops_per_sample(w) * args.samples
        for f in frameworks:
            runs = results[f, w]
            sec = statistics.median(r["seconds"] for r in runs)
            rss = statistics.median(r["peak_rss_mib"] for r in runs)
            ratio = statistics.median(g["seconds"] / o["seconds"] for g, o in zip(results["glassnet", w], runs)) \
                if "glassnet" in frameworks else float("nan")
            print(f"| {w} | {f} | {sec:.2f} | {args.samples / sec:,.0f} | {rss:.0f} | "
                  f"{100 * flops / sec / 1e9 / peak:.0f}% | {ratio:.2f} |")
    print("\nTargets: glassnet/torch ≤ " + ", ".join(f"{TARGETS[w]} ({w})" for w in workloads)
          + f"; glassnet/keras ≤ {TARGET_KERAS}; glassnet's CIFAR peak RSS ≤ PyTorch's.")
    print("Issue 4's reference (idle machine, s/epoch): "
          + ", ".join(f"{w} torch {REFERENCE[w][0]} keras {REFERENCE[w][1]}" for w in workloads))


if __name__ == "__main__":
    main()
