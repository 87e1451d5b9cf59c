"""Element-wise numba kernels on code tensors that the layers run every step: the largest
magnitude of a tensor (range statistics), the aligned sum of two code tensors (residual adds,
gradient forks), masking (ReLU and straight-through estimator masks) and a quantizer's
tracked clamp.

The kernels are serial and ``nogil``; :func:`fxsim.numeric.threads.run_parallel` spreads them over
numba's thread count in contiguous ranges. Every result is exact (integers, or a maximum), so it
does not depend on how the range is cut.
"""

from __future__ import annotations

import numba
import numpy as np

from fxsim.numeric.threads import run_parallel

CHUNK = 1 << 16  # elements per job


@numba.njit(cache=True, nogil=True)
def _extremes(flat, lows, highs, start, stop):  # pragma: no cover - compiled
    for c in range(start, stop):
        # a slice and an index from 0: no negative-index wraparound, so the loop vectorises
        part = flat[c * CHUNK:min(flat.size, (c + 1) * CHUNK)]
        lo = part[0]
        hi = lo
        for i in range(part.size):
            v = part[i]
            lo = min(lo, v)
            hi = max(hi, v)
        lows[c] = lo
        highs[c] = hi


def _jobs(size: int) -> int:
    return (size + CHUNK - 1) // CHUNK


def _run(kernel, size: int, *args) -> None:
    run_parallel(kernel, _jobs(size), *args, work=8 * size)


def extremes(values: np.ndarray) -> tuple[float | int, float | int]:
    """``(min, max)`` of a non-empty numeric array, in one pass (NaN-free floats)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    jobs = _jobs(flat.size)
    lows = np.empty(jobs, dtype=flat.dtype)
    highs = np.empty(jobs, dtype=flat.dtype)
    _run(_extremes, flat.size, flat, lows, highs)
    return lows.min().item(), highs.max().item()


def max_abs(values: np.ndarray) -> float | int:
    """``max |v|`` of an array (0 when empty): a Python int for integer arrays (no overflow at
    the most negative code), a float for float arrays."""
    if values.size == 0:
        return 0
    low, high = extremes(values)
    return max(-low, high)


@numba.njit(cache=True, nogil=True)
def _aligned_add(a, shift_a, b, shift_b, multiplier, lo, hi, relu, out, positive, largest,
                 start, stop):  # pragma: no cover - compiled
    """``(a << shift_a) + moved`` over the chunks ``start..stop``, ``moved`` being ``b <<
    shift_b`` (``multiplier == 0``) or ``clamp(round_even(b * multiplier / 2**shift_b), lo,
    hi)``; then the ReLU, the mask of positive sums and each chunk's largest magnitude."""
    half = np.int64(1) << max(shift_b - 1, 0)
    low_mask = (np.int64(1) << shift_b) - 1
    for c in range(start, stop):
        first, last = c * CHUNK, min(out.size, (c + 1) * CHUNK)
        part_a, part_b, part_out = a[first:last], b[first:last], out[first:last]
        high = np.int64(0)
        if multiplier == 0:  # exact left shifts
            for i in range(last - first):
                v = (np.int64(part_a[i]) << shift_a) + (np.int64(part_b[i]) << shift_b)
                v = max(v, 0) if relu else v
                part_out[i] = v
                high = max(high, abs(v))
        else:  # requantize's fixed-point rescale of b, ties to even, saturating
            for i in range(last - first):
                m = np.int64(part_b[i]) * multiplier
                q = m >> shift_b
                rest = m & low_mask
                moved = min(max(q + ((rest > half) | ((rest == half) & ((q & 1) != 0))), lo),
                            hi)
                v = (np.int64(part_a[i]) << shift_a) + moved
                v = max(v, 0) if relu else v
                part_out[i] = v
                high = max(high, abs(v))
        if relu:
            part_positive = positive[first:last]
            for i in range(last - first):
                part_positive[i] = part_out[i] > 0
        largest[c] = high


def _add(a, shift_a, b, shift_b, multiplier, lo, hi, relu, dtype):
    """Run :func:`_aligned_add`; returns (sums, mask or None, largest magnitude)."""
    flat_a = np.ascontiguousarray(a).reshape(-1)
    flat_b = np.ascontiguousarray(b).reshape(-1)
    out = np.empty(flat_a.size, dtype=dtype)
    positive = np.empty(flat_a.size if relu else 0, dtype=np.bool_)
    largest = np.zeros(_jobs(out.size), dtype=np.int64)
    if out.size:
        _run(_aligned_add, out.size, flat_a, np.int64(shift_a), flat_b, np.int64(shift_b),
             np.int64(multiplier), np.int64(lo), np.int64(hi), bool(relu), out, positive,
             largest)
    mask = positive.reshape(a.shape) if relu else None
    return out.reshape(a.shape), mask, int(largest.max(initial=0))


def shift_add(a: np.ndarray, shift_a: int, b: np.ndarray, shift_b: int, relu: bool = False,
              dtype=np.int64) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``(a << shift_a) + (b << shift_b)`` in ``dtype`` (shifts >= 0; the caller guarantees
    the sum fits it), then ``max(., 0)`` if ``relu``; same shape as ``a``. Returns the sums,
    where they are positive (the fused ReLU's gradient mask; None without ``relu``) and their
    largest magnitude, all from one pass."""
    return _add(a, shift_a, b, shift_b, 0, 0, 0, relu, dtype)


def rescale_add(fine: np.ndarray, coarse: np.ndarray, multiplier: int, shift: int, lo: int,
                hi: int, relu: bool = False,
                dtype=np.int64) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``fine + clamp(round_even(coarse * multiplier / 2**shift), lo, hi)`` in ``dtype``
    (``multiplier >= 1``, ``1 <= shift <= 62``, ``|coarse * multiplier| < 2**62``: the caller
    checks), then ``max(., 0)`` if ``relu``: :func:`fxsim.requantize`'s fixed-point rescale of
    ``coarse`` (ties to even, saturating) and the add, in one pass; returns as
    :func:`shift_add`."""
    return _add(fine, 0, coarse, shift, multiplier, lo, hi, relu, dtype)


@numba.njit(cache=True, nogil=True)
def _where(values, mask, out, start, stop):  # pragma: no cover - compiled
    zero = values.dtype.type(0)
    for c in range(start, stop):
        first, last = c * CHUNK, min(out.size, (c + 1) * CHUNK)
        part, part_mask, part_out = values[first:last], mask[first:last], out[first:last]
        for i in range(last - first):
            part_out[i] = part[i] if part_mask[i] else zero


def keep_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` is True, zero elsewhere (a new array of values' dtype)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    flat_mask = np.ascontiguousarray(mask).reshape(-1)
    out = np.empty_like(flat)
    if out.size:
        _run(_where, out.size, flat, flat_mask, out)
    return out.reshape(values.shape)


@numba.njit(cache=True, nogil=True)
def _clamp(values, low, high, out, inside, outside, start, stop):  # pragma: no cover - compiled
    for c in range(start, stop):
        first, last = c * CHUNK, min(out.size, (c + 1) * CHUNK)
        part, part_inside, part_out = values[first:last], inside[first:last], out[first:last]
        count = 0
        for i in range(last - first):
            v = part[i]
            ok = (v >= low) & (v <= high)
            part_inside[i] = ok
            part_out[i] = min(max(v, low), high)
            count += 1 - ok
        outside[c] = count


def clamp_tracked(values: np.ndarray, low: int, high: int,
                  dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, int]:
    """``(np.clip(values, low, high).astype(dtype), (values >= low) & (values <= high), the
    count of False in that mask)`` for integer ``values`` and bounds that ``dtype`` holds, in
    one pass: the clamp of a quantizer that tracks what it clamped (the straight-through mask)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    out = np.empty(flat.size, dtype=dtype)
    inside = np.empty(flat.size, dtype=np.bool_)
    outside = np.zeros(_jobs(flat.size), dtype=np.int64)
    if flat.size:
        _run(_clamp, flat.size, flat, np.int64(low), np.int64(high), out, inside, outside)
    return out.reshape(values.shape), inside.reshape(values.shape), int(outside.sum())
