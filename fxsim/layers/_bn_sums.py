"""The per-channel sums of the batch-norm float island (:mod:`fxsim.layers.norm`), forward
(mean and variance) and backward (``dbeta``, ``dgamma``).

Each sum is defined as a float64 sum over the channel's elements in a fixed order (batch,
then row, then column), whatever the thread count. Two evaluations give it bit for bit:

* on integer codes with a power-of-two LSB whose terms and partial sums are integer multiples
  of the LSB (or its square) below ``2**53`` of them (:func:`sums_are_exact`), every float add of
  the sequential sum is exact, so the sum is the exact integer sum times the LSB: computed in
  int64, in any order, in vector loops;
* otherwise the float64 adds in that order, one dependency chain per channel; four channels'
  chains are interleaved so that the adds overlap (each chain keeps its own order).

Kernels are serial and ``nogil``; :func:`fxsim.numeric.threads.run_parallel` runs them over
channel ranges.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from fxsim.numeric.threads import run_parallel

EXACT_LIMIT = 1 << 53  # integers (times a power of two) float64 holds exactly


def sums_are_exact(codes: np.ndarray, lsb: float, count: int, power: int) -> bool:
    """Whether float64 sums of ``count`` terms ``(code - c0) * lsb`` (``power=1``), their
    squares (``power=2``), or ``code * lsb`` are exact at every step: integer codes, ``lsb`` a
    power of two far from float64's range ends, and ``count * 2**(power * bits) <= 2**53``
    with ``bits`` the codes' dtype width (``|code - c0| < 2**bits``)."""
    if codes.dtype.kind not in "iu":
        return False
    mantissa, exponent = math.frexp(lsb)
    if mantissa != 0.5 or not -400 <= exponent <= 400:
        return False
    return count * 2 ** (power * 8 * codes.dtype.itemsize) <= EXACT_LIMIT


@numba.njit(cache=True, nogil=True)
def _channel_sums(x, lsb, exact, ref, s1, s2, lows, highs, start, stop):  # pragma: no cover
    n, _, h, w = x.shape
    ch = start
    while ch < stop:
        if exact:  # integer sums: each float add of the sequential sums would be exact
            first = np.int64(x[0, ch, 0, 0])
            t1, t2 = np.int64(0), np.int64(0)
            low, high = first, first
            for b in range(n):
                plane = x[b, ch].reshape(-1)
                for i in range(plane.size):
                    code = np.int64(plane[i])
                    d = code - first
                    t1 += d
                    t2 += d * d
                    low, high = min(low, code), max(high, code)
            ref[ch] = np.float64(first) * lsb
            s1[ch] = np.float64(t1) * lsb
            s2[ch] = np.float64(t2) * (lsb * lsb)
            lows[ch], highs[ch] = low, high
            ch += 1
            continue
        # four channels' chains interleaved, each in its own order (past the range's end a
        # lane repeats the last channel: the same values, written twice)
        c0, c1, c2, c3 = ch, min(ch + 1, stop - 1), min(ch + 2, stop - 1), min(ch + 3, stop - 1)
        k0, k1 = np.float64(x[0, c0, 0, 0]) * lsb, np.float64(x[0, c1, 0, 0]) * lsb
        k2, k3 = np.float64(x[0, c2, 0, 0]) * lsb, np.float64(x[0, c3, 0, 0]) * lsb
        p0, p1, p2, p3 = 0.0, 0.0, 0.0, 0.0
        q0, q1, q2, q3 = 0.0, 0.0, 0.0, 0.0
        low0, low1, low2, low3 = x[0, c0, 0, 0], x[0, c1, 0, 0], x[0, c2, 0, 0], x[0, c3, 0, 0]
        high0, high1, high2, high3 = low0, low1, low2, low3
        for b in range(n):
            for i in range(h):
                r0, r1, r2, r3 = x[b, c0, i], x[b, c1, i], x[b, c2, i], x[b, c3, i]
                for j in range(w):
                    v0, v1, v2, v3 = r0[j], r1[j], r2[j], r3[j]
                    low0, high0 = min(low0, v0), max(high0, v0)
                    low1, high1 = min(low1, v1), max(high1, v1)
                    low2, high2 = min(low2, v2), max(high2, v2)
                    low3, high3 = min(low3, v3), max(high3, v3)
                    d0 = np.float64(v0) * lsb - k0
                    d1 = np.float64(v1) * lsb - k1
                    d2 = np.float64(v2) * lsb - k2
                    d3 = np.float64(v3) * lsb - k3
                    p0 += d0
                    p1 += d1
                    p2 += d2
                    p3 += d3
                    q0 += d0 * d0
                    q1 += d1 * d1
                    q2 += d2 * d2
                    q3 += d3 * d3
        ref[c0], s1[c0], s2[c0], lows[c0], highs[c0] = k0, p0, q0, low0, high0
        ref[c1], s1[c1], s2[c1], lows[c1], highs[c1] = k1, p1, q1, low1, high1
        ref[c2], s1[c2], s2[c2], lows[c2], highs[c2] = k2, p2, q2, low2, high2
        ref[c3], s1[c3], s2[c3], lows[c3], highs[c3] = k3, p3, q3, low3, high3
        ch += 4


def channel_sums(x: np.ndarray, lsb: float) -> tuple[np.ndarray, ...]:
    """Per channel of ``x * lsb`` (N, C, H, W): a reference value ``k`` (the channel's first
    element) and the float64 sums of ``v - k`` and ``(v - k)**2`` (the shifted-data algorithm:
    no cancellation when the mean is large against the spread), then the smallest and the
    largest element of ``x`` (codes, as float64)."""
    c = x.shape[1]
    ref, s1, s2, lows, highs = (np.zeros(c) for _ in range(5))
    if x.size:
        exact = sums_are_exact(x, lsb, x.size // c, 2)
        run_parallel(_channel_sums, c, x, lsb, exact, ref, s1, s2, lows, highs, work=x.size)
    return ref, s1, s2, lows, highs


@numba.njit(cache=True, nogil=True)
def _backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, exact, dbeta,
                   dgamma, start, stop):  # pragma: no cover - compiled
    n, _, h, w = x.shape
    for ch in range(start, stop, 4):
        # four channels' chains interleaved, each in its own order (past the range's end a
        # lane repeats the last channel: the same values, written twice)
        c0, c1, c2, c3 = ch, min(ch + 1, stop - 1), min(ch + 2, stop - 1), min(ch + 3, stop - 1)
        b0, b1, b2, b3 = 0.0, 0.0, 0.0, 0.0
        e0, e1, e2, e3 = 0.0, 0.0, 0.0, 0.0
        t0, t1, t2, t3 = np.int64(0), np.int64(0), np.int64(0), np.int64(0)
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    v, gv, code = _masked(x, g, g_lsb, scale, shift, relu, b, c0, i, j)
                    t0 += code
                    b0 += gv
                    e0 += gv * ((v * x_lsb - mean[c0]) * inv_std[c0])
                    v, gv, code = _masked(x, g, g_lsb, scale, shift, relu, b, c1, i, j)
                    t1 += code
                    b1 += gv
                    e1 += gv * ((v * x_lsb - mean[c1]) * inv_std[c1])
                    v, gv, code = _masked(x, g, g_lsb, scale, shift, relu, b, c2, i, j)
                    t2 += code
                    b2 += gv
                    e2 += gv * ((v * x_lsb - mean[c2]) * inv_std[c2])
                    v, gv, code = _masked(x, g, g_lsb, scale, shift, relu, b, c3, i, j)
                    t3 += code
                    b3 += gv
                    e3 += gv * ((v * x_lsb - mean[c3]) * inv_std[c3])
        if exact:  # sum(g') on the codes: each float add of b0.. was exact
            b0, b1 = np.float64(t0) * g_lsb, np.float64(t1) * g_lsb
            b2, b3 = np.float64(t2) * g_lsb, np.float64(t3) * g_lsb
        dbeta[c0], dbeta[c1], dbeta[c2], dbeta[c3] = b0, b1, b2, b3
        dgamma[c0], dgamma[c1], dgamma[c2], dgamma[c3] = e0, e1, e2, e3


@numba.njit(cache=True, nogil=True, inline="always")
def _masked(x, g, g_lsb, scale, shift, relu, b, ch, i, j):  # pragma: no cover - compiled
    """The code ``v`` of ``x`` at (b, ch, i, j), the gradient value there and its code, both
    zero where the fused ReLU's output ``scale * v + shift`` is not positive."""
    v = np.float64(x[b, ch, i, j])
    code = np.int64(g[b, ch, i, j])
    if relu and scale[ch] * v + shift[ch] <= 0.0:
        return v, 0.0, np.int64(0)
    return v, np.float64(g[b, ch, i, j]) * g_lsb, code


def backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu):
    """Per channel: ``dbeta = sum(g')`` and ``dgamma = sum(g' * xhat)`` with
    ``xhat = (x * x_lsb - mean) * inv_std`` and ``g' = g * g_lsb`` masked where the fused ReLU's
    output ``scale * x + shift`` is not positive."""
    c = x.shape[1]
    dbeta, dgamma = np.zeros(c), np.zeros(c)
    if x.size:
        exact = sums_are_exact(g, g_lsb, x.size // c, 1)
        run_parallel(_backward_sums, c, x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu,
                     exact, dbeta, dgamma, work=x.size)
    return dbeta, dgamma
