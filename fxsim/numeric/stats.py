"""What a conversion did: how many elements saturated, wrapped or were NaN, and its seed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class QuantStats:
    """Counts from one :func:`fxsim.quantize` or :func:`fxsim.requantize` call.

    ``saturated``: elements whose rounded code was outside the format's range and was clamped
    (``overflow="saturate"``; rounding comes first, so ``1.5`` to an unsigned 1-bit format
    under ``nearest_even`` rounds to 2 and counts, though the clamped 1 is within half an LSB);
    ``wrapped``: elements whose rounded code was out of range and kept only its low bits
    (``overflow="wrap"``); ``nan``: NaN inputs mapped to code 0 under ``nan="zero"``;
    ``size``: elements converted. ``seed`` and ``stream`` key the random numbers of the
    stochastic modes (``None`` for deterministic modes): passing them back repeats the call
    bit for bit. ``max_abs``: the largest ``|code|`` of the result when the kernel that wrote
    it found it on the way (exact adds, the ``int8`` path's products), else None: the range
    statistic of a min-max quantizer without another pass over the codes (neither compared
    nor shown: kernels differ in what they find, not in their results).
    """

    size: int
    saturated: int = 0
    wrapped: int = 0
    nan: int = 0
    seed: int | None = None
    stream: int = 0
    max_abs: int | None = field(default=None, compare=False, repr=False)

    @property
    def overflowed(self) -> int:
        """Elements that were out of range, whatever the overflow mode did with them."""
        return self.saturated + self.wrapped

    @property
    def overflow_rate(self) -> float:
        """``overflowed / size`` (0.0 for an empty array)."""
        return self.overflowed / self.size if self.size else 0.0
