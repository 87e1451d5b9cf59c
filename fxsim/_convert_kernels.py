"""Numba kernels behind :func:`fxsim.quantize` and :func:`fxsim.requantize`.

One kernel, :func:`convert_kernel`, serves both: element ``i`` is the real value
``y = values[i] * 2**scale_exp`` (or ``values[i] / step`` in float64 when a step is given),
rounded to an integer by the mode and fitted into the format by the overflow mode. ``values``
is a float64 array (quantize) or an integer code array (requantize). The mode is a runtime
argument, not a copy of the kernel per mode.

Two paths give identical integers:

* the fast path, in float64, where it is exact: ``y`` is a power-of-two scaling of a float
  whose result is normal (or an exact zero), ``|y| < 2**62``, and integer codes have at most
  53 bits (wider codes: the caller sets ``force_exact``). It rounds ``|y|`` with per-mode
  thresholds (:data:`MAGNITUDE_RULES`), which needs only ``floor`` and the exact subtraction
  ``|y| - floor(|y|)``;
* the exact path, in int64 arithmetic on ``m * 2**t`` (the float's integer mantissa and
  exponent, or the code itself): :func:`scale_round_fit`. It takes every element the fast path
  cannot (subnormal results, huge values, +-inf, NaN, codes wider than 53 bits), in a second
  pass over the flagged elements. ``force_exact`` sends every element there (for tests), and
  so does ``overflow="wrap"``: modular wrapping is for modelling narrow registers, not the
  training hot path, and keeping it out of the fast loop keeps that loop vectorized.

Mode ids are those of :data:`fxsim.rounding.ROUNDING_IDS`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange
from numba.extending import overload

from fxsim.rng import random_top_bits

TINY = 2.0**-1022  # smallest normal float64: scaling that lands below it may be inexact
FAST_LIMIT = 2.0**62  # |y| at or above this takes the exact path

# Per mode: (threshold, tie_up) for y >= 0 and for y < 0, and whether ties go to even. The
# magnitude |y| = f + r (f = floor(|y|), 0 <= r < 1) is rounded up to f + 1 when r > threshold,
# or r == threshold and (tie_up, or ties-to-even and f is odd). A threshold of 2 never fires.
MAGNITUDE_RULES = {
    0: (0.5, False, 0.5, False, True),  # nearest_even
    1: (0.5, True, 0.5, True, False),  # nearest_away
    2: (0.5, True, 0.5, False, False),  # nearest_up: floor(y + 1/2)
    3: (2.0, False, 2.0, False, False),  # toward_zero
    4: (2.0, False, 0.0, False, False),  # floor
    5: (0.0, False, 2.0, False, False),  # ceil
}


def magnitude_rule(mode: int) -> tuple[float, bool, float, bool, bool]:
    """The fast path's constants for ``mode`` (stochastic modes do not use them)."""
    return MAGNITUDE_RULES.get(mode, (2.0, False, 2.0, False, False))


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


@numba.njit(cache=True, inline="always")  # a call would stop LLVM vectorizing the loop
def needs_exact_path(value, y):  # pragma: no cover - compiled
    """Whether the float64 fast path may be inexact for input ``value`` scaled to ``y``: ``y``
    huge, infinite or NaN; or ``y`` below the normal range though ``value`` is not zero (the
    scaling may have lost bits). Integer codes wider than 53 bits are not checked here (a
    per-element test costs the loop its vectorization): the caller forces the exact path."""
    a = abs(y)
    return not (a < FAST_LIMIT) or (a < TINY and value != 0)


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


@numba.njit(cache=True, parallel=True)
def convert_kernel(values, out, step, scale_exp, mode, rule, kbits, key, lo, hi, bits, signed,
                   wrap, force_exact):  # pragma: no cover - compiled
    """Convert ``values`` to codes in ``out`` (same size, flat). ``step > 0`` divides by it;
    otherwise scales by ``2**scale_exp`` (``|scale_exp| <= 2**20``; the caller clamps).
    ``rule`` is :func:`magnitude_rule` of ``mode``.

    Returns ``(out_of_range, nan_count, inf_count)``; NaN gives code 0, +-inf the saturated code.
    """
    n = values.size
    scale_ok = -1022 <= scale_exp <= 1023
    scale = 2.0 ** scale_exp if scale_ok else 1.0
    force = force_exact or wrap or not scale_ok  # wrap: the exact path only (see module doc)
    thr_pos, tie_pos, thr_neg, tie_neg, tie_even = rule
    k_scale = 2.0**kbits
    k_one = np.int64(1) << kbits
    hi_limit = float(hi) + 1.0  # hi + 1 is a power of two: exact, unlike hi itself
    lo_limit = float(lo)
    events = 0
    flagged = 0
    # The fast loop is written without early exits so that LLVM vectorizes it.
    for i in prange(n):
        value = values[i]
        y = value / step if step > 0 else value * scale
        exact_needed = force or needs_exact_path(value, y)
        a = abs(y)
        negative = y < 0
        f = np.floor(a)
        rest = a - f  # exact for a >= 0
        if kbits > 0:
            # floor(y + u), u = rand / 2**kbits, evaluated on integers (see rounding.py)
            rand = random_top_bits(key, i, kbits)
            scaled = rest * k_scale
            if negative:
                up = rand < np.int64(np.ceil(scaled))
            else:
                up = np.int64(scaled) + rand >= k_one
        else:
            thr = thr_neg if negative else thr_pos
            half_f = f * 0.5
            tie = (tie_neg if negative else tie_pos) or (tie_even and half_f != np.floor(half_f))
            up = rest > thr or (rest == thr and tie)
        magnitude = f + 1.0 if up else f
        v = -magnitude if negative else magnitude
        outside = (v >= hi_limit or v < lo_limit) and not exact_needed
        code = np.int64(min(max(v, -FAST_LIMIT), FAST_LIMIT))
        code = (hi if v > 0 else lo) if outside else code
        events += outside
        flagged += exact_needed
        out[i] = 0 if exact_needed else code
    if not flagged:
        return events, 0, 0
    exact_events, nans, infs = exact_pass(values, out, step, scale_exp, scale, force, mode, kbits,
                                          key, lo, hi, bits, signed, wrap)
    return events + exact_events, nans, infs


@numba.njit(cache=True)
def exact_pass(values, out, step, scale_exp, scale, force, mode, kbits, key, lo, hi, bits, signed,
               wrap):  # pragma: no cover - compiled
    """Second pass of :func:`convert_kernel`: the elements the fast loop flagged, exactly.
    Serial: flagged elements are rare (wrap aside), and a serial loop compiles in a third of
    the time of a parallel one."""
    n = values.size
    events = 0
    nans = 0
    infs = 0
    for i in range(n):
        value = values[i]
        y = value / step if step > 0 else value * scale
        if force or needs_exact_path(value, y):
            rand = random_top_bits(key, i, kbits) if kbits > 0 else np.int64(0)
            code, event, nan, inf = exact_code(value, step, scale_exp, mode, kbits, rand,
                                               lo, hi, bits, signed, wrap)
            out[i] = code
            events += event
            nans += nan
            infs += inf
    return events, nans, infs
