"""The numba kernel of the ``large_grad_interval`` range rule's clipped count, loaded on first use
by :mod:`fxsim.ranges.adaptive` (the cost model reads the rules without numba)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _count_beyond(flat, threshold):  # pragma: no cover - compiled
    count = 0
    for i in range(flat.size):
        v = flat[i]
        count += (v > threshold) | (v < -threshold)
    return count


def count_beyond(values: np.ndarray, threshold: float) -> int:
    """How many of the float64 ``values`` lie beyond ``threshold >= 0`` in magnitude
    (``np.count_nonzero(np.abs(values) > threshold)``; NaN is not counted), in one pass with no
    temporary."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    return int(_count_beyond(flat, np.float64(threshold)))
