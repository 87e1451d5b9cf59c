"""Numba kernels of the batch-norm float island (:mod:`fxsim.layers.norm`).

Inputs are NCHW arrays of codes (int8, int16, int32, int64) or float64 values, each with the real
value of one code (``lsb``; 1.0 for floats): the kernels read ``value = code * lsb`` on the fly,
so no float copy of a tensor is made. Per-channel reductions run in one thread per channel over
a fixed order (n, then h*w), so float results do not depend on the thread count. The kernels
are serial and ``nogil``, spread over threads by :func:`fxsim.numeric.threads.run_parallel` in
(start, stop) job ranges: channels for reductions, (n, c) planes for element-wise kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from fxsim.numeric.formats import FxArray
from fxsim.numeric.threads import run_parallel

KERNEL_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.float64)


def operand(x) -> tuple[np.ndarray, float]:
    """``(array, lsb)`` of codes or floats in one of :data:`KERNEL_DTYPES`, C-contiguous."""
    if isinstance(x, FxArray):
        raw, lsb = x.raw, x.lsb
        if raw.dtype not in KERNEL_DTYPES:
            raw = raw.astype(np.int64)
        return np.ascontiguousarray(raw), float(lsb)
    return np.ascontiguousarray(x, dtype=np.float64), 1.0


@numba.njit(cache=True, nogil=True)
def _channel_sums(x, lsb, ref, s1, s2, start, stop):  # pragma: no cover - compiled
    n, _, h, w = x.shape
    for ch in range(start, stop):
        k = np.float64(x[0, ch, 0, 0]) * lsb
        a1 = 0.0
        a2 = 0.0
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    d = np.float64(x[b, ch, i, j]) * lsb - k
                    a1 += d
                    a2 += d * d
        ref[ch] = k
        s1[ch] = a1
        s2[ch] = a2


def channel_sums(x: np.ndarray, lsb: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel of ``x * lsb`` (N, C, H, W): a reference value ``k`` (the channel's first
    element) and the float64 sums of ``v - k`` and ``(v - k)**2`` (the shifted-data algorithm:
    no cancellation when the mean is large against the spread)."""
    c = x.shape[1]
    ref, s1, s2 = np.zeros(c), np.zeros(c), np.zeros(c)
    run_parallel(_channel_sums, c, x, lsb, ref, s1, s2, work=x.size)
    return ref, s1, s2


@numba.njit(cache=True, nogil=True)
def _affine(x, scale, shift, relu, out, start, stop):  # pragma: no cover - compiled
    _, c, h, w = x.shape
    for job in range(start, stop):
        b = job // c
        ch = job % c
        a = scale[ch]
        s = shift[ch]
        for i in range(h):
            for j in range(w):
                y = a * np.float64(x[b, ch, i, j]) + s
                out[b, ch, i, j] = max(y, 0.0) if relu else y


def affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, relu: bool) -> np.ndarray:
    """``scale[c] * x + shift[c]`` (float64; ``scale`` already includes ``x``'s lsb), then
    ``max(., 0)`` if ``relu``."""
    out = np.empty(x.shape, dtype=np.float64)
    run_parallel(_affine, x.shape[0] * x.shape[1], x, scale, shift, relu, out, work=x.size)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _load(x, g, g_lsb, scale, shift, relu, b, ch, i, j):  # pragma: no cover - compiled
    """The code ``v`` at (b, ch, i, j) and the gradient value there, zero where the fused
    ReLU's output ``scale * v + shift`` is not positive."""
    v = np.float64(x[b, ch, i, j])
    gv = np.float64(g[b, ch, i, j]) * g_lsb
    if relu and scale[ch] * v + shift[ch] <= 0.0:
        gv = 0.0
    return v, gv


@numba.njit(cache=True, nogil=True)
def _backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, dbeta, dgamma,
                   start, stop):  # pragma: no cover - compiled
    n, _, h, w = x.shape
    for ch in range(start, stop):
        sb = 0.0
        sg = 0.0
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    v, gv = _load(x, g, g_lsb, scale, shift, relu, b, ch, i, j)
                    sb += gv
                    sg += gv * ((v * x_lsb - mean[ch]) * inv_std[ch])
        dbeta[ch] = sb
        dgamma[ch] = sg


def backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu):
    """Per channel: ``dbeta = sum(g')`` and ``dgamma = sum(g' * xhat)`` with
    ``xhat = (x * x_lsb - mean) * inv_std`` and ``g' = g * g_lsb`` masked where the fused ReLU's
    output ``scale * x + shift`` is not positive."""
    c = x.shape[1]
    dbeta, dgamma = np.zeros(c), np.zeros(c)
    run_parallel(_backward_sums, c, x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu,
                 dbeta, dgamma, work=x.size)
    return dbeta, dgamma


@numba.njit(cache=True, nogil=True)
def _backward_input(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, k, count, dbeta,
                    dgamma, out, start, stop):  # pragma: no cover - compiled
    _, c, h, w = x.shape
    for job in range(start, stop):
        b = job // c
        ch = job % c
        for i in range(h):
            for j in range(w):
                v, gv = _load(x, g, g_lsb, scale, shift, relu, b, ch, i, j)
                xhat = (v * x_lsb - mean[ch]) * inv_std[ch]
                out[b, ch, i, j] = k[ch] * (count * gv - dbeta[ch] - xhat * dgamma[ch])


def backward_input(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, k, count, dbeta,
                   dgamma) -> np.ndarray:
    """``k[c] * (count * g' - dbeta[c] - xhat * dgamma[c])`` (the batch-norm input gradient,
    float64; ``g'`` and ``xhat`` as in :func:`backward_sums`)."""
    out = np.empty(x.shape, dtype=np.float64)
    run_parallel(_backward_input, x.shape[0] * x.shape[1], x, x_lsb, g, g_lsb, mean, inv_std,
                 scale, shift, relu, k, float(count), dbeta, dgamma, out, work=x.size)
    return out
