"""The numba kernel of the ``mse`` range rule (loaded on first use by :mod:`fxsim.ranges.mse`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def squared_errors_kernel(x, steps, code_min, code_max, out):  # pragma: no cover - compiled
    """``out[i] = sum_j (x[j] - clamp(rint(x[j] / s), code_min, code_max) * s)**2``,
    ``s = steps[i]``."""
    for i in range(steps.size):
        step = steps[i]
        total = 0.0
        for j in range(x.size):
            code = np.rint(x[j] / step)
            code = min(max(code, code_min), code_max)
            diff = x[j] - code * step
            total += diff * diff
        out[i] = total
