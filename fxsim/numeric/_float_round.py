"""Rounding in float64 where float64 is exact: the per-mode rounders of the fast quantize loop
(:func:`fxsim.numeric._convert_kernels.quantize_loop`), and the test that sends an element to
the exact path (:mod:`fxsim.numeric._exact_kernels`) instead.

Mode ids are the values of :class:`fxsim.numeric.rounding.RoundingMode`.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.extending import intrinsic, overload

from fxsim.numeric.rounding import RoundingMode

TINY = 2.0**-1022  # smallest normal float64: scaling that lands below it may be inexact
FAST_LIMIT = 2.0**62  # |y| at or above this takes the exact path
TWO_52_BITS = np.uint64(0x4330000000000000)  # the bit pattern of 2.0**52


@intrinsic
def float_from_bits(typingctx, bits):
    """The float64 whose IEEE 754 bit pattern is the 64-bit integer ``bits`` (a bit cast)."""
    if not isinstance(bits, numba.types.Integer) or bits.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())

    return numba.types.float64(bits), codegen


@numba.njit(cache=True)
def small_int_to_float(n):  # pragma: no cover - compiled
    """The uint64 ``n < 2**52`` as a float64, exactly: ``2**52 + n`` has ``n`` as its mantissa
    bits. (int64 -> float64 conversion does not vectorize on x86 without AVX-512.)"""
    return float_from_bits(TWO_52_BITS | n) - 2.0**52


@numba.njit(cache=True)
def scaling_inexact(value, y):  # pragma: no cover - compiled
    """Whether ``y``, ``value`` scaled, is out of the fast path's reach: huge, infinite or NaN; or
    below the normal range though ``value`` is not zero (the scaling may have lost bits)."""
    a = abs(y)
    return (not a < FAST_LIMIT) | ((a < TINY) & (value != 0))


# Rounding of a float64 y (finite, |y| < 2**62) to an integer-valued float64, one function per
# mode, each taking (y, word, k_scale, drop) and returning (rounded, undecided): undecided if the
# float64 evaluation cannot tell and the element must take the exact path.
# trunc, floor, ceil and rint of such y are exact. nearest_away compares y - trunc(y), and
# nearest_up y - floor(y), with 1/2: the differences are exact (Sterbenz' lemma) except where the
# true difference is at least 1/2, which rounding to float64 cannot move below 1/2.


@numba.njit(cache=True)
def _nearest_even(y, word, k_scale, drop):  # pragma: no cover - compiled
    return np.rint(y), False


@numba.njit(cache=True)
def _nearest_away(y, word, k_scale, drop):  # pragma: no cover - compiled
    t = np.trunc(y)
    return t + np.copysign(1.0 if abs(y - t) >= 0.5 else 0.0, y), False


@numba.njit(cache=True)
def _nearest_up(y, word, k_scale, drop):  # pragma: no cover - compiled
    f = np.floor(y)
    return f + (1.0 if y - f >= 0.5 else 0.0), False


@numba.njit(cache=True)
def _toward_zero(y, word, k_scale, drop):  # pragma: no cover - compiled
    return np.trunc(y), False


@numba.njit(cache=True)
def _floor(y, word, k_scale, drop):  # pragma: no cover - compiled
    return np.floor(y), False


@numba.njit(cache=True)
def _ceil(y, word, k_scale, drop):  # pragma: no cover - compiled
    return np.ceil(y), False


# Stochastic modes, with |y| = f + rest (f = floor(|y|)) and r the top k bits of the element's
# random word (k_scale = 2**k, drop = 64 - k): the magnitude rounds up when
# floor(rest * 2**k) + r >= 2**k (y >= 0) or r < ceil(rest * 2**k) (y < 0) (fxsim.numeric.rounding).
# For a power of two K, s = rest * K is exact.


@numba.njit(cache=True)
def _stochastic(y, word, k_scale, drop):  # pragma: no cover - compiled
    """k = 62, decided on the top 52 bits t of r with K = 2**52: up if s >= thr, with
    thr = K - t (y >= 0) or t + 1 (y < 0); not up if s <= thr - 1; only in between
    (probability 2**-52) do the 10 lower bits of r decide: undecided."""
    a = abs(y)
    f = np.floor(a)
    scaled = (a - f) * 2.0**52
    top = small_int_to_float(word >> np.uint64(12))
    threshold = top + 1.0 if y < 0 else 2.0**52 - top
    up = scaled >= threshold
    return np.copysign(f + (1.0 if up else 0.0), y), (scaled > threshold - 1.0) & (not up)


@numba.njit(cache=True)
def _stochastic_k(y, word, k_scale, drop):  # pragma: no cover - compiled
    """k <= 32, exactly with K = 2**k: up iff s >= K - r (y >= 0), s > r (y < 0)."""
    a = abs(y)
    f = np.floor(a)
    scaled = (a - f) * k_scale
    r = small_int_to_float(word >> drop)
    up = scaled > r if y < 0 else scaled >= k_scale - r
    return np.copysign(f + (1.0 if up else 0.0), y), False


FLOAT_ROUNDERS = {
    RoundingMode.NEAREST_EVEN: _nearest_even, RoundingMode.NEAREST_AWAY: _nearest_away,
    RoundingMode.NEAREST_UP: _nearest_up, RoundingMode.TOWARD_ZERO: _toward_zero,
    RoundingMode.FLOOR: _floor, RoundingMode.CEIL: _ceil, RoundingMode.STOCHASTIC: _stochastic,
    RoundingMode.STOCHASTIC_K: _stochastic_k,
}


def fast_round(value, y, mode, word, k_scale, drop):  # pragma: no cover - see the overload
    raise NotImplementedError


@overload(fast_round, prefer_literal=True)
def _fast_round_overload(value, y, mode, word, k_scale, drop):
    """``y``, ``value`` scaled, rounded by the compile-time constant ``mode`` in float64 (an
    integer-valued float), and whether the element needs the exact path instead: the same
    decision as :func:`needs_exact_path`. Only the mode's own rounder is compiled."""
    if not isinstance(mode, numba.types.IntegerLiteral):
        raise numba.core.errors.TypingError("fast_round needs a compile-time constant mode")
    rounder = FLOAT_ROUNDERS[RoundingMode(mode.literal_value)]

    def one_mode(value, y, mode, word, k_scale, drop):
        v, undecided = rounder(y, word, k_scale, drop)
        return v, scaling_inexact(value, y) | undecided
    return one_mode


@numba.njit(cache=True)
def needs_exact_path(value, y, mode, word):  # pragma: no cover - compiled
    """Whether :func:`quantize_loop` leaves the element to the exact path, for a mode known only
    at run time: :func:`scaling_inexact`, or undecided by the rounder (stochastic only)."""
    if scaling_inexact(value, y):
        return True
    return mode == RoundingMode.STOCHASTIC and _stochastic(y, word, 0.0, np.uint64(0))[1]


def float_to_code(v, lo, hi, out):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(float_to_code)
def _float_to_code_overload(v, lo, hi, out):
    """The integer-valued float ``v`` (``|v| <= 2**62``) saturated to ``[lo, hi]``, as a code for
    ``out``'s dtype (signed; unsigned codes are stored through a signed view). Codes of at most
    32 bits clamp in float64 (``lo`` and ``hi`` are exact there) and convert to int32, which
    vectorizes; unsigned 32-bit codes are offset by ``2**31`` around the conversion. Wider
    codes convert to int64 first, as ``hi`` may not be a float64."""
    if out.dtype.bitwidth < 32:
        def narrow(v, lo, hi, out):
            return np.int32(min(max(v, float(lo)), float(hi)))
        return narrow
    if out.dtype.bitwidth == 32:
        def word32(v, lo, hi, out):
            offset = 2.0**31 if hi >= 2**31 else 0.0
            clamped = min(max(v, float(lo)), float(hi))
            return np.int64(np.int32(clamped - offset)) + np.int64(offset)
        return word32

    def wide(v, lo, hi, out):
        return min(max(np.int64(v), lo), hi)
    return wide
