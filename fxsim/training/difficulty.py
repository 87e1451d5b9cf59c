"""Class difficulty measured online, for class-difficulty mixed precision (ISOCC 2022).

The paper's difficulty metric is not public; fxsim uses each class's training accuracy over the
last ``window`` steps (the predictions of the training forward passes, counted per class) and
calls a class *easy* when that accuracy is at or above ``threshold``. The split is recomputed at
the start of every epoch; before any step has been seen (the first epoch) every class is hard,
so training starts in the high-bit formats. Samples of easy classes then run with the easy
group's (low-bit) activation and gradient formats, hard ones with the default formats.
"""

from __future__ import annotations

import numpy as np


class ClassDifficulty:
    """Per-class correct/seen counts of the last ``window`` training steps (a ring buffer)."""

    def __init__(self, num_classes: int, threshold: float, window: int) -> None:
        self.num_classes = num_classes
        self.threshold = threshold
        self.window = window
        self.correct = np.zeros((window, num_classes), dtype=np.int64)
        self.seen = np.zeros((window, num_classes), dtype=np.int64)
        self.steps = 0

    def record(self, labels: np.ndarray, predictions: np.ndarray) -> None:
        """Count one training step's predictions."""
        slot = self.steps % self.window
        self.seen[slot] = np.bincount(labels, minlength=self.num_classes)
        self.correct[slot] = np.bincount(labels[predictions == labels],
                                         minlength=self.num_classes)
        self.steps += 1

    def accuracy(self) -> np.ndarray:
        """Per-class accuracy over the window (NaN for a class not seen in it)."""
        seen = self.seen.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(seen > 0, self.correct.sum(axis=0) / np.maximum(seen, 1), np.nan)

    def easy_classes(self) -> np.ndarray:
        """Boolean per class: accuracy over the window >= threshold (unseen classes: hard)."""
        acc = self.accuracy()
        return np.nan_to_num(acc, nan=-1.0) >= self.threshold

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"correct": self.correct.copy(), "seen": self.seen.copy(),
                "steps": np.array(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        self.correct = np.array(state["correct"], dtype=np.int64)
        self.seen = np.array(state["seen"], dtype=np.int64)
        self.steps = int(state["steps"])
