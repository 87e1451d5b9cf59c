"""Numba kernels behind :func:`fxsim.quantize` and :func:`fxsim.requantize`.

Element ``i`` is the real value ``y = values[i] * 2**scale_exp`` (or ``values[i] / step`` in
float64 when a step is given), rounded to an integer by the rounding mode and fitted into the
format by the overflow mode. Mode ids are those of :data:`fxsim.rounding.ROUNDING_IDS`.

Three evaluations give identical integers:

* :func:`quantize_loop`, for float64 input, in float64 where that is exact: ``y`` a power-of-two
  scaling of a float with a normal result (or an exact zero), or the correctly rounded quotient
  by a step, and ``|y| < 2**62``. One loop per rounding mode, built on first use from the same
  source with the mode as a compile-time constant, so that each compiles to its own arithmetic
  only (``trunc`` for toward_zero, a hash per element for the stochastic modes) and vectorizes.
  Elements it cannot take (subnormal results, huge values, +-inf, NaN, and the rare
  stochastic rounding that 52 random bits do not decide) are flagged for :func:`exact_pass`;
* :func:`requantize_loop`, for integer codes, in int64 arithmetic: a rounding right shift or a
  checked left shift, exact for every code. The deterministic modes share one loop, with the
  mode's constants as arguments (:func:`shift_rule`), to bound compilation;
* :func:`exact_pass`, serial, in int64 arithmetic on ``m * 2**t`` (the float's integer mantissa
  and exponent, or the code itself): :func:`scale_round_fit`. It takes the flagged elements, or
  every element when the caller forces it (``force_exact``; and quantize's ``overflow="wrap"``,
  which is for modelling narrow registers, not the training hot path).

The loops are serial, release the GIL and are cached on disk; :func:`quantize_floats` and
:func:`requantize_codes` run them on contiguous chunks over ``numba.get_num_threads()`` threads
(:func:`fxsim.ops._threads.run_chunks`).
Random numbers depend on the flat element index only (:mod:`fxsim.rng`), so the chunking cannot
change a bit. Each loop is compiled per output dtype (signed; unsigned codes are written through
a signed view) and for float64 or int64 input only.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.extending import intrinsic, overload

from fxsim.ops._threads import run_chunks
from fxsim.rng import GAMMA, mix64

TINY = 2.0**-1022  # smallest normal float64: scaling that lands below it may be inexact
FAST_LIMIT = 2.0**62  # |y| at or above this takes the exact path
STOCHASTIC = 6  # mode id of stochastic (62 random bits)
STOCHASTIC_MODES = (6, 7)  # ids of stochastic and stochastic_k
TWO_52_BITS = np.uint64(0x4330000000000000)  # the bit pattern of 2.0**52
PARALLEL_MIN = 1 << 16  # the smallest chunk of an array split over threads
WIDEN_BLOCK = 1 << 15  # narrow codes are widened to int64 this many at a time (256 KB)


# --- the exact path, one element at a time ---------------------------------------------------


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


# --- the float64 fast path ---------------------------------------------------------------------


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
# floor(rest * 2**k) + r >= 2**k (y >= 0) or r < ceil(rest * 2**k) (y < 0) (fxsim.rounding).
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


FLOAT_ROUNDERS = (_nearest_even, _nearest_away, _nearest_up, _toward_zero, _floor, _ceil,
                  _stochastic, _stochastic_k)  # by mode id


def fast_round(value, y, mode, word, k_scale, drop):  # pragma: no cover - see the overload
    raise NotImplementedError


@overload(fast_round, prefer_literal=True)
def _fast_round_overload(value, y, mode, word, k_scale, drop):
    """``y``, ``value`` scaled, rounded by the compile-time constant ``mode`` in float64 (an
    integer-valued float), and whether the element needs the exact path instead: the same
    decision as :func:`needs_exact_path`. Only the mode's own rounder is compiled."""
    if not isinstance(mode, numba.types.IntegerLiteral):
        raise numba.core.errors.TypingError("fast_round needs a compile-time constant mode")
    rounder = FLOAT_ROUNDERS[mode.literal_value]

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
    return mode == STOCHASTIC and _stochastic(y, word, 0.0, np.uint64(0))[1]


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


@functools.cache
def quantize_loop(mode: int):
    """The float64 fast loop of rounding mode id ``mode`` (a compiled numba function).

    ``loop(values, out, scale, step, first, key, kbits, lo, hi) -> (out_of_range, flagged)``:
    ``y = values[i] / step`` if ``step > 0``, else ``values[i] * scale`` (``scale`` a power of
    two), rounded by ``mode`` and saturated to ``[lo, hi]`` into ``out[i]``. ``first`` is the
    flat index of ``values[0]`` in the whole array (it keys the random numbers); ``key`` and
    ``kbits`` are the stream key and random bits (stochastic modes). ``flagged`` counts the
    elements that :func:`needs_exact_path` leaves to :func:`exact_pass`: their code is
    unspecified and they are not counted as out of range.
    """
    stochastic = mode in STOCHASTIC_MODES

    @numba.njit(cache=True, nogil=True)
    def loop(values, out, scale, step, first, key, kbits, lo, hi):  # pragma: no cover
        lo_limit = float(lo)
        hi_limit = float(hi) + 1.0  # a power of two: exact, unlike hi itself (62-bit codes)
        k_scale = 2.0**kbits
        drop = np.uint64(64 - kbits)
        counter = key + np.uint64(first + 1) * np.uint64(GAMMA)  # rng.py's counter of values[0]
        events = 0
        flagged = 0
        for i in range(values.size):
            value = values[i]
            y = value / step if step > 0 else value * scale
            word = np.uint64(0)
            if stochastic:
                word = mix64(counter)
                counter += np.uint64(GAMMA)
            v, exact_needed = fast_round(value, y, mode, word, k_scale, drop)
            v = 0.0 if exact_needed else v  # counted by the exact pass, not here
            events += (v >= hi_limit) | (v < lo_limit)
            flagged += exact_needed
            out[i] = float_to_code(v, lo, hi, out)
        return events, flagged

    return loop


@numba.njit(cache=True, nogil=True)
def exact_pass(values, indices, codes, step, scale_exp, force, mode, kbits, key, lo, hi, bits,
               signed, wrap):  # pragma: no cover - compiled
    """Convert exactly the elements of ``values`` that :func:`needs_exact_path` flags (every
    element if ``force``); ``step > 0`` divides by it, else the scaling is by ``2**scale_exp``
    (``|scale_exp| <= 2**20``). Their flat indices and codes go to ``indices`` and ``codes``
    (int64, at least as long as the flagged count), for the caller to store: this way the loop
    is compiled per input dtype only. NaN gives code 0, +-inf the saturated code. Returns
    ``(count, out_of_range, nan_count, inf_count)`` with ``count`` the elements taken (only as
    many as fit are stored). Serial: flagged elements are rare, and only the exact path takes
    whole arrays."""
    scale = 2.0**scale_exp if -1022 <= scale_exp <= 1023 else 1.0
    drop = np.uint64(64 - kbits)
    count = 0
    events = 0
    nans = 0
    infs = 0
    for i in range(values.size):
        value = values[i]
        word = mix64(key + np.uint64(i + 1) * np.uint64(GAMMA)) if kbits > 0 else np.uint64(0)
        if force or needs_exact_path(value, value / step if step > 0 else value * scale, mode,
                                     word):
            rand = np.int64(word >> drop) if kbits > 0 else np.int64(0)
            code, event, nan, inf = exact_code(value, step, scale_exp, mode, kbits, rand,
                                               lo, hi, bits, signed, wrap)
            if count < indices.size:
                indices[count] = i
                codes[count] = code
            count += 1
            events += event
            nans += nan
            infs += inf
    return count, events, nans, infs


# --- the integer loop ----------------------------------------------------------------------------


def shift_rule(mode: int, shift: int) -> tuple[int, int, int, int, int]:
    """The constants with which :func:`requantize_loop` rounds ``m / 2**s`` by the deterministic
    mode ``mode`` (``s = min(shift, 63)``, ``shift >= 1``): ``(threshold if q >= 0, threshold if
    q < 0, tie_up, tie_odd, tie_nonneg)``. With ``q = floor(m / 2**s)`` and ``rest`` the ``s``
    dropped bits, ``q`` goes up by one when ``rest > threshold``, or ``rest == threshold`` and
    (``tie_up``, or ``tie_odd`` and ``q`` odd, or ``tie_nonneg`` and ``q >= 0``): the rules of
    :func:`round_shift`. Clamping ``s`` at 63 is exact for these modes, as ``|m| < 2**62``."""
    half = 1 << (min(max(shift, 1), 63) - 1)
    never = 2**63 - 1  # the dropped bits never exceed it
    if mode <= 2:  # nearest_even (ties to odd q go up), nearest_away, nearest_up
        return half, half, int(mode == 2), int(mode == 0), int(mode == 1)
    if mode == 3:  # toward_zero: up below zero whenever a dropped bit is set
        return never, 0, 0, 0, 0
    if mode == 5:  # ceil
        return 0, 0, 0, 0, 0
    return never, never, 0, 0, 0  # floor; the stochastic modes do not use the rule


@functools.cache
def requantize_loop(stochastic: bool):
    """The integer loop of the deterministic or of the stochastic rounding modes (a compiled
    numba function).

    ``loop(values, out, shift, *rule, first, key, kbits, lo, hi, bits, signed, wrap) ->
    out_of_range``: the code ``m = values[i]`` (int64, ``|m| < 2**62``) shifted right by
    ``shift`` and rounded if ``shift > 0``, else shifted left by ``-shift``; then saturated, or
    wrapped if ``wrap``, into ``[lo, hi]`` (``bits`` wide) in ``out[i]``: :func:`scale_round_fit`
    with ``t = -shift``, element by element. ``rule`` is :func:`shift_rule` of the mode.
    Stochastic modes round up when the top ``kbits`` dropped bits plus the top ``kbits`` bits of
    the element's random word reach ``2**kbits`` (:func:`round_shift`). ``first``, ``key`` and
    ``kbits`` as in :func:`quantize_loop`.
    """

    @numba.njit(cache=True, nogil=True)
    def loop(values, out, shift, threshold_pos, threshold_neg, tie_up, tie_odd, tie_nonneg, first,
             key, kbits, lo, hi, bits, signed, wrap):  # pragma: no cover
        right = shift > 0
        s = min(max(shift, 1), 63)
        low_mask = (np.int64(1) << s) - 1
        # stochastic: the top kbits of the dropped bits, (m >> a) - (q << kbits - b) << b
        top_right = min(max(shift - kbits, 0), 63)
        top_left = min(max(kbits - shift, 0), 63)
        top_q = kbits - top_left
        left = min(max(-shift, 0), 63)  # left shifts of 63 or more keep only 0 in range
        top_ok = hi if right else hi >> left  # the codes m with m << left in [lo, hi]
        bottom_ok = lo if right else -((-lo) >> left)
        modulus = np.int64(1) << bits
        k_one = np.int64(1) << kbits
        counter = key + np.uint64(first + 1) * np.uint64(GAMMA)
        drop = np.uint64(64 - kbits)
        events = 0
        for i in range(values.size):
            m = values[i]
            q = m >> s
            if stochastic:
                rand = np.int64(mix64(counter) >> drop)
                counter += np.uint64(GAMMA)
                top = ((m >> top_right) - (q << top_q)) << top_left
                up = top + rand >= k_one
            else:
                rest = m & low_mask
                threshold = threshold_neg if q < 0 else threshold_pos
                tie = tie_up | (tie_odd & q) | (tie_nonneg & (q >= 0))
                up = (rest > threshold) | ((rest == threshold) & (tie & 1 != 0))
            v = q + up if right else m << left
            compared = v if right else m
            above = compared > top_ok
            below = compared < bottom_ok
            saturated = hi if above else (lo if below else v)
            wrapped = v & (modulus - 1)
            wrapped = wrapped - modulus if signed and wrapped > hi else wrapped
            events += above | below
            out[i] = wrapped if wrap else saturated
        return events

    return loop


def quantize_floats(values: np.ndarray, out: np.ndarray, mode: int, scale: float, step: float,
                    key: int, kbits: int, lo: int, hi: int) -> tuple[int, int]:
    """Run :func:`quantize_loop` of ``mode`` over the flat float64 ``values`` into the flat
    signed ``out``, in parallel chunks. Returns ``(out_of_range, flagged)``."""
    loop = quantize_loop(mode)
    args = (np.uint64(key), np.int64(kbits), np.int64(lo), np.int64(hi))

    def convert_chunk(start, stop):
        return loop(values[start:stop], out[start:stop], scale, step, np.int64(start), *args)

    counts = run_chunks(convert_chunk, values.size, PARALLEL_MIN)
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def requantize_codes(codes: np.ndarray, out: np.ndarray, mode: int, shift: int, key: int,
                     kbits: int, lo: int, hi: int, bits: int, signed: bool, wrap: bool) -> int:
    """Run :func:`requantize_loop` for ``mode`` over the flat integer ``codes`` (any integer
    dtype) into the flat signed ``out``, in parallel chunks. Returns the out-of-range count.

    The loop is compiled for int64 codes only. Other dtypes are widened :data:`WIDEN_BLOCK`
    codes at a time into a buffer that stays in cache: a whole int64 copy would cost a pass over
    memory as long as the conversion itself."""
    loop = requantize_loop(mode in STOCHASTIC_MODES)
    rule = shift_rule(mode, shift)
    args = (np.uint64(key), np.int64(kbits), np.int64(lo), np.int64(hi), np.int64(bits),
            bool(signed), bool(wrap))
    shift = np.int64(shift)
    if codes.dtype == np.uint64:  # codes are below 2**62: the same bits as int64
        codes = codes.view(np.int64)

    def convert_chunk(start, stop):
        if codes.dtype == np.int64:
            return loop(codes[start:stop], out[start:stop], shift, *rule, start, *args)
        buffer = np.empty(min(WIDEN_BLOCK, stop - start), dtype=np.int64)
        events = 0
        for first in range(start, stop, WIDEN_BLOCK):
            last = min(first + WIDEN_BLOCK, stop)
            wide = buffer[:last - first]
            np.copyto(wide, codes[first:last])
            events += loop(wide, out[first:last], shift, *rule, first, *args)
        return events

    return sum(run_chunks(convert_chunk, codes.size, PARALLEL_MIN))


def exact_codes(values: np.ndarray, out: np.ndarray, flagged: int | None, step: float,
                scale_exp: int, mode: int, kbits: int, key: int, lo: int, hi: int, bits: int,
                signed: bool, wrap: bool) -> tuple[int, int, int]:
    """Run :func:`exact_pass` over the flat ``values`` (float64, or integer codes) for the
    ``flagged`` elements the fast loop left (every element if ``flagged`` is None) and store
    their codes in the flat signed ``out``. Returns ``(out_of_range, nan_count, inf_count)``
    over those elements."""
    force = flagged is None
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
    indices = np.empty(values.size if force else flagged, dtype=np.int64)
    codes = np.empty_like(indices)
    count, events, nans, infs = exact_pass(
        values, indices, codes, float(step), np.int64(scale_exp), force, mode, np.int64(kbits),
        np.uint64(key), np.int64(lo), np.int64(hi), np.int64(bits), bool(signed), bool(wrap))
    if count != indices.size:
        raise AssertionError(f"internal error: the fast loop flagged {indices.size} elements, "
                             f"the exact pass {count}")
    out[indices] = codes
    return events, nans, infs
