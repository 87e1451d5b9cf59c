"""Numba matrix product on int64 codes (numpy's integer matmul uses no BLAS and is slow).

Integer arithmetic is exact and associative (modulo 2**64), so the result does not depend on
the loop order or the thread count.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, cache=True)
def matmul_int64(a, b):  # pragma: no cover - compiled
    """``a @ b`` for C-contiguous int64 matrices ``a (m, k)`` and ``b (k, n)``."""
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    for i in prange(m):
        for p in range(k):
            av = a[i, p]
            if av != 0:
                for j in range(n):
                    out[i, j] += av * b[p, j]
    return out
