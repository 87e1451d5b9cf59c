"""Numba kernels behind :func:`fxsim.quantize` and :func:`fxsim.requantize`.

Both reduce to one exact integer operation: the value ``m * 2**t`` (``m`` an int64, ``t`` any
integer) rounded to an integer by the mode, then fitted into the format by the overflow mode.
A float64 ``x`` is first split exactly into ``m * 2**e`` (``|m| < 2**53``) from its bit pattern,
so quantize never rounds in float; requantize starts from the code itself. The mode is a
runtime argument of one kernel family, not a copy per mode.

Mode ids are those of :data:`fxsim.rounding.ROUNDING_IDS`; overflow ids those of
:data:`fxsim.rounding.OVERFLOW_IDS`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from fxsim.rng import random_top_bits

_EXP_MASK = 0x7FF
_MANT_MASK = (1 << 52) - 1
_HIDDEN = 1 << 52


@numba.njit(cache=True)
def round_shift(m, s, mode, kbits, r):  # pragma: no cover - compiled
    """``m / 2**s`` (``s >= 1``, ``|m| < 2**62``) rounded to an integer by ``mode``.

    ``q = floor(m / 2**s)``; ``half`` is the first dropped bit, ``sticky`` whether any later
    dropped bit is set; stochastic modes compare the top ``kbits`` dropped bits plus the random
    integer ``r`` against ``2**kbits``. Shift amounts are clamped at 63, which is exact because
    ``|m| < 2**62``.
    """
    q = m >> min(s, 63)
    half = (m >> min(s - 1, 63)) - (q << 1)
    sticky_mask = (np.int64(1) << min(s - 1, 63)) - 1
    sticky = 1 if (m & sticky_mask) != 0 else 0
    if mode == 0:  # nearest_even
        inc = half & (sticky | (q & 1))
    elif mode == 1:  # nearest_away
        inc = half & (sticky | (1 if q >= 0 else 0))
    elif mode == 2:  # nearest_up
        inc = half
    elif mode == 3:  # toward_zero
        inc = (half | sticky) & (1 if q < 0 else 0)
    elif mode == 4:  # floor
        inc = 0
    elif mode == 5:  # ceil
        inc = half | sticky
    else:  # stochastic, stochastic_k
        if s >= kbits:
            top = (m >> min(s - kbits, 63)) - (q << kbits)
        else:
            top = (m - (q << s)) << (kbits - s)
        inc = 1 if top + r >= (np.int64(1) << kbits) else 0
    return q + inc


@numba.njit(cache=True)
def fit(v, lo, hi, bits, signed, wrap):  # pragma: no cover - compiled
    """Fit the integer ``v`` into ``[lo, hi]``: clamp, or keep the low ``bits`` bits (two's
    complement when ``signed``). Returns ``(code, 1 if v was out of range else 0)``."""
    if lo <= v <= hi:
        return v, 0
    if not wrap:
        return (hi if v > hi else lo), 1
    w = v & ((np.int64(1) << bits) - 1)
    if signed and w > hi:
        w -= np.int64(1) << bits
    return w, 1


@numba.njit(cache=True)
def scale_round_fit(m, t, mode, kbits, r, lo, hi, bits, signed, wrap):  # pragma: no cover
    """The code of ``m * 2**t`` (``|m| < 2**62``, ``t`` any int): rounded by ``mode`` if ``t < 0``,
    an exact left shift if ``t >= 0``, then fitted by :func:`fit`. Returns ``(code, event)``."""
    if t < 0:
        return fit(round_shift(m, -t, mode, kbits, r), lo, hi, bits, signed, wrap)
    if m == 0 or t == 0:
        return fit(m, lo, hi, bits, signed, wrap)
    if t < 63:
        top_ok = hi >> t
        bottom_ok = -((-lo) >> t)
        if bottom_ok <= m <= top_ok:
            return m << t, 0
    if not wrap:
        return (hi if m > 0 else lo), 1
    if t >= bits:
        return np.int64(0), 1
    return fit(m << t, lo, hi, bits, signed, wrap)


@numba.njit(cache=True, parallel=True)
def quantize_kernel(xbits, out, frac, mode, kbits, key, lo, hi, bits, signed, wrap):  # pragma: no cover
    """Quantize float64 values given as their int64 bit patterns ``xbits`` into ``out``.

    ``frac`` must be clamped to +-2**20 by the caller (results do not change past that).
    NaN gives code 0; +-inf gives the saturated code (the caller refuses inf under wrap).
    Returns ``(out_of_range, nan_count, inf_count)``.
    """
    n = xbits.size
    events = 0
    nans = 0
    infs = 0
    for i in prange(n):
        word = xbits[i]
        exp_field = (word >> 52) & _EXP_MASK
        mant = word & _MANT_MASK
        negative = word < 0
        if exp_field == _EXP_MASK:
            if mant != 0:
                out[i] = 0
                nans += 1
            else:
                out[i] = lo if negative else hi
                infs += 1
                events += 1
            continue
        if exp_field == 0:
            m = mant
            e = np.int64(-1074)
        else:
            m = mant | _HIDDEN
            e = exp_field - 1075
        if negative:
            m = -m
        r = random_top_bits(key, i, kbits) if kbits > 0 else np.int64(0)
        code, event = scale_round_fit(m, e + frac, mode, kbits, r, lo, hi, bits, signed, wrap)
        out[i] = code
        events += event
    return events, nans, infs


@numba.njit(cache=True, parallel=True)
def requantize_kernel(codes, out, t, mode, kbits, key, lo, hi, bits, signed, wrap):  # pragma: no cover
    """Codes ``codes`` times ``2**t`` (``t = frac_out - frac_in``), rounded and fitted, into
    ``out``. Returns the number of out-of-range elements."""
    n = codes.size
    events = 0
    for i in prange(n):
        r = random_top_bits(key, i, kbits) if kbits > 0 else np.int64(0)
        code, event = scale_round_fit(
            np.int64(codes[i]), t, mode, kbits, r, lo, hi, bits, signed, wrap
        )
        out[i] = code
        events += event
    return events
