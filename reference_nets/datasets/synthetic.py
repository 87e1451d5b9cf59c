"""Synthetic CIFAR-shaped data that needs no files: for benchmarks and tests.

Each of 10 classes has a random prototype that is constant on 8x8 blocks (low spatial
frequency, so a small CNN can learn it); an image of class ``k`` is
``clip(0.5 + 0.25 * prototype[k] + 0.15 * noise, 0, 1)`` with prototype values uniform in
[-1, 1] and standard-normal noise per pixel, stored as levels ``round(255 * value)``.
"""

from __future__ import annotations

import numpy as np

from reference_nets.datasets.split import SYNTHETIC_STREAM, keyed_rng

SHAPE = (3, 32, 32)
CLASSES = 10
BLOCK = 8
DEFAULT_SAMPLES = 256


def synthetic_split(
    seed: int, samples: int = DEFAULT_SAMPLES
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)`` with ``samples`` images in each part.

    Images uint8 ``(samples, 3, 32, 32)``, labels int64 uniform in 0..9; a pure function of
    ``(seed, samples)``.
    """
    rng = keyed_rng(SYNTHETIC_STREAM, seed)
    channels, height, width = SHAPE
    coarse = rng.uniform(-1.0, 1.0, size=(CLASSES, channels, height // BLOCK, width // BLOCK))
    prototypes = np.repeat(np.repeat(coarse, BLOCK, axis=2), BLOCK, axis=3)
    parts = []
    for _ in ("train", "test"):
        labels = rng.integers(0, CLASSES, size=samples, dtype=np.int64)
        noise = rng.standard_normal((samples, *SHAPE))
        values = np.clip(0.5 + 0.25 * prototypes[labels] + 0.15 * noise, 0.0, 1.0)
        parts += [np.rint(255.0 * values).astype(np.uint8), labels]
    train_x, train_y, test_x, test_y = parts
    return train_x, train_y, test_x, test_y
