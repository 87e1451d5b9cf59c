"""The file readers on small files written in the real formats, and their errors."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from data_writers import (
    idx_bytes,
    pixel_csv_text,
    write_bytes,
    write_cifar10,
    write_cifar100,
    write_mnist,
    write_pickle,
)

from reference_nets.datasets import (
    CIFAR10,
    CIFAR100,
    read_cifar_folder,
    read_idx_ubyte,
    read_mnist_folder,
    read_pixel_csv,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


# --- MNIST IDX -------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(5,), (4, 3, 2), (0, 28, 28)])
def test_idx_round_trip(tmp_path, rng, gz, shape):
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    path = write_bytes(tmp_path / "x-idx-ubyte", idx_bytes(array), gz)
    got = read_idx_ubyte(path, len(shape))
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, array)


def test_idx_truncated_names_both_lengths(tmp_path, rng):
    data = idx_bytes(rng.integers(0, 256, (3, 28, 28), dtype=np.uint8))
    path = write_bytes(tmp_path / "train-images-idx3-ubyte", data[:100], gz=False)
    with pytest.raises(ValueError, match=rf"truncated: expected {16 + 3 * 784} bytes .* got 100"):
        read_idx_ubyte(path, 3)


def test_idx_trailing_data_and_short_header(tmp_path, rng):
    data = idx_bytes(rng.integers(0, 256, (2, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="trailing data"):
        read_idx_ubyte(write_bytes(tmp_path / "a", data + b"\0", gz=False), 3)
    with pytest.raises(ValueError, match="at least 16 header bytes, got 6"):
        read_idx_ubyte(write_bytes(tmp_path / "b", data[:6], gz=False), 3)


@pytest.mark.parametrize(("magic", "ndim"), [(b"\0\0\x0d\x03", 3), (b"\0\0\x08\x01", 3),
                                             (b"PK\x03\x04", 1)])
def test_idx_wrong_magic(tmp_path, magic, ndim):
    path = write_bytes(tmp_path / "f", magic + bytes(64), gz=False)
    with pytest.raises(ValueError, match=f"magic number 0x{magic.hex()}, expected "
                                         f"0x0000080{ndim}"):
        read_idx_ubyte(path, ndim)


def test_idx_corrupt_gzip(tmp_path, rng):
    data = idx_bytes(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(data)[:-40])
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx_ubyte(path, 3)
    path.write_bytes(b"\x1f\x8b" + bytes(30))
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx_ubyte(path, 3)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_folder_reads_official_split(tmp_path, rng, gz):
    written = write_mnist(tmp_path, rng, gz=gz)
    train_x, train_y, test_x, test_y = read_mnist_folder(tmp_path)
    assert train_x.shape == (12, 1, 28, 28) and test_x.shape == (7, 1, 28, 28)
    assert train_y.dtype == np.int64 and test_y.dtype == np.int64
    np.testing.assert_array_equal(train_x[:, 0], written["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(train_y, written["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test_x[:, 0], written["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(test_y, written["t10k-labels-idx1-ubyte"])


def test_mnist_folder_in_torchvision_layout(tmp_path, rng):
    written = write_mnist(tmp_path / "MNIST" / "raw", rng, gz=True)
    train_x, *_ = read_mnist_folder(str(tmp_path))
    np.testing.assert_array_equal(train_x[:, 0], written["train-images-idx3-ubyte"])


def test_mnist_missing_files_named(tmp_path, rng):
    write_mnist(tmp_path, rng)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError) as info:
        read_mnist_folder(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "train-images-idx3-ubyte[.gz]" in message
    assert "(nor in MNIST/raw below it)" in message
    assert message.endswith("missing t10k-labels-idx1-ubyte[.gz]")


def test_mnist_needs_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--data-dir.*t10k-images-idx3-ubyte"):
        read_mnist_folder(None)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        read_mnist_folder(tmp_path / "nowhere")


def test_mnist_inconsistent_files(tmp_path, rng):
    write_mnist(tmp_path, rng)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(ValueError, match=r"12 images but .* 11 labels"):
        read_mnist_folder(tmp_path)
    labels.write_bytes(idx_bytes(np.full(12, 10, np.uint8)))
    with pytest.raises(ValueError, match=r"label 10 outside 0\.\.9"):
        read_mnist_folder(tmp_path)
    write_mnist(tmp_path, rng)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((7, 20, 20), np.uint8)))
    with pytest.raises(ValueError, match="train images are"):
        read_mnist_folder(tmp_path)


# --- CIFAR pickles ----------------------------------------------------------------------------

def images_of(batch: dict) -> np.ndarray:
    """Independent decoding of the documented layout: per row 1024 red, green, blue values."""
    rows = batch[b"data"]
    out = np.empty((len(rows), 3, 32, 32), np.uint8)
    for n, row in enumerate(rows):
        for c in range(3):
            for i in range(32):
                out[n, c, i] = row[1024 * c + 32 * i: 1024 * c + 32 * i + 32]
    return out


@pytest.mark.parametrize(("protocol", "numpy1_names"), [(2, True), (2, False), (5, False)])
def test_cifar10_folder(tmp_path, rng, protocol, numpy1_names):
    train, test = write_cifar10(tmp_path / "cifar-10-batches-py", rng, protocol=protocol,
                                numpy1_names=numpy1_names)
    for data_dir in (tmp_path, tmp_path / "cifar-10-batches-py"):
        train_x, train_y, test_x, test_y, names = read_cifar_folder(data_dir, CIFAR10)
        np.testing.assert_array_equal(train_x, np.concatenate([images_of(b) for b in train]))
        np.testing.assert_array_equal(train_y, [y for b in train for y in b[b"labels"]])
        np.testing.assert_array_equal(test_x, images_of(test))
        np.testing.assert_array_equal(test_y, test[b"labels"])
        assert train_y.dtype == np.int64 and names[1] == "automobile" and len(names) == 10


def test_cifar100_uses_fine_labels(tmp_path, rng):
    train, test = write_cifar100(tmp_path / "cifar-100-python", rng)
    train_x, train_y, _, test_y, names = read_cifar_folder(tmp_path, CIFAR100)
    np.testing.assert_array_equal(train_x, images_of(train))
    np.testing.assert_array_equal(train_y, train[b"fine_labels"])
    np.testing.assert_array_equal(test_y, test[b"fine_labels"])
    assert names == tuple(f"fine{k}" for k in range(100))


def test_cifar_missing_files_named(tmp_path, rng):
    write_cifar10(tmp_path, rng)
    os.remove(tmp_path / "data_batch_3")
    os.remove(tmp_path / "batches.meta")
    with pytest.raises(FileNotFoundError, match=r"expected data_batch_1, .*test_batch, "
                                                r"batches\.meta; missing data_batch_3, batches"):
        read_cifar_folder(tmp_path, CIFAR10)
    with pytest.raises(FileNotFoundError, match=r"--data-dir.*cifar-100-python"):
        read_cifar_folder(None, CIFAR100)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"nor in cifar-100-python below it\): expected "
                                                r"train, test, meta; missing train, test, meta"):
        read_cifar_folder(empty, CIFAR100)


class Payload:
    """An object whose unpickling would create a folder: the attack the reader must refuse."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_cifar_refuses_code_in_pickles(tmp_path, rng):
    write_cifar10(tmp_path, rng)
    target = tmp_path / "created-by-pickle"
    write_pickle(tmp_path / "test_batch", {b"data": Payload(str(target)), b"labels": []}, 2)
    with pytest.raises(ValueError, match=r"test_batch.*refusing global (posix|nt)\.mkdir"):
        read_cifar_folder(tmp_path, CIFAR10)
    assert not target.exists()


def test_cifar_corrupt_files(tmp_path, rng):
    write_cifar10(tmp_path, rng)
    batch = tmp_path / "data_batch_2"
    good = batch.read_bytes()
    batch.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"data_batch_2.*not a readable CIFAR python pickle"):
        read_cifar_folder(tmp_path, CIFAR10)
    write_pickle(batch, {b"data": np.zeros((3, 3071), np.uint8), b"labels": [0, 1, 2]}, 2)
    with pytest.raises(ValueError, match=r"uint8 array \(N, 3072\), got uint8 array of shape"):
        read_cifar_folder(tmp_path, CIFAR10)
    write_pickle(batch, {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}, 2)
    with pytest.raises(ValueError, match="3 images but b'labels' has shape"):
        read_cifar_folder(tmp_path, CIFAR10)
    write_pickle(batch, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, 2)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9, got 0\.\.10"):
        read_cifar_folder(tmp_path, CIFAR10)
    write_pickle(batch, [1, 2], 2)
    with pytest.raises(ValueError, match="expected a pickled dict, got list"):
        read_cifar_folder(tmp_path, CIFAR10)
    write_pickle(batch, {b"pixels": 1}, 2)
    with pytest.raises(ValueError, match=r"no b'data' entry \(keys: b'pixels'\)"):
        read_cifar_folder(tmp_path, CIFAR10)


def test_cifar_accepts_str_keys_of_repickled_files(tmp_path, rng):
    train, _ = write_cifar10(tmp_path, rng)
    batch = {key.decode(): value for key, value in train[0].items()}
    write_pickle(tmp_path / "data_batch_1", batch, pickle.HIGHEST_PROTOCOL)
    train_x, *_ = read_cifar_folder(tmp_path, CIFAR10)
    np.testing.assert_array_equal(train_x[:3], images_of(train[0]))


# --- pixel CSV (digits, mnist5k) --------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_pixel_csv_round_trip(tmp_path, rng, gz):
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 6)
    path = write_bytes(tmp_path / "mnist_5k.csv", pixel_csv_text(images, labels).encode(), gz)
    got_x, got_y = read_pixel_csv(path, side=28, max_level=255, classes=10)
    assert got_x.dtype == np.uint8 and got_y.dtype == np.int64
    np.testing.assert_array_equal(got_x[:, 0], images)
    np.testing.assert_array_equal(got_y, labels)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3,4\n", r"rows of 5 values \(2x2 pixels and a label\), got .* \(1, 4\)"),
        ("1,2,3,4,1\n1,2,3\n", "not a CSV table of numbers"),
        ("1,2,3,4.5,1\n", "values must be integers"),
        ("1,2,3,17,1\n", r"pixel values must lie in 0\.\.16, got 1\.\.17"),
        ("1,2,3,4,10\n", r"labels must lie in 0\.\.9, got 10\.\.10"),
        ("1,2,x,4,1\n", "not a CSV table of numbers"),
    ],
)
def test_pixel_csv_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_pixel_csv(path, side=2, max_level=16, classes=10)
