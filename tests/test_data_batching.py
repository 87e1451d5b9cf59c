"""batches and augment: pure functions of their counters, exact against slow references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_nets.datasets import augment, augment_params, batches
from reference_nets.datasets.split import SHUFFLE_STREAM, keyed_rng


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), batch=st.integers(1, 70), seed=st.integers(0, 2**64 - 1),
       epoch=st.integers(0, 10**6), drop_last=st.booleans())
def test_batches_cover_a_seeded_permutation(n, batch, seed, epoch, drop_last):
    parts = list(batches(n, batch, seed=seed, epoch=epoch, drop_last=drop_last))
    order = keyed_rng(SHUFFLE_STREAM, seed, epoch).permutation(n)
    kept = n - n % batch if drop_last else n
    assert all(len(p) == batch for p in parts[:-1])
    assert sum(map(len, parts)) == kept and all(p.dtype == np.int64 for p in parts)
    joined = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    np.testing.assert_array_equal(joined, order[:kept])
    again = np.concatenate(list(batches(n, batch, seed=seed, epoch=epoch))) if n else joined
    np.testing.assert_array_equal(again[:kept], joined)


def test_large_seeds_do_not_repeat_the_order_of_small_ones():
    """Keys of varying length would make (seed s + e * 2**32, epoch 0) alias (s, e)."""
    small = np.concatenate(list(batches(200, 50, seed=7, epoch=3)))
    large = np.concatenate(list(batches(200, 50, seed=7 + 3 * 2**32, epoch=0)))
    assert not np.array_equal(small, large)


def test_batches_differ_between_epochs_and_not_shuffled_is_in_order():
    first = np.concatenate(list(batches(100, 32, seed=1, epoch=0)))
    second = np.concatenate(list(batches(100, 32, seed=1, epoch=1)))
    assert sorted(first) == sorted(second) == list(range(100))
    assert not np.array_equal(first, second)
    plain = np.concatenate(list(batches(10, 4, seed=1, epoch=0, shuffle=False)))
    np.testing.assert_array_equal(plain, np.arange(10))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be an integer >= 0, got -1"),
        ({"batch": 0}, "batch must be an integer >= 1, got 0"),
        ({"batch": 2.0}, "batch must be an int"),
        ({"seed": -3}, "seed must lie in"),
        ({"epoch": "1"}, "epoch must be an int"),
    ],
)
def test_batches_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        next(batches(**{"n": 10, "batch": 3, "seed": 0, "epoch": 0, **kwargs}))


def reference_augment(x, offsets, flips, pad, flip):
    """Per image and pixel: the crop of the zero-padded image, then the mirror."""
    count, _, height, width = x.shape
    out = np.zeros_like(x)
    for b in range(count):
        dy, dx = offsets[b]
        for i in range(height):
            for j in range(width):
                source_j = width - 1 - j if flip and flips[b] else j
                row, col = dy + i - pad, dx + source_j - pad
                if 0 <= row < height and 0 <= col < width:
                    out[b, :, i, j] = x[b, :, row, col]
    return out


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 6), channels=st.integers(1, 3), height=st.integers(1, 7),
       width=st.integers(1, 7), pad=st.integers(0, 4), flip=st.booleans(),
       step=st.integers(0, 2**64 - 1))
def test_augment_matches_reference(count, channels, height, width, pad, flip, step):
    x = np.random.default_rng(step % 97).random((count, channels, height, width))
    x = x.astype(np.float32)
    before = x.copy()
    got = augment(x, seed=3, epoch=2, step=step, pad=pad, flip=flip)
    offsets, flips = augment_params(count, seed=3, epoch=2, step=step, pad=pad)
    assert got.shape == x.shape and got.dtype == x.dtype
    np.testing.assert_array_equal(got, reference_augment(x, offsets, flips, pad, flip))
    np.testing.assert_array_equal(x, before)


def test_augment_params_ranges_and_determinism():
    offsets, flips = augment_params(4000, seed=1, epoch=0, step=5, pad=4)
    assert offsets.shape == (4000, 2) and offsets.min() == 0 and offsets.max() == 8
    assert 0.45 < flips.mean() < 0.55
    again = augment_params(4000, seed=1, epoch=0, step=5, pad=4)
    np.testing.assert_array_equal(offsets, again[0])
    for other in ({"seed": 2}, {"epoch": 1}, {"step": 6}):
        changed = augment_params(4000, **{"seed": 1, "epoch": 0, "step": 5, "pad": 4, **other})
        assert not np.array_equal(offsets, changed[0])


def test_flip_is_exact_mirror():
    x = np.random.default_rng(0).random((64, 3, 32, 32)).astype(np.float32)
    out = augment(x, seed=0, epoch=0, step=0, pad=0)
    _, flips = augment_params(64, seed=0, epoch=0, step=0, pad=0)
    assert 0 < flips.sum() < 64
    np.testing.assert_array_equal(out[flips], x[flips][..., ::-1])
    np.testing.assert_array_equal(out[~flips], x[~flips])
    np.testing.assert_array_equal(augment(x, seed=0, epoch=0, step=0, pad=0, flip=False), x)


def test_augment_cifar_batch_deterministic_and_zero_border():
    x = np.random.default_rng(1).random((128, 3, 32, 32)).astype(np.float32) + 1
    first = augment(x, seed=9, epoch=4, step=17)
    np.testing.assert_array_equal(first, augment(x, seed=9, epoch=4, step=17))
    assert not np.array_equal(first, augment(x, seed=9, epoch=4, step=18))
    offsets, _ = augment_params(128, seed=9, epoch=4, step=17)
    top = offsets[:, 0] < 4
    assert top.any() and np.all(first[top, :, 0, :] == 0)
    assert first.flags.c_contiguous


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (np.zeros((3, 32, 32), np.float32), {}, r"x must be a batch of images \(N, C, H, W\)"),
        (np.zeros((1, 3, 4, 4), np.float32), {"pad": -1}, "pad must be an integer >= 0, got -1"),
        (np.zeros((1, 3, 4, 4), np.float32), {"step": -1}, "step must lie in"),
    ],
)
def test_augment_bad_arguments(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        augment(x, **{"seed": 0, "epoch": 0, "step": 0, **kwargs})
