"""Integer arithmetic between code tensors of different scales: the residual add, the sum of
gradients at a fork, the sum of the class groups' weight-gradient accumulators.

Two tensors with power-of-two LSBs are added exactly: the one with fewer fraction bits is
shifted left to the other's fraction length (an exact integer shift) and the codes are added in
int64; the result has ``frac = max(frac_a, frac_b)`` and a word length wide enough for the sum.
When that shift would overflow int64, the finer tensor is instead shifted right with
``nearest_even`` rounding (its lowest bits are lost; documented in :func:`add`).

With a real step on either side (ARC's or the INT4 paper's intervals), the coarser tensor is
moved to the finer one's LSB by the fixed-point multiplier of :func:`fxsim.requantize`
(``M = round(ratio * 2**n)``, then a rounding shift, ties to even): the result differs from the
exact real sum by at most half that LSB plus the multiplier's relative error, as a hardware
rescale unit would. Float arrays (the ``fp`` baseline) are added in float64.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric import _code_kernels
from fxsim.numeric.convert import MULTIPLIER_BITS, requantize
from fxsim.numeric.formats import FxArray, QFormat
from fxsim.numeric.multiplier import rescale_multiplier
from fxsim.numeric.stats import QuantStats

INT64_CODE_BITS = 62  # codes of intermediate sums stay below 2**62


def max_abs_code(x: FxArray) -> int:
    """The largest ``|code|`` in ``x`` (0 when empty), as a Python int (one pass)."""
    return int(_code_kernels.max_abs(x.raw))


def multiplier_bits_for(x: FxArray) -> int:
    """The widest fixed-point multiplier (at most :data:`~fxsim.numeric.convert.MULTIPLIER_BITS`)
    whose product with every code of ``x`` stays below 2**62, as
    :func:`fxsim.requantize` needs for a real-step rescale (its relative error is below
    ``2**-(bits - 1)``)."""
    if _code_bits(x) + MULTIPLIER_BITS <= 62:
        return MULTIPLIER_BITS
    return max(2, min(MULTIPLIER_BITS, 62 - max_abs_code(x).bit_length()))


def _code_bits(x: FxArray) -> int:
    """Bits needed by the codes of ``x`` (magnitude bits plus sign), from its format."""
    return x.fmt.bits + (0 if x.fmt.signed else 1)


def _widen(x: FxArray, frac: int) -> FxArray:
    """``x`` at fraction length ``frac``: an exact left shift when ``frac >= x.fmt.frac``, else
    a rounding right shift (nearest_even)."""
    shift = frac - x.fmt.frac
    bits = min(INT64_CODE_BITS, _code_bits(x) + max(shift, 0))
    if shift >= 0:
        return FxArray(x.raw.astype(np.int64) << np.int64(shift), QFormat(bits, frac),
                       check=False)
    return requantize(x, QFormat(bits, frac), "nearest_even")


def sum_dtype(bits: int) -> np.dtype:
    """The dtype of a sum's codes of ``bits`` bits: int16, int32 or int64, the narrowest that
    holds them (narrow codes halve the memory the next passes read)."""
    return np.dtype(np.int16 if bits <= 16 else np.int32 if bits <= 32 else np.int64)


def add(a: FxArray | np.ndarray, b: FxArray | np.ndarray,
        relu: bool = False) -> FxArray | np.ndarray:
    """The sum of two tensors of the same shape, as integer codes (of :func:`sum_dtype`; see
    the module docstring for the scale of the result and when it is exact); float64 for float
    operands. ``relu``: ``max(sum, 0)`` (a fused ReLU, exact on the integer sum)."""
    return add_with_mask(a, b, relu)[0]


def add_with_mask(a: FxArray | np.ndarray, b: FxArray | np.ndarray,
                  relu: bool = False) -> tuple[FxArray | np.ndarray, np.ndarray | None]:
    """:func:`add`, and where the sum is positive (the fused ReLU's gradient mask; None
    without ``relu``), in the same pass where the shifts are exact."""
    if not isinstance(a, FxArray) or not isinstance(b, FxArray):
        if isinstance(a, FxArray) or isinstance(b, FxArray):
            raise TypeError("add: both operands must be FxArray codes, or both float arrays")
        total = np.maximum(a + b, 0.0) if relu else a + b
        return total, (total > 0 if relu else None)
    return _add_codes(a, b, relu)


def _add_codes(a: FxArray, b: FxArray, relu: bool) -> tuple[FxArray, np.ndarray | None]:
    if a.shape != b.shape:
        raise ValueError(f"add: shapes differ, {a.shape} and {b.shape}")
    if a.step is None and b.step is None:
        frac = max(a.fmt.frac, b.fmt.frac)
        need = max(_code_bits(a) + frac - a.fmt.frac, _code_bits(b) + frac - b.fmt.frac) + 1
        if need > INT64_CODE_BITS:  # lower the common fraction length until the sum fits
            frac -= need - INT64_CODE_BITS
        else:  # the common case: exact left shifts, one fused pass (max|sum| and mask too)
            bits = min(INT64_CODE_BITS, need)
            raw, mask, largest = _code_kernels.shift_add(
                a.raw, frac - a.fmt.frac, b.raw, frac - b.fmt.frac, relu, sum_dtype(bits))
            stats = QuantStats(size=raw.size, max_abs=largest)
            return FxArray(raw, QFormat(bits, frac), stats=stats, check=False), mask
        wa, wb = _widen(a, frac), _widen(b, frac)
        bits = min(INT64_CODE_BITS, max(wa.fmt.bits, wb.fmt.bits) + 1)
        return _relu(FxArray(wa.raw + wb.raw, QFormat(bits, frac), check=False), relu)
    fine, coarse = (a, b) if a.lsb <= b.lsb else (b, a)
    span = _code_bits(coarse) + int(np.ceil(np.log2(coarse.lsb / fine.lsb))) + 1
    bits = max(span, _code_bits(fine))
    if bits > INT64_CODE_BITS - 1:
        raise ValueError(f"add: the scales differ by a factor {coarse.lsb / fine.lsb:g}, too "
                         "much for int64 codes")
    moved_fmt = QFormat(bits, 0)
    out_fmt = QFormat(min(INT64_CODE_BITS, bits + 1), 0)
    multiplier_bits = multiplier_bits_for(coarse)
    multiplier, shift = rescale_multiplier(coarse, fine.lsb, multiplier_bits)
    if 1 <= shift <= 62:  # the common case: requantize's rescale and the add, one fused pass
        raw, mask, largest = _code_kernels.rescale_add(
            fine.raw, coarse.raw, multiplier, shift, moved_fmt.min_code, moved_fmt.max_code,
            relu, sum_dtype(out_fmt.bits))
        stats = QuantStats(size=raw.size, max_abs=largest)
        return FxArray(raw, out_fmt, stats=stats, check=False, step=fine.lsb), mask
    moved = requantize(coarse, moved_fmt, "nearest_even", step=fine.lsb,
                       multiplier_bits=multiplier_bits)
    total = fine.raw.astype(np.int64) + moved.raw.astype(np.int64)
    return _relu(FxArray(total, out_fmt, check=False, step=fine.lsb), relu)


def _relu(x: FxArray, relu: bool) -> tuple[FxArray, np.ndarray | None]:
    """``(max(x, 0), where it is positive)`` if ``relu``, else ``(x, None)``."""
    if not relu:
        return x, None
    out = x.with_raw(np.maximum(x.raw, 0))
    return out, out.raw > 0


def total(tensors: list) -> FxArray | np.ndarray:
    """The sum of a non-empty list of tensors by :func:`add`, left to right."""
    result = tensors[0]
    for t in tensors[1:]:
        result = add(result, t)
    return result
