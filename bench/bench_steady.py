"""Steady long runs: is epoch 50 as fast as epoch 2, and does memory stay flat? (issue 5)

    python bench/bench_steady.py                    # 50 epochs, the embedded 10,000 digits
    python bench/bench_steady.py --samples 60000    # full MNIST (from $GLASSNET_DATA or the cache)
    python bench/bench_steady.py --model notes --epochs 100 --batch-size 128

The MNIST MLP (784 -> 100 relu -> 10 softmax, Adam, batch 32 by default, the progress bar off).
Each epoch is timed from ``on_epoch_begin`` to ``on_epoch_end``; RSS is read from /proc after each
epoch. Printed: epoch 2 and epoch N times, their ratio, the medians of the first and last ten epochs
(after the first), and the RSS growth after epoch 1. A ratio near 1.0 means no slow-down.
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
import glassnet  # noqa: E402
from glassnet import callbacks, layers  # noqa: E402


def rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


class EpochClock(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times, self.rss = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)
        self.rss.append(rss_mb())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", choices=["hidden", "notes"], default="hidden")
    args = parser.parse_args(argv)
    glassnet.utils.set_random_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), _ = glassnet.datasets.mnist.load_data(embedded=args.samples <= 10000)
    x, y = (x[:args.samples].reshape(-1, 784) / 255).astype(np.float32), y[:args.samples]
    stack = [layers.Dense(100, input_shape=(784,), activation="relu"), layers.Dense(10, activation="softmax")] \
        if args.model == "hidden" else [layers.Dense(10, input_shape=(784,), activation="softmax")]
    model = glassnet.models.Sequential(stack)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = EpochClock()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0, callbacks=[clock])
    t = clock.times
    first, last = statistics.median(t[1:11]), statistics.median(t[-10:])
    print(f"glassnet {glassnet.__version__}, {args.model} MLP, {len(x):,} samples, batch {args.batch_size}, "
          f"{args.epochs} epochs")
    print(f"epoch 2: {t[1] * 1e3:8.1f} ms    epoch {args.epochs}: {t[-1] * 1e3:8.1f} ms    "
          f"ratio {t[-1] / t[1]:.2f}")
    print(f"median of epochs 2-11: {first * 1e3:8.1f} ms    of the last 10: {last * 1e3:8.1f} ms    "
          f"ratio {last / first:.2f}")
    print(f"RSS after epoch 1: {clock.rss[0]:.1f} MB    max after: {max(clock.rss[1:]):.1f} MB    "
          f"growth {max(clock.rss[1:]) - clock.rss[0]:+.1f} MB")


if __name__ == "__main__":
    main()
