"""Float arrays to fixed-point codes, and codes from one format to another.

Both functions are exact: the result is the mathematically defined rounding of the real input
(see :mod:`fxsim.numeric.rounding`), never a float computation that happens to be close.
"""

from __future__ import annotations

import math

import numpy as np

from fxsim.numeric import _convert_kernels as kernels
from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.formats import MULTIPLIER_BITS, FxArray, QFormat, check_int, check_step
from fxsim.numeric.rng import fresh_seed, stream_key
from fxsim.numeric.rounding import (
    NAN_POLICIES,
    OVERFLOW_IDS,
    ROUNDING_IDS,
    canonical_rounding,
    check_overflow,
    random_bits_for,
)
from fxsim.numeric.stats import QuantStats

_FRAC_CLAMP = 1 << 20  # past this, frac changes no result (|mantissa| < 2**62, exponents < 2**11)


def _float_input(x: object, name: str) -> np.ndarray:
    """``x`` as a C-contiguous float64 array; refuses complex, object, string and inexact ints."""
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        return np.asarray(arr, dtype=np.float64, order="C")
    if kind in "biu":
        as_float = arr.astype(np.float64)
        if arr.size and kind in "iu" and np.abs(arr).max() > 2**53:
            raise ValueError(
                f"{name} holds integers beyond 2**53, which float64 cannot hold exactly; "
                "wrap them in an FxArray and use requantize"
            )
        return np.asarray(as_float, order="C")
    raise TypeError(
        f"{name} must be a real numeric array (bool, int or float), got dtype {arr.dtype}"
    )


def _mode_args(rounding: str, overflow: str, random_bits: int | None, seed, stream):
    """Validated kernel arguments shared by quantize and requantize."""
    name = canonical_rounding(rounding)
    check_overflow(overflow)
    kbits = random_bits_for(name, random_bits)
    stream = check_int("stream", stream, 0)
    if kbits:
        seed = fresh_seed() if seed is None else check_int("seed", seed, 0, 2**64 - 1)
        key = np.uint64(stream_key(seed, stream))
    else:
        seed, key = None, np.uint64(0)
    return ROUNDING_IDS[name], kbits, seed, stream, key, OVERFLOW_IDS[overflow] == 1


def _check_format(fmt: QFormat) -> None:
    if not isinstance(fmt, QFormat):
        raise TypeError(f"fmt must be a QFormat, got {fmt!r}")


def _clip_bounds(fmt: QFormat, clip, overflow: str) -> tuple[int, int]:
    """The saturation bounds: the format's range, or ``clip = (low, high)`` inside it."""
    if clip is None:
        return fmt.min_code, fmt.max_code
    try:
        low, high = (check_int("clip", v) for v in clip)
    except TypeError:
        raise TypeError(f"clip must be a pair of integer codes (low, high), got {clip!r}") from None
    if not fmt.min_code <= low <= high <= fmt.max_code:
        raise ValueError(f"clip must satisfy {fmt.min_code} <= low <= high <= {fmt.max_code} "
                         f"(the range of {fmt}); got {clip!r}")
    if overflow != "saturate":
        raise ValueError(f"clip applies only with overflow='saturate'; got overflow={overflow!r}")
    return low, high


def _convert(values: np.ndarray | DeferredFloat, fmt: QFormat, step: float, scale_exp: int,
             rounding: str, overflow: str, random_bits, seed, stream, force_exact: bool,
             clip=None, multiplier: int = 1):
    """Run the conversion kernels; returns (codes, QuantStats, count of +-inf inputs).

    Float64 ``values`` go through the float fast loop and then, for the elements it flags, the
    exact pass; integer codes, times ``multiplier`` (a real step's fixed-point rescale), through
    the integer loop. ``force_exact`` (and ``wrap`` for floats) sends every element to the
    exact pass. A :class:`DeferredFloat` is computed block by block for the fast loop, and
    materialized only for the exact pass."""
    mode, kbits, seed, stream, key, wrap = _mode_args(rounding, overflow, random_bits, seed, stream)
    out = np.empty(values.shape, dtype=fmt.dtype)
    # Kernels are compiled per output dtype; to bound that, they see signed outputs only. An
    # unsigned output is written through a signed view of the same width: the stored low bits
    # are the same.
    flat_out = out.reshape(-1).view(out.dtype.str.replace("u", "i"))
    deferred = isinstance(values, DeferredFloat)
    scale_exp = max(-_FRAC_CLAMP, min(_FRAC_CLAMP, scale_exp))
    (lo, hi), bits = _clip_bounds(fmt, clip, overflow), fmt.bits
    integer_codes = values.dtype.kind in "iu"
    scale_ok = step > 0 or -1022 <= scale_exp <= 1023  # 2**scale_exp is a normal float64
    force = force_exact or (not integer_codes and (wrap or not scale_ok))
    # the float loop compares with float(hi) + 1, exact for a format's own bound (a power of two
    # minus one) but not for an arbitrary clip bound beyond 2**53
    force = force or (clip is not None and not integer_codes and bits > 53)
    events = flagged = nans = infs = 0
    if not force and integer_codes:
        events = kernels.requantize_codes(values.reshape(-1), flat_out, mode, -scale_exp, key,
                                          kbits, lo, hi, bits, fmt.signed, wrap, multiplier)
    elif not force:
        scale = 2.0**scale_exp if step == 0 else 1.0
        quantize_floats = kernels.quantize_deferred if deferred else kernels.quantize_floats
        events, flagged = quantize_floats(values if deferred else values.reshape(-1), flat_out,
                                          mode, scale, float(step), key, kbits, lo, hi)
    if force or flagged:
        flat_values = (values.values() if deferred else values).reshape(-1)
        if multiplier != 1:
            flat_values = flat_values.astype(np.int64) * np.int64(multiplier)
        extra_events, nans, infs = kernels.exact_codes(
            flat_values, flat_out, None if force else flagged, step, scale_exp, mode, kbits, key,
            lo, hi, bits, fmt.signed, wrap)
        events += extra_events
    stats = QuantStats(
        size=out.size,
        saturated=0 if wrap else int(events),
        wrapped=int(events) if wrap else 0,
        nan=int(nans),
        seed=seed,
        stream=stream,
    )
    return out, stats, int(infs)


def quantize(
    x: np.ndarray | float | DeferredFloat,
    fmt: QFormat,
    rounding: str = "nearest_even",
    overflow: str = "saturate",
    seed: int | None = None,
    step: float | None = None,
    *,
    random_bits: int | None = None,
    stream: int = 0,
    nan: str = "raise",
    force_exact: bool = False,
    clip: tuple[int, int] | None = None,
) -> FxArray:
    """Quantize the real array ``x`` to codes of ``fmt``.

    Each element is scaled to LSB units, ``y = x * 2**frac`` (exact, with no overflow or
    underflow: where float64 could not hold ``y`` exactly, the element is evaluated on the
    float's integer mantissa and exponent), rounded to an integer by ``rounding`` (see
    :mod:`fxsim.numeric.rounding`) and fitted by ``overflow``: ``saturate`` clamps to
    ``[fmt.min_code, fmt.max_code]``, ``wrap`` keeps the low ``fmt.bits`` bits.

    ``step``: a real quantization interval (> 0) replacing ``2**-frac``. Then ``y = x / step``
    is computed in float64 (correctly rounded division, the one float rounding in fxsim's
    quantizers) and rounded as above; the codes' value is ``q * step``, and ``fmt.frac`` is
    ignored for scaling.

    Stochastic modes draw their random integers from ``(seed, stream, flat element index)``
    (:mod:`fxsim.numeric.rng`); with ``seed=None`` a fresh seed is drawn and recorded in the
    result's
    ``stats.seed``. ``+-inf`` saturates (and is refused under ``wrap``, where it has no low
    bits). NaN raises ValueError unless ``nan="zero"``, which maps it to code 0 and counts it in
    ``stats.nan``. Inputs of dtype float32, int or bool are converted to float64 first (exact).
    ``force_exact`` evaluates every element on integers (slower; the result is identical).
    ``clip=(low, high)`` saturates to these codes instead of the format's range (inside it; with
    ``overflow="saturate"`` only): a symmetric range such as ``[-127, 127]``, or CQAT's code
    bits; elements clamped there count as saturated.

    ``x`` may be a :class:`~fxsim.numeric.deferred.DeferredFloat`: its values are computed
    block by block and rounded in cache (materialized only where the exact pass needs them);
    the result is that of ``quantize(x.values(), ...)``, bit for bit.

    Returns an :class:`FxArray` of ``x``'s shape with codes of dtype ``fmt.dtype`` and a
    :class:`QuantStats` in ``.stats``.
    """
    if nan not in NAN_POLICIES:
        raise ValueError(f"nan must be one of {', '.join(NAN_POLICIES)}; got {nan!r}")
    _check_format(fmt)
    values = x if isinstance(x, DeferredFloat) else _float_input(x, "x")
    if step is not None:
        step = check_step(step)
    out, stats, infs = _convert(values, fmt, step or 0.0, fmt.frac, rounding, overflow,
                                random_bits, seed, stream, force_exact, clip)
    if stats.nan and nan == "raise":
        raise ValueError(
            f"x contains {stats.nan} NaN value(s); pass nan='zero' to map NaN to code 0 and "
            "count it"
        )
    if infs and overflow == "wrap":
        raise ValueError(
            f"x contains {infs} infinite value(s), which have no wrapped value under "
            "overflow='wrap'; use overflow='saturate' or remove them"
        )
    return FxArray(out, fmt, stats=stats, check=False, step=step)



def fixed_point_multiplier(ratio: float, bits: int = MULTIPLIER_BITS) -> tuple[int, int]:
    """``(M, n)`` with ``M = round(ratio * 2**n)`` (ties to even) an integer of exactly ``bits``
    bits (``2**(bits-1) <= M < 2**bits``): the fixed-point multiplier that moves codes of LSB
    ``s_in`` to LSB ``s_out`` for ``ratio = s_in / s_out``, as integer-only inference engines do.
    ``ratio * 2**n`` is exact in float64 (a power-of-two scaling); ``n`` may be negative."""
    bits = check_int("multiplier_bits", bits, 2, 53)
    ratio = check_step(ratio, "ratio")
    _, exponent = math.frexp(ratio)
    shift = bits - exponent
    multiplier = int(np.rint(math.ldexp(ratio, shift)))
    if multiplier == 1 << bits:  # rounded up to the next power of two
        multiplier, shift = multiplier >> 1, shift - 1
    return multiplier, shift


def rescale_multiplier(q: FxArray, lsb_out: float, multiplier_bits: int) -> tuple[int, int]:
    """The fixed-point multiplier ``M`` and right shift ``n`` taking ``q``'s codes to
    ``lsb_out`` (:func:`fixed_point_multiplier`), checked: ``q.raw * M`` must stay below
    2**62 (from the format when that proves it, else from the largest code)."""
    multiplier, shift = fixed_point_multiplier(q.lsb / lsb_out, multiplier_bits)
    if q.fmt.bits + multiplier.bit_length() <= 62:  # |code| < 2**bits: no scan needed
        return multiplier, shift
    largest = int(np.abs(q.raw.astype(np.int64)).max()) if q.raw.size else 0
    if largest.bit_length() + multiplier.bit_length() > 62:
        raise ValueError(
            f"q's codes reach {largest} ({largest.bit_length()} bits); times a "
            f"{multiplier_bits}-bit multiplier that exceeds 62 bits: pass a smaller "
            "multiplier_bits"
        )
    return multiplier, shift


def requantize(
    q: FxArray,
    fmt: QFormat,
    rounding: str = "nearest_even",
    overflow: str = "saturate",
    seed: int | None = None,
    *,
    random_bits: int | None = None,
    stream: int = 0,
    step: float | None = None,
    multiplier_bits: int = MULTIPLIER_BITS,
    force_exact: bool = False,
    clip: tuple[int, int] | None = None,
) -> FxArray:
    """Convert the codes of ``q`` to ``fmt`` with integer operations only.

    With ``shift = q.fmt.frac - fmt.frac``: a right shift by ``shift`` with ``rounding`` applied
    to the dropped bits when ``shift > 0``; an exact left shift by ``-shift`` otherwise. Then
    ``overflow`` as in :func:`quantize`. ``seed``/``stream``/``random_bits``/``clip`` as in
    :func:`quantize`. The result equals ``quantize(q.to_float(), fmt, ...)`` whenever the
    latter is exact, for every mode (including the stochastic ones, given the same seed).
    Codes of any integer dtype are read as they are (no int64 copy of the array).

    Real steps: when ``q`` carries a ``step`` or a target ``step`` is given (the result's LSB,
    replacing ``2**-fmt.frac``), the codes are multiplied by the integer
    ``M = round(q.lsb / lsb_out * 2**n)`` of ``multiplier_bits`` bits
    (:func:`fixed_point_multiplier`) and shifted right by ``n`` with ``rounding``: the
    fixed-point rescale of integer-only inference engines (DESIGN.md). The result is that of
    the integer ``M``, not of the exact real ratio: it can differ from ideal rounding by the
    multiplier's relative error, below ``2**-(multiplier_bits - 1)``.
    """
    if not isinstance(q, FxArray):
        raise TypeError(f"q must be an FxArray, got {type(q).__name__}; use quantize for floats")
    _check_format(fmt)
    if step is not None:
        step = check_step(step)
    codes = np.ascontiguousarray(q.raw)
    if q.step is None and step is None:
        multiplier, shift = 1, q.fmt.frac - fmt.frac
    else:  # codes times M, multiplied in the conversion loop (no int64 copy)
        multiplier, shift = rescale_multiplier(q, step if step is not None else fmt.lsb,
                                               multiplier_bits)
    out, stats, _ = _convert(codes, fmt, 0.0, -shift, rounding, overflow, random_bits, seed,
                             stream, force_exact, clip, multiplier)
    return FxArray(out, fmt, stats=stats, check=False, step=step)
