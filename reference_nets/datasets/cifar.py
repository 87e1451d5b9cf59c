"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) in their "python version" pickle layout.

Each data file is a pickled dict (written by Python 2, so read with ``encoding="bytes"``): key
``b"data"`` a uint8 array ``(N, 3072)`` whose rows hold the red, green and blue 32x32 planes in
row-major order, and the labels as a list of ints: ``b"labels"`` in CIFAR-10, ``b"fine_labels"``
(100 classes, used here) and ``b"coarse_labels"`` (20 superclasses, not used) in CIFAR-100.

Unpickling can run arbitrary code, so these files are read with a restricted unpickler that
builds only containers, numbers, strings and numpy arrays (the globals of
:data:`ALLOWED_GLOBALS`); any other global is refused with a ValueError naming the file. Still,
load only files from a source you trust.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reference_nets.datasets.files import data_folder, missing_files_error

ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),  # pickles of numpy < 2
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # pickle protocol 5
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # bytes pickled by Python 3 with protocol < 3
    }
)
IMAGE_SHAPE = (3, 32, 32)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name}: only numpy arrays, dtypes and builtin "
                f"containers are allowed in a CIFAR file"
            )
        return super().find_class(module, name)


@dataclass(frozen=True)
class CifarLayout:
    """File names and keys of one CIFAR variant."""

    name: str
    subfolder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: bytes
    names_key: bytes
    classes: int

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file, self.meta_file)


CIFAR10 = CifarLayout(
    name="CIFAR-10",
    subfolder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{k}" for k in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key=b"labels",
    names_key=b"label_names",
    classes=10,
)
CIFAR100 = CifarLayout(
    name="CIFAR-100",
    subfolder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key=b"fine_labels",
    names_key=b"fine_label_names",
    classes=100,
)


def load_pickle(path: Path) -> dict:
    """The dict pickled in ``path``, through :class:`RestrictedUnpickler`.

    ValueError naming the file when it is not a complete pickle of a dict or needs a global
    outside :data:`ALLOWED_GLOBALS`.
    """
    try:
        with io.BytesIO(path.read_bytes()) as stream:
            obj = RestrictedUnpickler(stream, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(path)!r}: not a readable CIFAR python pickle ({exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{str(path)!r}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _entry(record: dict, key: bytes, path: Path) -> Any:
    """``record[key]``, also under the str key of a file re-pickled by Python 3."""
    for candidate in (key, key.decode()):
        if candidate in record:
            return record[candidate]
    keys = ", ".join(repr(k) for k in record)
    raise ValueError(f"{str(path)!r}: no {key!r} entry (keys: {keys})")


def _read_batch(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    record = load_pickle(path)
    data = _entry(record, b"data", path)
    pixels = int(np.prod(IMAGE_SHAPE))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == pixels):
        described = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                     else type(data).__name__)
        raise ValueError(f"{str(path)!r}: b'data' must be a uint8 array (N, {pixels}), "
                         f"got {described}")
    try:
        labels = np.asarray(_entry(record, layout.label_key, path), dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{str(path)!r}: {layout.label_key!r} is not a list of ints") from exc
    if labels.shape != (len(data),):
        raise ValueError(f"{str(path)!r}: {len(data)} images but {layout.label_key!r} has "
                         f"shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= layout.classes):
        raise ValueError(f"{str(path)!r}: labels must lie in 0..{layout.classes - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    return data.reshape(len(data), *IMAGE_SHAPE), labels


def _read_class_names(path: Path, layout: CifarLayout) -> tuple[str, ...]:
    names = _entry(load_pickle(path), layout.names_key, path)
    if not isinstance(names, Sequence) or len(names) != layout.classes:
        raise ValueError(f"{str(path)!r}: {layout.names_key!r} must list {layout.classes} "
                         f"class names")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _cifar_folder(root: Path, layout: CifarLayout) -> Path:
    """``root`` itself, or its standard subfolder when only that holds the files."""
    nested = root / layout.subfolder
    if not (root / layout.test_file).is_file() and nested.is_dir():
        return nested
    return root


def read_cifar_folder(
    data_dir: str | os.PathLike | None, layout: CifarLayout
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """The official split of ``layout`` (:data:`CIFAR10` or :data:`CIFAR100`) from a folder.

    ``data_dir`` is the unpacked folder (``cifar-10-batches-py`` or ``cifar-100-python``) or a
    folder containing it. Returns ``(train_x, train_y, test_x, test_y, class_names)``: images
    uint8 ``(N, 3, 32, 32)`` (channels red, green, blue; 0..255), labels int64.

    FileNotFoundError names the folder and the files it lacks; ValueError names a file that is
    not a readable pickle of the expected content.
    """
    expected = (f"{layout.subfolder}/ or its files", *layout.files)
    root = data_folder(data_dir, layout.name.lower().replace("-", ""), expected)
    folder = _cifar_folder(root, layout)
    missing = [name for name in layout.files if not (folder / name).is_file()]
    if missing:
        nested = layout.subfolder if folder == root else None
        raise missing_files_error(folder, layout.name, layout.files, missing, nested)
    parts = [_read_batch(folder / name, layout) for name in layout.train_files]
    train_x = np.concatenate([x for x, _ in parts])
    train_y = np.concatenate([y for _, y in parts])
    test_x, test_y = _read_batch(folder / layout.test_file, layout)
    class_names = _read_class_names(folder / layout.meta_file, layout)
    return train_x, train_y, test_x, test_y, class_names
