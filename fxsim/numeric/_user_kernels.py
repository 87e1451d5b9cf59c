"""Numba kernels of the registered-rule path (:mod:`fxsim.numeric._user_convert`): the exact
decomposition of each element into ``(q, f, sticky)`` (:mod:`fxsim.numeric.user_rounding`), the
random integers, and the fitting of the rule's results into the format.

They reuse the exact path's element functions (:mod:`fxsim.numeric._exact_kernels`) and leave
the built-in modes' loops alone. Compiled for float64 or int64 input and int64 output only.
"""

from __future__ import annotations

import numba
import numpy as np

from fxsim.numeric._exact_kernels import fit, scale_round_fit, split_exact
from fxsim.numeric.rng import GAMMA, mix64
from fxsim.numeric.rounding import RoundingMode

FRACTION_BITS = 62
LIMIT = np.int64(1) << FRACTION_BITS  # |y| at or above this: an integer outside every format
TINY = 2.0**-1022  # the smallest normal float64: a product below it may have lost bits
KIND_FINITE, KIND_NAN, KIND_INF, KIND_HUGE, KIND_PENDING = 0, 1, 2, 3, 4


@numba.njit(cache=True, nogil=True)
def split_scaled(m, t):  # pragma: no cover - compiled
    """``(q, f, sticky, huge)`` of ``y = m * 2**t`` (``|m| < 2**62``): ``q = floor(y)``, ``f``
    the first 62 bits of ``y - q``, ``sticky`` whether bits below them are set; ``huge`` when
    ``|y| >= 2**62`` (then ``q``, ``f``, ``sticky`` are 0)."""
    zero = np.int64(0)
    if m == 0:
        return zero, zero, False, False
    if t >= 0:
        if t < FRACTION_BITS and abs(m) < (LIMIT >> t):
            return m << t, zero, False, False
        return zero, zero, False, True
    s = -t
    q = m >> min(s, 63)
    if s <= FRACTION_BITS:
        return q, (m - (q << s)) << (FRACTION_BITS - s), False, False
    d = min(s - FRACTION_BITS, 63)
    f = (m >> d) - (q << FRACTION_BITS)
    return q, f, (m & ((np.int64(1) << d) - 1)) != 0, False


@numba.njit(cache=True, nogil=True)
def float_parts(y, value):  # pragma: no cover - compiled
    """``(q, f, sticky, ok)`` of ``y``, ``value`` scaled, computed in float64 where that is
    exact: ``y`` normal (or ``value`` zero: a zero ``y`` of a nonzero ``value`` underflowed),
    ``|y| < 2**62``, and ``y >= 0`` or ``y <= -1/2`` (then ``y - floor(y)`` has at most 53
    significant bits, and scaling it by ``2**62`` is exact). ``ok`` False: take the integer
    path."""
    a = abs(y)
    ok = a < 2.0**62 and (a >= TINY or value == 0.0) and (y >= 0.0 or y <= -0.5)
    if not ok:
        return np.int64(0), np.int64(0), False, False
    whole = np.floor(y)
    scaled = (y - whole) * 2.0**FRACTION_BITS
    floor_scaled = np.floor(scaled)
    return np.int64(whole), np.int64(floor_scaled), scaled != floor_scaled, True


@numba.njit(cache=True, nogil=True)
def decompose_floats(values, step, scale, q, f, sticky, kind):  # pragma: no cover - compiled
    """The first pass over float ``values``: :func:`float_parts` of ``y = values[i] / step``
    (``step > 0``) or ``values[i] * scale`` where it is exact (``kind`` finite), else ``kind``
    :data:`KIND_PENDING` for :func:`decompose`. Returns the count pending."""
    pending = 0
    for i in range(values.size):
        value = values[i]
        qi, fi, si, ok = float_parts(value / step if step > 0 else value * scale, value)
        q[i], f[i], sticky[i] = qi, fi, si
        kind[i] = KIND_FINITE if ok else KIND_PENDING
        pending += not ok
    return pending


@numba.njit(cache=True, nogil=True)
def decompose(values, step, scale_exp, q, f, sticky, kind, codes, lo, hi, bits, signed, wrap,
              only_pending):  # pragma: no cover - compiled
    """Split each element of ``values`` (``y = values[i] / step`` in float64 if ``step > 0``,
    else ``values[i] * 2**scale_exp`` exactly; only those :func:`decompose_floats` left pending
    if ``only_pending``) into ``q[i]``, ``f[i]``, ``sticky[i]`` with integer arithmetic, and its
    ``kind[i]``: finite, NaN, +-inf or huge (``|y| >= 2**62``). The codes of the last three are
    final and written to ``codes[i]`` (NaN 0; +-inf and huge saturate, huge ones wrap keeping
    their low bits); ``q``, ``f``, ``sticky`` are 0 there. Returns ``(out_of_range, nans,
    infs)`` over those elements."""
    events = 0
    nans = 0
    infs = 0
    for i in range(values.size):
        if only_pending and kind[i] != KIND_PENDING:
            continue
        if step > 0:
            m, e, k = split_exact(values[i] / step)
        else:
            m, e, k = split_exact(values[i])
            e += scale_exp
        qi, fi, si, huge = split_scaled(m, e) if k == 0 else (np.int64(0), np.int64(0),
                                                                False, False)
        q[i], f[i], sticky[i] = qi, fi, si
        if k == 1:
            kind[i] = KIND_NAN
            codes[i] = 0
            nans += 1
        elif k == 2:
            kind[i] = KIND_INF
            codes[i] = hi if m > 0 else lo
            events += 1
            infs += 1
        elif huge:
            kind[i] = KIND_HUGE
            code, event = scale_round_fit(m, e, RoundingMode.FLOOR, 0, np.int64(0), lo, hi, bits,
                                          signed, wrap)
            codes[i] = code
            events += event
        else:
            kind[i] = KIND_FINITE
    return events, nans, infs


@numba.njit(cache=True, nogil=True)
def random_ints(key, first, kbits, out):  # pragma: no cover - compiled
    """``out[i]``: the top ``kbits`` (1..62) bits of the random word of flat element
    ``first + i`` (:mod:`fxsim.numeric.rng`), the bits the built-in stochastic modes use."""
    drop = np.uint64(64 - kbits)
    counter = key + np.uint64(first + 1) * np.uint64(GAMMA)
    for i in range(out.size):
        out[i] = np.int64(mix64(counter) >> drop)
        counter += np.uint64(GAMMA)


@numba.njit(cache=True, nogil=True)
def fit_results(results, kind, codes, lo, hi, bits, signed, wrap):  # pragma: no cover
    """Fit the rule's ``results`` of the finite elements into ``[lo, hi]`` (saturate, or wrap
    to ``bits`` bits) into ``codes``; other elements keep their code. Returns the count of
    results that were out of range."""
    events = 0
    for i in range(results.size):
        if kind[i] == KIND_FINITE:
            code, event = fit(results[i], lo, hi, bits, signed, wrap)
            codes[i] = code
            events += event
    return events
