"""Numba kernels of the batch-norm float island (:mod:`fxsim.layers.norm`).

Inputs are NCHW arrays of codes (int8, int16 or int64) or float64 values, read as
``value = code * lsb``. Per-channel reductions run in one thread per channel over a fixed order
(n, then h*w), so float results do not depend on the thread count; integer sums are exact.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(cache=True, parallel=True)
def channel_sums(x):  # pragma: no cover - compiled
    """Per channel of ``x`` (N, C, H, W): a reference value ``k`` (the channel's first element)
    and the float64 sums of ``x - k`` and ``(x - k)**2`` (the shifted-data algorithm: no
    cancellation when the mean is large against the spread; exact for integer codes while the
    sums stay below 2**53)."""
    n, c, h, w = x.shape
    ref = np.zeros(c, dtype=np.float64)
    s1 = np.zeros(c, dtype=np.float64)
    s2 = np.zeros(c, dtype=np.float64)
    for ch in prange(c):
        k = np.float64(x[0, ch, 0, 0])
        a1 = 0.0
        a2 = 0.0
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    d = np.float64(x[b, ch, i, j]) - k
                    a1 += d
                    a2 += d * d
        ref[ch] = k
        s1[ch] = a1
        s2[ch] = a2
    return ref, s1, s2


@numba.njit(cache=True, parallel=True)
def affine(x, scale, shift, relu, out):  # pragma: no cover - compiled
    """``out = scale[c] * x + shift[c]`` (float64), then ``max(out, 0)`` if ``relu``."""
    n, c, h, w = x.shape
    for job in prange(n * c):
        b = job // c
        ch = job % c
        a = scale[ch]
        s = shift[ch]
        for i in range(h):
            for j in range(w):
                y = a * np.float64(x[b, ch, i, j]) + s
                out[b, ch, i, j] = max(y, 0.0) if relu else y


@numba.njit(cache=True, parallel=True)
def backward_sums(x, g, lsb, mean, inv_std, scale, shift, relu):  # pragma: no cover - compiled
    """Per channel: ``dbeta = sum(g')`` and ``dgamma = sum(g' * xhat)`` with
    ``xhat = (x * lsb - mean) * inv_std`` and ``g' = g`` masked where the fused ReLU's output
    ``scale * x + shift`` is not positive."""
    n, c, h, w = x.shape
    dbeta = np.zeros(c, dtype=np.float64)
    dgamma = np.zeros(c, dtype=np.float64)
    for ch in prange(c):
        sb = 0.0
        sg = 0.0
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    v = np.float64(x[b, ch, i, j])
                    gv = g[b, ch, i, j]
                    if relu and scale[ch] * v + shift[ch] <= 0.0:
                        gv = 0.0
                    sb += gv
                    sg += gv * ((v * lsb - mean[ch]) * inv_std[ch])
        dbeta[ch] = sb
        dgamma[ch] = sg
    return dbeta, dgamma


@numba.njit(cache=True, parallel=True)
def backward_input(x, g, lsb, mean, inv_std, scale, shift, relu, k, count, dbeta, dgamma,
                   out):  # pragma: no cover - compiled
    """``out = k[c] * (count * g' - dbeta[c] - xhat * dgamma[c])`` (the batch-norm input
    gradient; ``g'`` and ``xhat`` as in :func:`backward_sums`)."""
    n, c, h, w = x.shape
    for job in prange(n * c):
        b = job // c
        ch = job % c
        for i in range(h):
            for j in range(w):
                v = np.float64(x[b, ch, i, j])
                gv = g[b, ch, i, j]
                if relu and scale[ch] * v + shift[ch] <= 0.0:
                    gv = 0.0
                xhat = (v * lsb - mean[ch]) * inv_std[ch]
                out[b, ch, i, j] = k[ch] * (count * gv - dbeta[ch] - xhat * dgamma[ch])
