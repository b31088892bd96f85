"""Rebuild the embedded MNIST sample shipped in src/glassnet/datasets/data/mnist_embedded.npz.

    python tools/make_embedded_digits.py [--source ../shared/data/mnist]

Takes the first 10,000 training and 10,000 test digits (the whole test set) of the real MNIST IDX files (read
by glassnet's own validating parser), checks the class balance, and writes them uint8 with
np.savez_compressed. The output is byte-for-byte reproducible (zip entries carry a fixed date).
Also copies the two tutorial CSV tables (insurance, home prices) into the package data folder.
MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0 (see
src/glassnet/datasets/data/README.md).
"""
import argparse
import hashlib
import io
import pathlib
import shutil
import sys
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from glassnet.datasets._idx import load_files  # noqa: E402  (the same parser load_data uses)

N_TRAIN, N_TEST = 10000, 10000
OUT = ROOT / "src" / "glassnet" / "datasets" / "data"


def write_npz(path, arrays):
    """np.savez_compressed, but with a fixed timestamp in each zip entry so rebuilds are identical."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1998, 1, 26, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=pathlib.Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    (x_train, y_train), (x_test, y_test) = load_files([args.source / "mnist" / n for n in names])
    sample = {"x_train": x_train[:N_TRAIN], "y_train": y_train[:N_TRAIN],
              "x_test": x_test[:N_TEST], "y_test": y_test[:N_TEST]}
    for split in ("train", "test"):
        counts = np.bincount(sample["y_" + split], minlength=10)
        if counts.min() < 0.5 * counts.mean():
            raise SystemExit(f"{split} sample is unbalanced: {counts.tolist()}")
        print(f"{split}: {len(sample['y_' + split])} digits, label counts {counts.tolist()}")
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "mnist_embedded.npz"
    write_npz(target, sample)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"wrote {target.relative_to(ROOT)}: {target.stat().st_size:,} bytes, sha256 {digest}")
    for name in ("insurance_data.csv", "homeprices_banglore.csv"):
        shutil.copyfile(args.source / "tabular" / name, OUT / name)
        print(f"copied {name}")


if __name__ == "__main__":
    main()
