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
from numba import types
from numba.extending import intrinsic

from fxsim.numeric.threads import run_parallel

EXACT_LIMIT = 1 << 53  # integers (times a power of two) float64 holds exactly
# run_parallel's work per element (its threshold counts multiply-adds): a sum over 256K
# elements or more is worth two threads
WORK_PER_ELEMENT = 8


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
    size = h * w
    diffs = np.empty((4, size))
    squares = np.empty((4, size))
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
        # per plane: the terms of four channels in vector loops, then their float sums in the
        # fixed order, four chains interleaved (past the range's end a lane repeats the last
        # channel: the same values, written twice)
        lanes = (ch, min(ch + 1, stop - 1), min(ch + 2, stop - 1), min(ch + 3, stop - 1))
        k = np.empty(4)
        low = np.empty(4, dtype=x.dtype)
        high = np.empty(4, dtype=x.dtype)
        for lane in range(4):
            k[lane] = np.float64(x[0, lanes[lane], 0, 0]) * lsb
            low[lane] = high[lane] = x[0, lanes[lane], 0, 0]
        p0, p1, p2, p3 = 0.0, 0.0, 0.0, 0.0
        q0, q1, q2, q3 = 0.0, 0.0, 0.0, 0.0
        for b in range(n):
            for lane in range(4):
                codes = x[b, lanes[lane]].reshape(-1)
                diff, square = diffs[lane], squares[lane]
                shift = k[lane]
                lo, hi = low[lane], high[lane]
                for j in range(size):
                    code = codes[j]
                    lo, hi = min(lo, code), max(hi, code)
                    d = np.float64(code) * lsb - shift
                    diff[j] = d
                    square[j] = d * d
                low[lane], high[lane] = lo, hi
            d0, d1, d2, d3 = diffs[0], diffs[1], diffs[2], diffs[3]
            e0, e1, e2, e3 = squares[0], squares[1], squares[2], squares[3]
            for j in range(size):
                p0 += d0[j]
                p1 += d1[j]
                p2 += d2[j]
                p3 += d3[j]
                q0 += e0[j]
                q1 += e1[j]
                q2 += e2[j]
                q3 += e3[j]
        for lane, (s1_, s2_) in enumerate(((p0, q0), (p1, q1), (p2, q2), (p3, q3))):
            c = lanes[lane]
            ref[c], s1[c], s2[c], lows[c], highs[c] = k[lane], s1_, s2_, low[lane], high[lane]
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
        run_parallel(_channel_sums, c, x, lsb, exact, ref, s1, s2, lows, highs,
                     work=WORK_PER_ELEMENT * x.size)
    return ref, s1, s2, lows, highs


@intrinsic
def _select(typingctx, condition, if_true, if_false):
    """``if_true if condition else if_false`` as an LLVM ``select`` (no branch to mispredict on
    a data-dependent ReLU mask; the values are those of the conditional expression)."""
    if if_true != if_false:
        return None

    def codegen(context, builder, signature, args):
        flag = context.cast(builder, args[0], signature.args[0], types.boolean)
        return builder.select(flag, args[1], args[2])
    return if_true(condition, if_true, if_false), codegen


@numba.njit(cache=True, nogil=True)
def _backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, exact, dbeta,
                   dgamma, start, stop):  # pragma: no cover - compiled
    n, _, h, w = x.shape
    size = h * w
    # per plane: the terms of four channels in vector loops, then their float sums in the
    # fixed order, four chains interleaved (past the range's end a lane repeats the last
    # channel: the same values, written twice)
    terms = np.empty((4, size))
    grads = np.empty((4, size))
    for ch in range(start, stop, 4):
        lanes = (ch, min(ch + 1, stop - 1), min(ch + 2, stop - 1), min(ch + 3, stop - 1))
        b0, b1, b2, b3 = 0.0, 0.0, 0.0, 0.0
        e0, e1, e2, e3 = 0.0, 0.0, 0.0, 0.0
        codes = np.zeros(4, dtype=np.int64)
        for b in range(n):
            for lane in range(4):
                c = lanes[lane]
                a, s, m, r = scale[c], shift[c], mean[c], inv_std[c]
                xs, gs = x[b, c].reshape(-1), g[b, c].reshape(-1)
                term, grad = terms[lane], grads[lane]
                total = np.int64(0)
                for j in range(size):
                    v = np.float64(xs[j])
                    off = relu and a * v + s <= 0.0
                    gv = _select(off, 0.0, np.float64(gs[j]) * g_lsb)
                    grad[j] = gv
                    term[j] = gv * ((v * x_lsb - m) * r)
                    if exact:
                        total += _select(off, np.int64(0), np.int64(gs[j]))
                codes[lane] += total
            t0, t1, t2, t3 = terms[0], terms[1], terms[2], terms[3]
            for j in range(size):
                e0 += t0[j]
                e1 += t1[j]
                e2 += t2[j]
                e3 += t3[j]
            if not exact:
                g0, g1, g2, g3 = grads[0], grads[1], grads[2], grads[3]
                for j in range(size):
                    b0 += g0[j]
                    b1 += g1[j]
                    b2 += g2[j]
                    b3 += g3[j]
        if exact:  # sum(g') on the codes: each float add of the sequential sum is exact
            b0, b1 = np.float64(codes[0]) * g_lsb, np.float64(codes[1]) * g_lsb
            b2, b3 = np.float64(codes[2]) * g_lsb, np.float64(codes[3]) * g_lsb
        dbeta[lanes[0]], dbeta[lanes[1]], dbeta[lanes[2]], dbeta[lanes[3]] = b0, b1, b2, b3
        dgamma[lanes[0]], dgamma[lanes[1]] = e0, e1
        dgamma[lanes[2]], dgamma[lanes[3]] = e2, e3


def backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu):
    """Per channel: ``dbeta = sum(g')`` and ``dgamma = sum(g' * xhat)`` with
    ``xhat = (x * x_lsb - mean) * inv_std`` and ``g' = g * g_lsb`` masked where the fused ReLU's
    output ``scale * x + shift`` is not positive."""
    c = x.shape[1]
    dbeta, dgamma = np.zeros(c), np.zeros(c)
    if x.size:
        exact = sums_are_exact(g, g_lsb, x.size // c, 1)
        run_parallel(_backward_sums, c, x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu,
                     exact, dbeta, dgamma, work=WORK_PER_ELEMENT * x.size)
    return dbeta, dgamma
