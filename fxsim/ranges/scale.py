"""The scale a range rule chooses, and the two ways to derive one from a clipping value.

A :class:`Scale` is either a power of two (LSB ``2**-frac``) or a real interval ``step``, plus
the code range ``[code_min, code_max]`` the codes are clamped to. Everything here is float
arithmetic on statistics (one clipping value per tensor); nothing here touches codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fxsim.numeric.formats import MAX_BITS, QFormat, _pow2, check_int, check_step

SCALE_KINDS: tuple[str, ...] = ("pow2", "real")
SMALLEST_STEP = math.ulp(0.0)  # 5e-324: a real step never goes below the smallest float64


@dataclass(frozen=True)
class Scale:
    """The scale of one tensor's quantizer for one step.

    Exactly one of ``frac`` (LSB ``2**-frac``, an integer of any sign) and ``step`` (a real
    interval > 0, float64) is set. Codes are clamped to ``[code_min, code_max]`` (integers,
    ``code_min <= 0 < code_max``): symmetric rules use ``-(2**(b-1) - 1) .. 2**(b-1) - 1`` for
    ``b`` signed bits (the most negative two's-complement code is left unused) and
    ``0 .. 2**b - 1`` unsigned. ``clip`` is the clipping magnitude the rule chose (float64, for
    logging; 0.0 marks a tensor with no nonzero element).
    """

    frac: int | None
    step: float | None
    clip: float
    code_min: int
    code_max: int

    def __post_init__(self) -> None:
        if (self.frac is None) == (self.step is None):
            raise ValueError(
                f"a Scale needs exactly one of frac and step; got frac={self.frac!r}, "
                f"step={self.step!r}"
            )
        if self.frac is not None:
            object.__setattr__(self, "frac", check_int("frac", self.frac))
        else:
            object.__setattr__(self, "step", check_step(self.step))
        clip = float(self.clip)
        if not (math.isfinite(clip) and clip >= 0):
            raise ValueError(f"clip must be a finite real >= 0, got {self.clip!r}")
        object.__setattr__(self, "clip", clip)
        limit = 1 << (MAX_BITS - 1)
        code_min = check_int("code_min", self.code_min, -limit, 0)
        code_max = check_int("code_max", self.code_max, 1, 2 * limit - 1)
        object.__setattr__(self, "code_min", code_min)
        object.__setattr__(self, "code_max", code_max)

    @property
    def signed(self) -> bool:
        """Whether negative codes are allowed (``code_min < 0``)."""
        return self.code_min < 0

    @property
    def lsb(self) -> float:
        """The value of one code step as float64: ``step``, or ``2**-frac``."""
        return self.step if self.step is not None else _pow2(-self.frac)

    @property
    def max_value(self) -> float:
        """The largest representable value, ``code_max * lsb`` (float64)."""
        return self.code_max * self.lsb

    def format(self, bits: int | None = None, signed: bool | None = None) -> QFormat:
        """The :class:`QFormat` the codes live in: ``frac`` from the scale (0 for a real step,
        whose value the caller passes to :func:`fxsim.quantize` as ``step``), and by default the
        fewest bits that hold ``[code_min, code_max]`` (``signed`` defaults to
        ``code_min < 0``). A wider ``bits`` may be asked for; a narrower one is refused.

        The format's own range may be wider than ``[code_min, code_max]`` (a symmetric signed
        scale leaves ``-2**(bits-1)`` unused): saturating to the format does not apply the
        symmetric clamp; the caller clamps codes to ``[code_min, code_max]``.
        """
        signed = self.signed if signed is None else signed
        if not isinstance(signed, bool):
            raise TypeError(f"signed must be True, False or None, got {signed!r}")
        if signed:
            needed = 1 + max(self.code_max.bit_length(), (-self.code_min - 1).bit_length())
        elif self.code_min < 0:
            raise ValueError(f"signed=False cannot hold code_min={self.code_min}")
        else:
            needed = self.code_max.bit_length()
        if bits is None:
            bits = needed
        elif check_int("bits", bits, 1, MAX_BITS) < needed:
            raise ValueError(
                f"bits must be >= {needed} to hold codes [{self.code_min}, {self.code_max}]"
                f"{' signed' if signed else ''}, got {bits}"
            )
        return QFormat(bits, self.frac if self.frac is not None else 0, signed)


def symmetric_codes(bits: int, signed: bool) -> tuple[int, int]:
    """``(-(2**(bits-1) - 1), 2**(bits-1) - 1)`` if signed, else ``(0, 2**bits - 1)``."""
    if signed:
        top = (1 << (bits - 1)) - 1
        return -top, top
    return 0, (1 << bits) - 1


def ceil_log2(value: float) -> int:
    """``ceil(log2(value))`` for a finite float64 ``value > 0``, exactly (no float log)."""
    mantissa, exponent = math.frexp(value)  # value = mantissa * 2**exponent, 0.5 <= mantissa < 1
    return exponent - 1 if mantissa == 0.5 else exponent


def pow2_frac(clip: float, magnitude_bits: int) -> int:
    """The fraction length for clipping value ``clip > 0`` with ``magnitude_bits`` bits of
    magnitude (``bits - 1`` signed, ``bits`` unsigned):
    ``frac = magnitude_bits - ceil(log2(clip))``.

    The range top is then ``(2**magnitude_bits - 1) * 2**-frac = 2**ceil(log2(clip)) - LSB``,
    so ``2**ceil(log2(clip)) / 2 < clip <= range top + 1 LSB``: ``clip`` exceeds the range by
    at most one LSB (by exactly one LSB when ``clip`` is a power of two, whose value then
    saturates to the largest code), and the largest code is more than half the range. This is
    the integer length ``ceil(log2(max)) + 1`` (sign included) of dynamic fixed point.
    """
    return magnitude_bits - ceil_log2(clip)


def real_step(clip: float, divisor: float) -> float:
    """``clip / divisor`` (float64 division), never below the smallest positive float64."""
    return max(clip / divisor, SMALLEST_STEP)
