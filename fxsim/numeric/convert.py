"""Float arrays to fixed-point codes, and codes from one format to another.

Both functions are exact: the result is the mathematically defined rounding of the real input
(see :mod:`fxsim.numeric.rounding`), never a float computation that happens to be close.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric import _convert_kernels as kernels
from fxsim.numeric import _user_convert
from fxsim.numeric.conversion import Conversion, check_format
from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.formats import MULTIPLIER_BITS, FxArray, QFormat, check_step
from fxsim.numeric.lfsr import RandomSource
from fxsim.numeric.multiplier import rescale_multiplier
from fxsim.numeric.rounding import NAN_POLICIES
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


def _flat_values(values: np.ndarray | DeferredFloat, multiplier: int) -> np.ndarray:
    """The flat values as an array: a deferred tensor materialized, codes times
    ``multiplier`` (int64) for a real-step rescale."""
    flat = (values.values() if isinstance(values, DeferredFloat) else values).reshape(-1)
    return flat.astype(np.int64) * np.int64(multiplier) if multiplier != 1 else flat


def _convert(values: np.ndarray | DeferredFloat, fmt: QFormat, step: float, scale_exp: int,
             conversion: Conversion,
             multiplier: int = 1) -> tuple[np.ndarray, QuantStats, int]:
    """Run the conversion kernels on ``values * 2**scale_exp`` (or ``values / step`` if
    ``step > 0``); returns (codes, QuantStats, count of +-inf inputs).

    Float64 ``values`` go through the float fast loop and then, for the elements it flags, the
    exact pass; integer codes, times ``multiplier`` (a real step's fixed-point rescale), through
    the integer loop. ``force_exact`` (and ``wrap`` for floats) sends every element to the
    exact pass. A :class:`~fxsim.numeric.deferred.DeferredFloat` is computed block by block for
    the fast loop, and materialized only for the exact pass."""
    target = conversion.for_values(values.size)
    out = np.empty(values.shape, dtype=fmt.dtype)
    # Kernels are compiled per output dtype; to bound that, they see signed outputs only. An
    # unsigned output is written through a signed view of the same width: the stored low bits
    # are the same.
    flat_out = out.reshape(-1).view(out.dtype.str.replace("u", "i"))
    deferred = isinstance(values, DeferredFloat)
    scale_exp = max(-_FRAC_CLAMP, min(_FRAC_CLAMP, scale_exp))
    integer_codes = values.dtype.kind in "iu"
    scale_ok = step > 0 or -1022 <= scale_exp <= 1023  # 2**scale_exp is a normal float64
    force = conversion.force_exact or (not integer_codes and (target.wrap or not scale_ok))
    # the float loop compares with float(hi) + 1, exact for a format's own bound (a power of two
    # minus one) but not for an arbitrary clip bound beyond 2**53
    force = force or (conversion.clipped and not integer_codes and fmt.bits > 53)
    events = flagged = nans = infs = 0
    if conversion.rule is not None:  # a registered rule (fxsim.numeric.user_rounding)
        events, nans, infs = _user_convert.convert(_flat_values(values, multiplier), flat_out,
                                                   conversion.rule, target, step, scale_exp)
        force = False
    elif not force and integer_codes:
        events = kernels.requantize_codes(values.reshape(-1), flat_out, target, -scale_exp,
                                          multiplier)
    elif not force:
        scale = 2.0**scale_exp if step == 0 else 1.0
        quantize_floats = kernels.quantize_deferred if deferred else kernels.quantize_floats
        events, flagged = quantize_floats(values if deferred else values.reshape(-1), flat_out,
                                          target, scale, float(step))
    if force or flagged:
        extra_events, nans, infs = kernels.exact_codes(
            _flat_values(values, multiplier), flat_out, target, None if force else flagged, step,
            scale_exp)
        events += extra_events
    stats = QuantStats(
        size=out.size,
        saturated=0 if target.wrap else int(events),
        wrapped=int(events) if target.wrap else 0,
        nan=int(nans),
        seed=conversion.seed,
        stream=conversion.stream,
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
    random_source: RandomSource | None = None,
) -> FxArray:
    """Quantize the real array ``x`` to integer codes of ``fmt``.

    Each element is scaled to LSB units, ``y = x * 2**fmt.frac`` (exactly: see Notes), rounded
    to an integer by ``rounding`` (:mod:`fxsim.numeric.rounding`) and fitted into the format by
    ``overflow``.

    Parameters
    ----------
    x : array_like, float or DeferredFloat
        Real values: float64, or float32, int or bool (converted to float64 first, exactly);
        or a :class:`~fxsim.numeric.deferred.DeferredFloat`, whose values are computed block by
        block and rounded in cache (materialized only where the exact pass needs them), with
        the result of ``quantize(x.values(), ...)``, bit for bit.
    fmt : QFormat
        The target format: word length, signedness and (without ``step``) the scale.
    rounding : str, default "nearest_even"
        A mode of :data:`~fxsim.numeric.rounding.ROUNDING_MODES`, the alias ``rtz``, or a rule
        registered with :func:`fxsim.register_rounding` (its own path: exact, slower).
    overflow : {"saturate", "wrap"}, default "saturate"
        ``saturate`` clamps to ``[fmt.min_code, fmt.max_code]``; ``wrap`` keeps the low
        ``fmt.bits`` bits (two's complement modulo ``2**bits``).
    seed : int or None, default None
        Key (0..2**64-1) of the stochastic modes' random integers, which are a function of
        ``(seed, stream, flat C-order element index)`` (:mod:`fxsim.numeric.rng`). None draws a
        fresh seed and records it in the result's ``stats.seed``. Deterministic modes ignore it.
    step : float or None, default None
        A real quantization interval (finite, > 0) replacing ``2**-frac``: ``y = x / step`` in
        float64 (correctly rounded division, the one float rounding in fxsim's quantizers); the
        codes' value is ``q * step``; ``fmt.frac`` is ignored for scaling.
    random_bits : int or None, default None
        ``k`` of ``stochastic_k``, required there, 1..32. ``stochastic`` (62 random bits)
        accepts only 62; the deterministic modes accept only None.
    stream : int, default 0
        Second key (>= 0) of the random integers: another stream, other random numbers.
    nan : {"raise", "zero"}, default "raise"
        ``zero`` maps NaN to code 0 and counts it in ``stats.nan``.
    force_exact : bool, default False
        Evaluate every element on integers (slower; the result is identical).
    clip : (int, int) or None, default None
        Saturate to the codes ``(low, high)`` instead of the format's range (inside it; with
        ``overflow="saturate"`` only): a symmetric range such as ``(-127, 127)``, or CQAT's code
        bits. Elements clamped there count as saturated.
    random_source : RandomSource or None, default None
        Where the stochastic modes' random integers come from: None, fxsim's counter-based
        generator keyed by ``(seed, stream, flat element index)``; ``RandomSource("lfsr",
        width, lanes)``, the LFSRs the RTL builds (:mod:`fxsim.numeric.lfsr`, seeded from
        ``(seed, stream, lane)``): the random bits the hardware would use. Either way the
        result does not depend on thread count or chunking.

    Returns
    -------
    FxArray
        Codes of ``x``'s shape with dtype ``fmt.dtype``, the given ``step``, and a
        :class:`~fxsim.QuantStats` in ``.stats``: elements saturated or wrapped (those whose
        rounded code left the range: rounding comes first, so a tie rounding outward counts),
        NaNs mapped to 0, and the seed (None for deterministic modes) and stream.

    Raises
    ------
    TypeError
        ``fmt`` not a QFormat; ``x`` complex, object or string; ``rounding`` not a string;
        ``seed``, ``stream``, ``random_bits`` or a ``clip`` bound not an integer.
    ValueError
        An unknown ``rounding``, ``overflow`` or ``nan``; a bad ``step``, ``random_bits``,
        ``seed``, ``stream`` or ``clip``; integers beyond ``2**53`` in ``x`` (use an FxArray and
        :func:`requantize`); NaN unless ``nan="zero"``; +-inf under ``wrap`` (else it saturates).

    Notes
    -----
    The scaling never overflows or underflows. Where float64 holds ``y`` exactly, the rounding
    runs in float64 arithmetic exact there; the rest (subnormal results, ``|y| >= 2**62``,
    +-inf, NaN; every element under ``wrap`` or ``force_exact``) is evaluated on the float's
    integer mantissa and exponent, with identical codes. Arrays of ``2**17`` elements or more
    are split over ``numba.get_num_threads()`` threads, with the same result.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import QFormat, quantize
    >>> q = quantize(np.array([0.3, -1.26, 9.0]), QFormat(8, 4))  # LSB 1/16, codes -128..127
    >>> q.raw.tolist(), q.stats.saturated
    ([5, -20, 127], 1)
    >>> quantize(np.array([2.5, 3.5, -2.5]), QFormat(8, 0), "nearest_even").raw.tolist()
    [2, 4, -2]
    """
    if nan not in NAN_POLICIES:
        raise ValueError(f"nan must be one of {', '.join(NAN_POLICIES)}; got {nan!r}")
    check_format(fmt)
    values = x if isinstance(x, DeferredFloat) else _float_input(x, "x")
    if step is not None:
        step = check_step(step)
    conversion = Conversion.checked(fmt, rounding, overflow, random_bits, seed, stream,
                                     force_exact, clip, random_source)
    out, stats, infs = _convert(values, fmt, step or 0.0, fmt.frac, conversion)
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
    random_source: RandomSource | None = None,
) -> FxArray:
    """Convert the codes of ``q`` to ``fmt`` with integer operations only.

    With ``shift = q.fmt.frac - fmt.frac``: a right shift by ``shift`` with ``rounding`` applied
    to the dropped bits when ``shift > 0``; an exact left shift by ``-shift`` otherwise. Then
    ``overflow`` as in :func:`quantize`. The result equals ``quantize(q.to_float(), fmt, ...)``
    whenever the latter is exact, for every mode (including the stochastic ones, given the same
    seed and stream). Codes of any integer dtype are shifted as they are (no int64 copy).

    When ``q.stats.rounded`` holds codes that the kernel which made ``q`` already converted
    (:mod:`fxsim.numeric.fused`) and the conversion asked for is exactly theirs, they are
    returned instead of converting again: the same codes and counts.

    Real steps: when ``q`` carries a ``step`` or a target ``step`` is given, the codes are
    multiplied by the integer ``M = round(q.lsb / lsb_out * 2**n)`` of ``multiplier_bits`` bits
    (:func:`fixed_point_multiplier`; ``lsb_out`` is ``step``, else ``fmt.lsb``) and shifted
    right by ``n`` with ``rounding``: the fixed-point rescale of integer-only inference engines
    (DESIGN.md). The result is that of the integer ``M``, not of the exact ratio: it can differ
    from ideal rounding by M's relative error, below ``2**-(multiplier_bits - 1)``.

    Parameters
    ----------
    q : FxArray
        The codes, their format and (optionally) their real ``step``.
    fmt : QFormat
        The target format.
    rounding, overflow, seed, random_bits, stream
        As in :func:`quantize`.
    step : float or None, default None
        The result's real LSB (finite, > 0) replacing ``2**-fmt.frac``; None: ``fmt.lsb``.
    multiplier_bits : int, default 31
        Width of ``M`` for a real-step rescale, 2..53.
    force_exact, clip, random_source
        As in :func:`quantize`.

    Returns
    -------
    FxArray
        Codes of ``q``'s shape with dtype ``fmt.dtype``, ``step`` as given (None otherwise, even
        if ``q`` had one) and a :class:`~fxsim.QuantStats` in ``.stats``, as :func:`quantize`.

    Raises
    ------
    TypeError
        ``q`` not an FxArray (use :func:`quantize` for floats); otherwise as :func:`quantize`.
    ValueError
        As :func:`quantize` (bad options; there is no NaN or inf in codes), a bad ``step`` or
        ``multiplier_bits``, or codes times ``M`` beyond 62 bits (pass a smaller
        ``multiplier_bits``).

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, requantize
    >>> q = FxArray(np.array([5, -5, 7, 6], dtype=np.int8), QFormat(8, 2))  # 1.25, -1.25, ...
    >>> requantize(q, QFormat(4, 0), "nearest_even").raw.tolist()
    [1, -1, 2, 2]
    >>> g = FxArray(np.array([3, -1, 5], dtype=np.int8), QFormat(4, 0), step=0.37)
    >>> requantize(g, QFormat(8, 0), step=0.05).raw.tolist()  # 1.11 / 0.05 = 22.2, ...
    [22, -7, 37]
    """
    if not isinstance(q, FxArray):
        raise TypeError(f"q must be an FxArray, got {type(q).__name__}; use quantize for floats")
    check_format(fmt)
    if step is not None:
        step = check_step(step)
    codes = np.ascontiguousarray(q.raw)
    multiplier, shift = requantize_scaling(q, fmt, step, multiplier_bits)
    conversion = Conversion.checked(fmt, rounding, overflow, random_bits, seed, stream,
                                     force_exact, clip, random_source)
    ahead = getattr(q.stats, "rounded", None)  # converted in the output pass of q's kernel
    if (ahead is not None and not conversion.force_exact
            and ahead.take(q.raw, conversion.target, shift, multiplier) is not None):
        stats = QuantStats(size=q.size, saturated=ahead.saturated, seed=conversion.seed,
                           stream=conversion.stream)
        return FxArray(ahead.codes, fmt, stats=stats, check=False, step=step)
    out, stats, _ = _convert(codes, fmt, 0.0, -shift, conversion, multiplier)
    return FxArray(out, fmt, stats=stats, check=False, step=step)


def requantize_scaling(q: FxArray, fmt: QFormat, step: float | None = None,
                       multiplier_bits: int = MULTIPLIER_BITS) -> tuple[int, int]:
    """The ``(multiplier, shift)`` that :func:`requantize` applies to ``q``'s codes for
    ``fmt`` and ``step`` (code times multiplier, then a rounding right shift by ``shift``):
    ``(1, q.fmt.frac - fmt.frac)`` between power-of-two LSBs, else the checked fixed-point
    multiplier of :func:`~fxsim.numeric.multiplier.rescale_multiplier` (multiplied in the
    conversion loop, no int64 copy)."""
    if q.step is None and step is None:
        return 1, q.fmt.frac - fmt.frac
    return rescale_multiplier(q, step if step is not None else fmt.lsb, multiplier_bits)
