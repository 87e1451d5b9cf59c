"""Numba kernels behind :func:`fxsim.quantize` and :func:`fxsim.requantize`.

Element ``i`` is the real value ``y = values[i] * 2**scale_exp`` (or ``values[i] / step`` in
float64 when a step is given), rounded to an integer by the rounding mode and fitted into the
format by the overflow mode. Mode ids are the values of
:class:`fxsim.numeric.rounding.RoundingMode`.

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
  and exponent, or the code itself): :func:`fxsim.numeric._exact_kernels.scale_round_fit`. It
  takes the flagged elements, or
  every element when the caller forces it (``force_exact``; and quantize's ``overflow="wrap"``,
  which is for modelling narrow registers, not the training hot path).

The loops are serial, release the GIL and are cached on disk; :func:`quantize_floats` and
:func:`requantize_codes` run them on contiguous chunks over ``numba.get_num_threads()`` threads
(:func:`fxsim.numeric.threads.run_chunks`). Random numbers depend on the flat element index
only (:mod:`fxsim.numeric.rng`), so the chunking cannot change a bit. Each loop is compiled per
output dtype (signed; unsigned codes are written through a signed view) and for float64 or int64
input only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numba
import numpy as np

from fxsim.numeric import deferred
from fxsim.numeric._exact_kernels import exact_code
from fxsim.numeric._float_round import fast_round, float_to_code, needs_exact_path
from fxsim.numeric.rng import GAMMA, mix64
from fxsim.numeric.rounding import RoundingMode
from fxsim.numeric.threads import run_chunks

STOCHASTIC_MODES = tuple(mode for mode in RoundingMode if mode.is_stochastic)


NO_WORDS = np.empty(0, dtype=np.uint64)  # no random words: the counter generator


@dataclass(frozen=True)
class CodeTarget:
    """What a conversion makes, as the kernels take it: codes rounded by ``mode`` (a
    :class:`RoundingMode`) with ``kbits`` random bits per element from the stream ``key``
    (stochastic modes; 0 and 0 otherwise), fitted into ``[lo, hi]`` of a ``bits``-wide format
    (two's complement if ``signed``) by saturating, or if ``wrap`` by keeping the low bits.
    ``words``: every element's random word from another source (the LFSRs of
    :mod:`fxsim.numeric._lfsr_kernels`), or empty for the counter generator keyed by ``key``."""

    mode: int
    kbits: int
    key: int
    lo: int
    hi: int
    bits: int
    signed: bool
    wrap: bool
    words: np.ndarray = field(default_factory=lambda: NO_WORDS, repr=False)

    def words_of(self, start: int, stop: int) -> np.ndarray:
        """The random words of elements ``start .. stop-1`` (empty for the counter source)."""
        return self.words[start:stop] if self.words.size else self.words

    def random_args(self) -> tuple:
        """``(key, kbits, lo, hi)`` as the loops take them."""
        return (np.uint64(self.key), np.int64(self.kbits), np.int64(self.lo),
                np.int64(self.hi))

    def fit_args(self) -> tuple:
        """``(bits, signed, wrap)`` as the loops take them."""
        return np.int64(self.bits), bool(self.signed), bool(self.wrap)
PARALLEL_MIN = 1 << 16  # the smallest chunk of an array split over threads
WIDEN_BLOCK = 1 << 15  # narrow codes are widened to int64 this many at a time (256 KB)
DIRECT_CODES = (np.dtype(np.int64), np.dtype(np.int32))  # read by the integer loop as they are


@functools.cache
def quantize_loop(mode: int):
    """The float64 fast loop of rounding mode id ``mode`` (a compiled numba function).

    ``loop(values, out, scale, step, first, key, kbits, lo, hi, words) -> (out_of_range,
    flagged)``:
    ``y = values[i] / step`` if ``step > 0``, else ``values[i] * scale`` (``scale`` a power of
    two), rounded by ``mode`` and saturated to ``[lo, hi]`` into ``out[i]``. ``first`` is the
    flat index of ``values[0]`` in the whole array (it keys the random numbers); ``key`` and
    ``kbits`` are the stream key and random bits (stochastic modes); ``words``, if not empty,
    holds each element's random word instead (:attr:`CodeTarget.words`), aligned with
    ``values``. ``flagged`` counts the
    elements that :func:`needs_exact_path` leaves to :func:`exact_pass`: their code is
    unspecified and they are not counted as out of range.
    """
    stochastic = mode in STOCHASTIC_MODES

    @numba.njit(cache=True, nogil=True)
    def loop(values, out, scale, step, first, key, kbits, lo, hi, words):  # pragma: no cover
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
                word = words[i] if words.size else mix64(counter)
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
               signed, wrap, words):  # pragma: no cover - compiled
    """Convert exactly the elements of ``values`` that :func:`needs_exact_path` flags (every
    element if ``force``); ``step > 0`` divides by it, else the scaling is by ``2**scale_exp``
    (``|scale_exp| <= 2**20``). Their flat indices and codes go to ``indices`` and ``codes``
    (int64, at least as long as the flagged count), for the caller to store: this way the loop
    is compiled per input dtype only. NaN gives code 0, +-inf the saturated code. Returns
    ``(count, out_of_range, nan_count, inf_count)`` with ``count`` the elements taken (only as
    many as fit are stored). ``words``: the random words, or empty for the counter generator.
    Serial: flagged elements are rare, and only the exact path takes whole arrays."""
    scale = 2.0**scale_exp if -1022 <= scale_exp <= 1023 else 1.0
    drop = np.uint64(64 - kbits)
    count = 0
    events = 0
    nans = 0
    infs = 0
    for i in range(values.size):
        value = values[i]
        word = np.uint64(0)
        if kbits > 0:
            word = words[i] if words.size else mix64(key + np.uint64(i + 1) * np.uint64(GAMMA))
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
    mode = RoundingMode(mode)
    if mode in (RoundingMode.NEAREST_EVEN, RoundingMode.NEAREST_AWAY, RoundingMode.NEAREST_UP):
        # ties go up: always (nearest_up), to odd q (nearest_even), for q >= 0 (nearest_away)
        return (half, half, int(mode == RoundingMode.NEAREST_UP),
                int(mode == RoundingMode.NEAREST_EVEN), int(mode == RoundingMode.NEAREST_AWAY))
    if mode == RoundingMode.TOWARD_ZERO:  # up below zero whenever a dropped bit is set
        return never, 0, 0, 0, 0
    if mode == RoundingMode.CEIL:
        return 0, 0, 0, 0, 0
    return never, never, 0, 0, 0  # floor; the stochastic modes do not use the rule


def round_shift_args(target: CodeTarget, shift: int) -> np.ndarray:
    """The arguments of :func:`round_shift_saturate` after ``m``, for a right shift by
    ``shift >= 1`` (``s``: clamped at 63, as :func:`requantize_loop` does) to the deterministic
    ``target``: int64 ``[s, low_mask, *shift_rule, lo, hi]``."""
    s = min(max(shift, 1), 63)
    return np.array([s, (1 << s) - 1, *shift_rule(target.mode, shift), target.lo, target.hi],
                    dtype=np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def round_shift_saturate(m, s, low_mask, threshold_pos, threshold_neg, tie_up, tie_odd,
                         tie_nonneg, lo, hi):  # pragma: no cover - compiled
    """``(code, clamped)``: the int64 ``m`` shifted right by ``s`` (1..63; ``low_mask`` is
    ``2**s - 1``), rounded by the deterministic rule :func:`shift_rule` gives (its five
    constants), saturated to ``[lo, hi]``; ``clamped`` is 1 if the rounded value lay outside.
    The element rule of :func:`requantize_loop`'s common case, and of the product kernels that
    requantize in their output pass (:mod:`fxsim.numeric.fused`)."""
    q = m >> s
    rest = m & low_mask
    threshold = threshold_neg if q < 0 else threshold_pos
    tie = tie_up | (tie_odd & q) | (tie_nonneg & (q >= 0))
    v = q + ((rest > threshold) | ((rest == threshold) & (tie & 1 != 0)))
    above = v > hi
    below = v < lo
    return (hi if above else (lo if below else v)), np.int64(above | below)


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
    ``kbits``, ``words`` as in :func:`quantize_loop`.
    """

    @numba.njit(cache=True, nogil=True)
    def loop(values, out, multiplier, shift, threshold_pos, threshold_neg, tie_up, tie_odd,
             tie_nonneg, first, key, kbits, lo, hi, bits, signed, wrap,
             words):  # pragma: no cover
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
        if not stochastic and right and not wrap:  # the common case, its operations only
            for i in range(values.size):
                code, event = round_shift_saturate(
                    np.int64(values[i]) * multiplier, s, low_mask, threshold_pos,
                    threshold_neg, tie_up, tie_odd, tie_nonneg, lo, hi)
                events += event
                out[i] = code
            return events
        for i in range(values.size):
            m = np.int64(values[i]) * multiplier
            q = m >> s
            if stochastic:
                rand = np.int64((words[i] if words.size else mix64(counter)) >> drop)
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


def quantize_floats(values: np.ndarray, out: np.ndarray, target: CodeTarget, scale: float,
                    step: float) -> tuple[int, int]:
    """Run :func:`quantize_loop` of ``target.mode`` over the flat float64 ``values`` into the
    flat signed ``out``, saturating (the loop does not wrap), in parallel chunks. Returns
    ``(out_of_range, flagged)``."""
    loop = quantize_loop(target.mode)
    args = target.random_args()

    def convert_chunk(start, stop):
        return loop(values[start:stop], out[start:stop], scale, step, np.int64(start), *args,
                    target.words_of(start, stop))

    counts = run_chunks(convert_chunk, values.size, PARALLEL_MIN)
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def quantize_deferred(values: deferred.DeferredFloat, out: np.ndarray, target: CodeTarget,
                      scale: float, step: float) -> tuple[int, int]:
    """:func:`quantize_floats` of a deferred tensor, each block computed into a buffer in
    cache and rounded there (:func:`fxsim.numeric.deferred.run_blocks`)."""
    loop = quantize_loop(target.mode)
    args = target.random_args()

    def convert_block(start, block):
        stop = start + block.size
        return loop(block, out[start:stop], scale, step, np.int64(start), *args,
                    target.words_of(start, stop))

    counts = deferred.run_blocks(values, convert_block)
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def requantize_codes(codes: np.ndarray, out: np.ndarray, target: CodeTarget, shift: int,
                     multiplier: int = 1) -> int:
    """Run :func:`requantize_loop` for ``target`` over the flat integer ``codes`` (any integer
    dtype) times ``multiplier`` (a real step's fixed-point rescale), shifted right by ``shift``
    (left if negative) into the flat signed ``out``, in parallel chunks. Returns the
    out-of-range count.

    The loop is compiled for int64 and int32 codes (the accumulators of the products and sums)
    and reads them directly. Other dtypes are widened :data:`WIDEN_BLOCK` codes at a time into a
    buffer that stays in cache: a whole int64 copy would cost a pass over memory as long as the
    conversion itself."""
    loop = requantize_loop(target.mode in STOCHASTIC_MODES)
    rule = shift_rule(target.mode, shift)
    args = (*target.random_args(), *target.fit_args())
    shift, multiplier = np.int64(shift), np.int64(multiplier)
    if codes.dtype == np.uint64:  # codes are below 2**62: the same bits as int64
        codes = codes.view(np.int64)

    def convert_chunk(start, stop):
        if codes.dtype in DIRECT_CODES:
            return loop(codes[start:stop], out[start:stop], multiplier, shift, *rule, start,
                        *args, target.words_of(start, stop))
        buffer = np.empty(min(WIDEN_BLOCK, stop - start), dtype=np.int64)
        events = 0
        for first in range(start, stop, WIDEN_BLOCK):
            last = min(first + WIDEN_BLOCK, stop)
            wide = buffer[:last - first]
            np.copyto(wide, codes[first:last])
            events += loop(wide, out[first:last], multiplier, shift, *rule, first, *args,
                           target.words_of(first, last))
        return events

    return sum(run_chunks(convert_chunk, codes.size, PARALLEL_MIN))


def exact_codes(values: np.ndarray, out: np.ndarray, target: CodeTarget, flagged: int | None,
                step: float, scale_exp: int) -> tuple[int, int, int]:
    """Run :func:`exact_pass` over the flat ``values`` (float64, or integer codes) for the
    ``flagged`` elements the fast loop left (every element if ``flagged`` is None), scaled by
    ``1 / step`` if ``step > 0`` else by ``2**scale_exp``, converted to ``target``, and store
    their codes in the flat signed ``out``. Returns ``(out_of_range, nan_count, inf_count)``
    over those elements."""
    force = flagged is None
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
    indices = np.empty(values.size if force else flagged, dtype=np.int64)
    codes = np.empty_like(indices)
    key, kbits, lo, hi = target.random_args()
    count, events, nans, infs = exact_pass(
        values, indices, codes, float(step), np.int64(scale_exp), force, target.mode, kbits, key,
        lo, hi, *target.fit_args(), target.words)
    if count != indices.size:
        raise AssertionError(f"internal error: the fast loop flagged {indices.size} elements, "
                             f"the exact pass {count}")
    out[indices] = codes
    return events, nans, infs
