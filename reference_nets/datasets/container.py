"""The :class:`Dataset` a reference net trains on: float32 images and int64 labels."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# Samples per chunk when statistics or conversions walk a large array (bounds temporaries).
CHUNK = 1024


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test pair of image sets.

    ``train_x``/``test_x`` are float32 ``(N, C, H, W)``; as loaded, pixel values are scaled to
    [0, 1] (a stored level ``k`` of ``0..L`` becomes ``float32(k) / float32(L)``, correctly
    rounded). ``train_y``/``test_y`` are int64 labels in ``0..num_classes-1``, and
    ``class_names[k]`` names label ``k``. Construction checks dtypes, shapes and label range.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"{part}_x"), getattr(self, f"{part}_y")
            if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 4):
                raise ValueError(f"{part}_x must be a float32 array (N, C, H, W), got "
                                 f"{getattr(x, 'dtype', type(x).__name__)} {np.shape(x)}")
            if not (isinstance(y, np.ndarray) and y.dtype == np.int64 and y.shape == x.shape[:1]):
                raise ValueError(f"{part}_y must be an int64 array ({len(x)},), got "
                                 f"{getattr(y, 'dtype', type(y).__name__)} {np.shape(y)}")
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise ValueError(f"{part}_y must lie in 0..{len(self.class_names) - 1} "
                                 f"({len(self.class_names)} class names), got "
                                 f"{y.min()}..{y.max()}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"train images {self.train_x.shape[1:]} and test images "
                             f"{self.test_x.shape[1:]} differ in shape")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        channels, height, width = self.train_x.shape[1:]
        return channels, height, width

    def channel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and standard deviation (population, ddof 0) of ``train_x``.

        float64 arrays ``(C,)``, accumulated in float64 over all train pixels of a channel.
        """
        x = self.train_x
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count == 0:
            raise ValueError("channel statistics need at least one train image")
        total = np.zeros(x.shape[1])
        for start in range(0, len(x), CHUNK):
            total += x[start: start + CHUNK].sum(axis=(0, 2, 3), dtype=np.float64)
        mean = total / count
        squares = np.zeros(x.shape[1])
        for start in range(0, len(x), CHUNK):
            deviation = x[start: start + CHUNK] - mean[None, :, None, None]
            squares += np.einsum("nchw,nchw->c", deviation, deviation)
        return mean, np.sqrt(squares / count)

    def normalize(self) -> Dataset:
        """A new Dataset with every channel standardised by the TRAIN set's statistics.

        With ``mean, std = channel_stats()`` rounded to float32 (a channel whose std is 0 uses
        1), both train and test become ``(x - mean) / std`` computed in float32. The test set
        never contributes to the statistics.
        """
        mean, std = self.channel_stats()
        mean32 = mean.astype(np.float32)[None, :, None, None]
        std32 = np.where(std > 0, std, 1.0).astype(np.float32)[None, :, None, None]
        return dataclasses.replace(
            self,
            train_x=_standardised(self.train_x, mean32, std32),
            test_x=_standardised(self.test_x, mean32, std32),
        )


def _standardised(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """float32 ``(x - mean) / std``, chunk by chunk into one new array (no full temporaries)."""
    out = np.empty_like(x)
    for start in range(0, len(x), CHUNK):
        part = out[start: start + CHUNK]
        np.subtract(x[start: start + CHUNK], mean, out=part)
        part /= std
    return out
