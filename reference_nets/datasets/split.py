"""Seeded random streams and the stratified train/test split.

Every random choice of the data pipeline comes from numpy's PCG64 through
``np.random.default_rng`` seeded with a key that is a pure function of its arguments, so the
same arguments give the same numbers on every machine and in every process.
"""

from __future__ import annotations

import numpy as np

WORD = 1 << 32
MAX_KEY = 1 << 64

# Purpose tags: the first word of a key, so streams of different purposes never share a key.
SPLIT_STREAM = 0x5E1EC7
SYNTHETIC_STREAM = 0x5A7DA7A
AUGMENT_STREAM = 0xA06
SHUFFLE_STREAM = 0x5F1E


def check_key(name: str, value: object) -> int:
    """``value`` as an int in ``0 <= value < 2**64``, or ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int in 0..2**64-1, got {value!r}")
    if not 0 <= int(value) < MAX_KEY:
        raise ValueError(f"{name} must lie in 0..2**64-1, got {value}")
    return int(value)


def keyed_rng(stream: int, *counters: int) -> np.random.Generator:
    """A PCG64 generator keyed by ``stream`` and ``counters`` (each in 0..2**64-1).

    The key is the uint32 words ``[stream, lo(c0), hi(c0), lo(c1), hi(c1), ...]``: every counter
    takes exactly two words, so distinct argument tuples of one stream give distinct keys.
    """
    words = [stream]
    for counter in counters:
        words += [counter % WORD, counter // WORD]
    return np.random.default_rng(np.array(words, dtype=np.uint32))


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(train, test)`` splitting ``labels`` with every class in proportion.

    The test set takes ``round(test_fraction * N)`` samples (Python's round, ties to even; at
    least one and at most N-1),
    shared among the classes in proportion to their counts by largest remainder (ties to the
    lower class). Which samples of a class go to test, and the order of each returned array, are
    random draws from ``rng``: the same labels, fraction and generator state give the same split.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if total < 2:
        raise ValueError(f"a train/test split needs at least 2 samples, got {total}")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    test_total = min(max(round(test_fraction * total), 1), total - 1)
    quota = counts * (test_total / total)
    per_class = np.floor(quota).astype(np.int64)
    by_remainder = np.argsort(-(quota - per_class), kind="stable")
    per_class[by_remainder[: test_total - per_class.sum()]] += 1
    train_parts, test_parts = [], []
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == k))
        test_parts.append(members[: per_class[k]])
        train_parts.append(members[per_class[k]:])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return train, test
