"""Read the small tutorial CSV tables shipped in ``data/`` with the stdlib ``csv`` module."""
import csv
import pathlib

import numpy as np

from ._download import DatasetFileError

DATA = pathlib.Path(__file__).parent / "data"


def read_table(name, columns, n_rows):
    """Rows of ``data/<name>`` as a float32 array (n_rows, len(columns)), after checking header and size."""
    path = DATA / name
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != tuple(columns):
        raise DatasetFileError(f"{path}: expected header {','.join(columns)}, got {rows[:1]}")
    body = rows[1:]
    if len(body) != n_rows or any(len(r) != len(columns) for r in body):
        raise DatasetFileError(f"{path}: expected {n_rows} rows of {len(columns)} values")
    try:
        return np.array([[float(v) for v in r] for r in body], dtype=np.float32)
    except ValueError as exc:
        raise DatasetFileError(f"{path}: non-numeric value ({exc})") from exc
