"""Writers of small data files in the real formats (MNIST IDX, CIFAR pickles, pixel CSV).

Written independently of the readers in reference_nets.datasets, from the formats' published
descriptions, so a reader that misreads a format cannot agree with its own mistake.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0x00 0x00 0x08 ndim, big-endian uint32 sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_bytes(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_mnist(
    folder: Path, rng: np.random.Generator, train: int = 12, test: int = 7, side: int = 28,
    gz: bool = False,
) -> dict[str, np.ndarray]:
    """The four MNIST files of random content in ``folder``; returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_bytes(folder / name, idx_bytes(array), gz)
    return arrays


def write_pickle(path: Path, obj: object, protocol: int, numpy1_names: bool = False) -> None:
    """``obj`` pickled; ``numpy1_names`` rewrites numpy 2's module names to numpy 1's, as in
    the published CIFAR files (protocol 2 names globals by text, so the rewrite is exact)."""
    data = pickle.dumps(obj, protocol=protocol)
    if numpy1_names:
        assert protocol <= 2
        data = data.replace(b"numpy._core.", b"numpy.core.")
    path.write_bytes(data)


def cifar_batch(rng: np.random.Generator, count: int, classes: int, fine: bool) -> dict:
    """A batch dict as the CIFAR python version holds it (bytes keys, list labels)."""
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, classes, count)]
    if fine:
        coarse = [int(v) for v in rng.integers(0, 20, count)]
        return {b"data": data, b"fine_labels": labels, b"coarse_labels": coarse,
                b"filenames": [b"x.png"] * count}
    return {b"data": data, b"labels": labels, b"batch_label": b"batch",
            b"filenames": [b"x.png"] * count}


def write_cifar10(
    folder: Path, rng: np.random.Generator, per_batch: int = 3, protocol: int = 2,
    numpy1_names: bool = False,
) -> tuple[list[dict], dict]:
    """data_batch_1..5, test_batch and batches.meta; returns (train batches, test batch)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = [cifar_batch(rng, per_batch, 10, fine=False) for _ in range(5)]
    for k, batch in enumerate(train, start=1):
        write_pickle(folder / f"data_batch_{k}", batch, protocol, numpy1_names)
    test = cifar_batch(rng, per_batch + 1, 10, fine=False)
    write_pickle(folder / "test_batch", test, protocol, numpy1_names)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    write_pickle(folder / "batches.meta", {b"label_names": names, b"num_vis": 3072}, protocol)
    return train, test


def write_cifar100(
    folder: Path, rng: np.random.Generator, train_count: int = 8, protocol: int = 2
) -> tuple[dict, dict]:
    """train, test and meta of CIFAR-100; returns (train, test)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = cifar_batch(rng, train_count, 100, fine=True)
    test = cifar_batch(rng, 5, 100, fine=True)
    write_pickle(folder / "train", train, protocol)
    write_pickle(folder / "test", test, protocol)
    meta = {b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
            b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)]}
    write_pickle(folder / "meta", meta, protocol)
    return train, test


def pixel_csv_text(images: np.ndarray, labels: np.ndarray) -> str:
    """Rows of flattened pixels then the label, comma-separated, no header."""
    rows = [",".join(str(int(v)) for v in (*image.ravel(), label))
            for image, label in zip(images, labels, strict=True)]
    return "\n".join(rows) + "\n"
