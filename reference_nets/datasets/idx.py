"""MNIST in its original IDX files (LeCun, Cortes and Burges), optionally gzip-compressed.

An IDX file is a 4-byte magic number ``0x0000TTNN`` (``TT = 0x08``: unsigned bytes, ``NN``: the
number of dimensions), then ``NN`` big-endian uint32 sizes, then the values in C order. Images
are ``idx3`` (count, rows, columns), labels ``idx1`` (count).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from reference_nets.datasets.files import (
    data_folder,
    first_existing,
    missing_files_error,
    read_maybe_gzip,
)

UBYTE = 0x08
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_CLASSES = 10
# Where torchvision's datasets.MNIST(root) keeps the same files, relative to root.
TORCHVISION_SUBFOLDER = Path("MNIST", "raw")


def parse_idx_ubyte(data: bytes, ndim: int, source: str) -> np.ndarray:
    """The uint8 array stored in IDX bytes ``data`` with ``ndim`` dimensions.

    ValueError, naming ``source``, when the magic number is not ``0x000008{ndim:02x}`` or the
    length is not exactly header plus ``prod(sizes)`` bytes.
    """
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated: expected at least {header} header bytes, "
                         f"got {len(data)}")
    magic = int.from_bytes(data[:4], "big")
    expected_magic = (UBYTE << 8) | ndim
    if magic != expected_magic:
        raise ValueError(f"{source}: not an IDX file of {ndim}-d unsigned bytes: magic number "
                         f"0x{magic:08x}, expected 0x{expected_magic:08x}")
    sizes = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    expected_len = header + math.prod(sizes)
    if len(data) != expected_len:
        fault = "truncated" if len(data) < expected_len else "trailing data"
        raise ValueError(f"{source}: {fault}: expected {expected_len} bytes for sizes {sizes}, "
                         f"got {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(sizes)


def read_idx_ubyte(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """The uint8 array of the IDX file at ``path`` (gzip-compressed if its name ends in .gz)."""
    path = Path(path)
    source = repr(str(path)) + (" (decompressed)" if path.suffix == ".gz" else "")
    return parse_idx_ubyte(read_maybe_gzip(path), ndim, source)


def _mnist_folder(root: Path) -> Path:
    """``root`` itself, or ``root/MNIST/raw`` when only that holds MNIST files."""
    nested = root / TORCHVISION_SUBFOLDER
    if not _holds_any(root) and _holds_any(nested):
        return nested
    return root


def _holds_any(folder: Path) -> bool:
    return any(first_existing(folder, (name, name + ".gz")) for name in MNIST_FILES)


def _images_and_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx_ubyte(images_path, 3)
    labels = read_idx_ubyte(labels_path, 1)
    if len(images) != len(labels):
        raise ValueError(f"{str(images_path)!r} holds {len(images)} images but "
                         f"{str(labels_path)!r} holds {len(labels)} labels")
    if labels.size and labels.max() >= MNIST_CLASSES:
        raise ValueError(f"{str(labels_path)!r}: label {labels.max()} outside 0..9")
    return images[:, None, :, :], labels.astype(np.int64)


def read_mnist_folder(
    data_dir: str | os.PathLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST's official split from a folder: ``(train_x, train_y, test_x, test_y)``.

    ``data_dir`` holds the four files of :data:`MNIST_FILES`, each optionally gzip-compressed
    (``.gz`` appended), or is a torchvision root holding them in ``MNIST/raw``. Images are uint8
    ``(N, 1, rows, cols)`` pixel values 0..255 (0 is background), labels int64 0..9. The same
    files of Fashion-MNIST load as well (their class names are then not digits).

    FileNotFoundError names the folder and the files it lacks; ValueError names a file whose
    magic number, sizes or length are wrong, or train and test images of different sizes.
    """
    expected = [f"{name}[.gz]" for name in MNIST_FILES]
    root = data_folder(data_dir, "mnist", expected)
    folder = _mnist_folder(root)
    paths = [first_existing(folder, (name, name + ".gz")) for name in MNIST_FILES]
    missing = [name for name, path in zip(expected, paths, strict=True) if path is None]
    if missing:
        nested = TORCHVISION_SUBFOLDER.as_posix() if folder == root else None
        raise missing_files_error(folder, "MNIST", expected, missing, nested)
    train_x, train_y = _images_and_labels(paths[0], paths[1])
    test_x, test_y = _images_and_labels(paths[2], paths[3])
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ValueError(f"MNIST in {str(folder)!r}: train images are {train_x.shape[2:]} but "
                         f"test images {test_x.shape[2:]}")
    return train_x, train_y, test_x, test_y
