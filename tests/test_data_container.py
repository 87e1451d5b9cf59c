"""Dataset: construction checks and per-channel standardisation by the train statistics."""

from __future__ import annotations

import numpy as np
import pytest

from reference_nets.datasets import Dataset


def make(train_x, test_x=None, classes=3, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    test_x = train_x[:2] if test_x is None else test_x
    return Dataset(
        name="t",
        train_x=train_x,
        train_y=rng.integers(0, classes, len(train_x)),
        test_x=test_x,
        test_y=rng.integers(0, classes, len(test_x)),
        class_names=tuple(str(k) for k in range(classes)),
    )


def test_properties():
    data = make(np.zeros((4, 3, 5, 6), np.float32), classes=7)
    assert data.input_shape == (3, 5, 6) and data.num_classes == 7


def test_normalize_uses_train_statistics_only():
    rng = np.random.default_rng(1)
    train_x = (rng.random((50, 3, 4, 4)) * [[[0.2]], [[1.0]], [[3.0]]] + 0.5).astype(np.float32)
    test_x = rng.random((9, 3, 4, 4)).astype(np.float32)
    data = make(train_x, test_x)
    normal = data.normalize()
    assert normal is not data and normal.train_x.dtype == np.float32
    assert normal.test_x.dtype == np.float32 and normal.class_names == data.class_names
    np.testing.assert_array_equal(normal.train_y, data.train_y)
    as64 = train_x.astype(np.float64)
    mean = as64.mean(axis=(0, 2, 3))
    std = as64.std(axis=(0, 2, 3))
    got_mean, got_std = data.channel_stats()
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got_std, std, rtol=1e-12)
    expected_test = (test_x - mean.astype(np.float32)[:, None, None]) / std.astype(
        np.float32)[:, None, None]
    np.testing.assert_array_equal(normal.test_x, expected_test)
    np.testing.assert_allclose(normal.train_x.astype(np.float64).mean(axis=(0, 2, 3)), 0,
                               atol=1e-6)
    np.testing.assert_allclose(normal.train_x.astype(np.float64).std(axis=(0, 2, 3)), 1,
                               rtol=1e-5)
    np.testing.assert_array_equal(data.train_x, train_x)


def test_normalize_constant_channel_is_only_centred():
    train_x = np.full((6, 2, 3, 3), 0.25, np.float32)
    train_x[:, 1] = np.arange(6, dtype=np.float32)[:, None, None]
    normal = make(train_x).normalize()
    assert np.all(normal.train_x[:, 0] == 0) and np.all(np.isfinite(normal.train_x))


def test_channel_stats_chunks_agree_with_one_pass(monkeypatch):
    import reference_nets.datasets.container as container

    train_x = np.random.default_rng(2).random((37, 2, 3, 3)).astype(np.float32)
    whole = make(train_x).channel_stats()
    monkeypatch.setattr(container, "CHUNK", 5)
    chunked = make(train_x).channel_stats()
    np.testing.assert_allclose(chunked, whole, rtol=1e-13)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train_x": np.zeros((4, 3, 5, 5))}, r"train_x must be a float32 array \(N, C, H, W\), "
                                               "got float64"),
        ({"test_x": np.zeros((2, 5, 5), np.float32)}, "test_x must be a float32 array"),
        ({"train_y": np.zeros(4, np.int32)}, r"train_y must be an int64 array \(4,\), got int32"),
        ({"train_y": np.zeros(3, np.int64)}, r"train_y must be an int64 array \(4,\)"),
        ({"test_y": np.array([0, 3])}, r"test_y must lie in 0\.\.2 \(3 class names\), got 0\.\.3"),
        ({"test_x": np.zeros((2, 3, 4, 5), np.float32)}, "differ in shape"),
    ],
)
def test_construction_checks(change, message):
    base = make(np.zeros((4, 3, 5, 5), np.float32))
    fields = {name: getattr(base, name) for name in
              ("name", "train_x", "train_y", "test_x", "test_y", "class_names")}
    with pytest.raises(ValueError, match=message):
        Dataset(**{**fields, **change})
