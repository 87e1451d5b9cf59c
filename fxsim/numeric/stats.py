"""What a conversion did: how many elements saturated, wrapped or were NaN, and its seed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class QuantStats:
    """Counts from one :func:`fxsim.quantize` or :func:`fxsim.requantize` call.

    Frozen. :class:`fxsim.ops.AccStats` extends it for the integer kernels' accumulators.

    Parameters
    ----------
    size : int
        Elements converted.
    saturated : int, default 0
        Elements whose rounded code was outside the format's range (or ``clip``) and was
        clamped (``overflow="saturate"``; rounding comes first, so ``1.5`` to an unsigned
        1-bit format under ``nearest_even`` rounds to 2 and counts, though the clamped 1 is
        within half an LSB). ``+-inf`` inputs count.
    wrapped : int, default 0
        Elements whose rounded code was out of range and kept only its low bits
        (``overflow="wrap"``).
    nan : int, default 0
        NaN inputs mapped to code 0 under ``nan="zero"``.
    seed : int or None, default None
        The seed that keyed the random numbers of a stochastic mode (the one drawn if the call
        passed none); None for deterministic modes.
    stream : int, default 0
        The stream passed (recorded for every mode). Passing ``seed`` and ``stream`` back
        repeats the call bit for bit.
    max_abs : int or None, default None
        The largest ``|code|`` of the result when the kernel that wrote it found it on the way
        (exact adds, the ``int8`` path's products), else None: the range statistic of a
        min-max quantizer without another pass over the codes. Neither compared nor shown
        (kernels differ in what they find, not in their results).
    rounded : fxsim.numeric.fused.RoundedCodes or None, default None
        These codes already converted to another format by the kernel that wrote them (the
        ``int8`` products' output pass, asked with ``output_rounding``):
        :func:`fxsim.requantize` returns them when asked for exactly that conversion
        (:mod:`fxsim.numeric.fused`). Neither compared nor shown.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import QFormat, quantize
    >>> quantize(np.array([1.5, 0.2, -3.0]), QFormat(1, 0, signed=False)).stats
    QuantStats(size=3, saturated=2, wrapped=0, nan=0, seed=None, stream=0)
    """

    size: int
    saturated: int = 0
    wrapped: int = 0
    nan: int = 0
    seed: int | None = None
    stream: int = 0
    max_abs: int | None = field(default=None, compare=False, repr=False)
    # a fxsim.numeric.fused.RoundedCodes (not imported: the cost model reads these stats'
    # module without the kernels that one needs)
    rounded: object = field(default=None, compare=False, repr=False)

    @property
    def overflowed(self) -> int:
        """Elements that were out of range, whatever the overflow mode did: saturated + wrapped."""
        return self.saturated + self.wrapped
