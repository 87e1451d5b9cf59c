"""The exact conversion of one element, in int64 arithmetic on ``m * 2**t`` (a float's integer
mantissa and exponent, or an integer code): the reference path of :func:`fxsim.quantize` and
:func:`fxsim.requantize`, which the fast loops of :mod:`fxsim.numeric._convert_kernels`
defer to wherever float64 cannot decide (and which ``force_exact=True`` forces).

Mode ids are the values of :class:`fxsim.numeric.rounding.RoundingMode`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.extending import overload

from fxsim.numeric.rounding import RoundingMode


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
    if mode == RoundingMode.NEAREST_EVEN:
        inc = half & (sticky | (q & 1))
    elif mode == RoundingMode.NEAREST_AWAY:
        inc = half & (sticky | (1 if q >= 0 else 0))
    elif mode == RoundingMode.NEAREST_UP:
        inc = half
    elif mode == RoundingMode.TOWARD_ZERO:
        inc = (half | sticky) & (1 if q < 0 else 0)
    elif mode == RoundingMode.FLOOR:
        inc = 0
    elif mode == RoundingMode.CEIL:
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
    code, _ = fit(m << t, lo, hi, bits, signed, wrap)  # m << t may wrap int64: low bits stay
    return code, 1


def split_exact(value):  # pragma: no cover - replaced by the overload below
    raise NotImplementedError


@overload(split_exact)
def _split_exact_overload(value):
    """``(m, e, kind)`` with ``value == m * 2**e`` exactly; kind 0 finite, 1 NaN, 2 +-inf."""
    if isinstance(value, numba.types.Integer):
        return lambda value: (np.int64(value), np.int64(0), 0)

    def split_float(value):
        if math.isnan(value):
            return np.int64(0), np.int64(0), 1
        if math.isinf(value):
            return np.int64(1 if value > 0 else -1), np.int64(0), 2
        mantissa, exponent = math.frexp(value)
        return np.int64(mantissa * 9007199254740992.0), np.int64(exponent - 53), 0

    return split_float


@numba.njit(cache=True)
def exact_code(value, step, scale_exp, mode, kbits, r, lo, hi, bits, signed,
               wrap):  # pragma: no cover - compiled
    """The exact path for one element. Returns ``(code, out_of_range, nan, inf)``."""
    if step > 0:
        m, e, kind = split_exact(value / step)
    else:
        m, e, kind = split_exact(value)
        e += scale_exp
    if kind == 1:
        return np.int64(0), 0, 1, 0
    if kind == 2:
        return (hi if m > 0 else lo), 1, 0, 1
    code, event = scale_round_fit(m, e, mode, kbits, r, lo, hi, bits, signed, wrap)
    return code, event, 0, 0
