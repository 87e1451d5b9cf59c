"""Mini-batch order and data augmentation, each a pure function of (seed, epoch[, step]).

Because an epoch's sample order and a step's augmentation depend on nothing but these
counters, a run resumed at (epoch, step) sees exactly the batches it would have seen without
the interruption.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fxsim.numeric.formats import check_int
from reference_nets.datasets.split import AUGMENT_STREAM, SHUFFLE_STREAM, check_key, keyed_rng


def batches(
    n: int, batch: int, *, seed: int, epoch: int, shuffle: bool = True, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """Index arrays (int64) of the mini-batches of one epoch over ``n`` samples.

    With ``shuffle`` the order is ``keyed_rng(SHUFFLE_STREAM, seed, epoch).permutation(n)``
    (PCG64 keyed by fixed-width words, so no two ``(seed, epoch)`` pairs share an order's key),
    else ``0..n-1``; it is cut into consecutive batches of ``batch`` indices, the last one shorter
    unless ``drop_last`` drops it. Every index appears at most once per epoch, and exactly once
    without ``drop_last``.
    """
    n = check_int("n", n, 0)
    batch = check_int("batch", batch, 1)
    seed = check_key("seed", seed)
    epoch = check_key("epoch", epoch)
    order = (keyed_rng(SHUFFLE_STREAM, seed, epoch).permutation(n) if shuffle
             else np.arange(n, dtype=np.int64))
    stop = n - n % batch if drop_last else n
    for start in range(0, stop, batch):
        yield order[start: start + batch]


def augment_params(
    count: int, *, seed: int, epoch: int, step: int, pad: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """The random choices :func:`augment` makes for a batch of ``count`` images.

    Returns ``offsets`` int64 ``(count, 2)``, each row ``(dy, dx)`` uniform in ``0..2*pad``, and
    ``flips`` bool ``(count,)``, each true with probability 1/2, drawn in that order from a PCG64
    generator keyed by ``(seed, epoch, step)`` (and a tag of its own, so it never repeats the
    stream of :func:`batches`).
    """
    count = check_int("count", count, 0)
    pad = check_int("pad", pad, 0)
    rng = keyed_rng(AUGMENT_STREAM, check_key("seed", seed), check_key("epoch", epoch),
                    check_key("step", step))
    offsets = rng.integers(0, 2 * pad + 1, size=(count, 2), dtype=np.int64)
    flips = rng.random(count) < 0.5
    return offsets, flips


def augment(
    x: np.ndarray, *, seed: int, epoch: int, step: int, pad: int = 4, flip: bool = True
) -> np.ndarray:
    """Random crop with zero padding, then random horizontal flip: the CIFAR ResNet recipe
    (He et al., "Deep Residual Learning for Image Recognition", 2016, section 4.2).

    ``x`` is a batch ``(N, C, H, W)``; the result is a new array of the same shape and dtype.
    With ``(dy, dx), flipped`` from :func:`augment_params` for image ``b``, ``padded`` the image
    with ``pad`` zeros on each side (zero in the units of ``x``: after
    :meth:`Dataset.normalize <reference_nets.datasets.Dataset.normalize>` that is the channel
    mean, before it black), ``out[b, c, i, j] = padded[b, c, dy + i, dx + j]``, and then, if
    ``flip`` and ``flipped``, ``out[b, :, :, j] = out[b, :, :, W - 1 - j]``. ``x`` is not
    modified.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {x.shape}")
    offsets, flips = augment_params(len(x), seed=seed, epoch=epoch, step=step, pad=pad)
    count, channels, height, width = x.shape
    padded = np.zeros((count, channels, height + 2 * pad, width + 2 * pad), dtype=x.dtype)
    padded[:, :, pad: pad + height, pad: pad + width] = x
    dx = offsets[:, 1]
    if flip:
        # Cropping the mirrored padded image at column 2*pad - dx equals mirroring the crop at
        # dx; mirroring before the crop keeps the large temporaries few (faster).
        flipped = np.flatnonzero(flips)
        padded[flipped, :, pad: pad + height, pad: pad + width] = x[flipped, :, :, ::-1]
        dx = np.where(flips, 2 * pad - dx, dx)
    windows = sliding_window_view(padded, (height, width), axis=(2, 3))
    return windows[np.arange(count), :, offsets[:, 0], dx]
