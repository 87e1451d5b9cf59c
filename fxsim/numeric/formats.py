"""Fixed-point number formats and arrays of integer codes.

A :class:`QFormat` says how an integer code ``q`` maps to a real value: ``q * 2**-frac``.
An :class:`FxArray` is a numpy array of such codes together with its format. Nothing here
rounds; see :mod:`fxsim.numeric.convert` for conversions.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fxsim.numeric.stats import QuantStats

MAX_BITS = 62
# width of the fixed-point multiplier M of a real-step rescale (fxsim.fixed_point_multiplier)
MULTIPLIER_BITS = 31


def check_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise naming ``name``, the value and what is allowed.

    Booleans and floats (even integral ones such as ``8.0``) are refused: a word length of
    ``8.5`` is a bug in the caller, and ``8.0`` usually is too.
    """
    if type(value) is not int:  # the common case first: numbers.Integral's check is slow
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r} "
                            f"({type(value).__name__})")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


@dataclass(frozen=True)
class QFormat:
    """A two's-complement (or unsigned) fixed-point format.

    ``bits`` is the word length (1..62), ``frac`` the fraction length: any integer, negative
    (the LSB weighs more than 1) or larger than ``bits`` (all values below 1 in magnitude). The
    value of code ``q`` is exactly ``q * 2**-frac``. Signed codes lie in
    ``[-2**(bits-1), 2**(bits-1) - 1]``, unsigned in ``[0, 2**bits - 1]``.
    """

    bits: int
    frac: int
    signed: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", check_int("bits", self.bits, 1, MAX_BITS))
        object.__setattr__(self, "frac", check_int("frac", self.frac))
        if not isinstance(self.signed, (bool, np.bool_)):
            raise TypeError(f"signed must be True or False, got {self.signed!r}")
        object.__setattr__(self, "signed", bool(self.signed))

    @property
    def min_code(self) -> int:
        """Smallest code: ``-2**(bits-1)`` if signed, else 0."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        """Largest code: ``2**(bits-1) - 1`` if signed, else ``2**bits - 1``."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def lsb(self) -> float:
        """Value of one code step, ``2**-frac``, as float64 (0.0 or inf past float64's range)."""
        return _pow2(-self.frac)

    @property
    def min_value(self) -> float:
        """Value of :attr:`min_code` as float64 (exact: a power of two or zero)."""
        return self.min_code * self.lsb if self.min_code else 0.0

    @property
    def max_value(self) -> float:
        """Value of :attr:`max_code` as float64, exact while ``bits <= 53``."""
        return float(self.exact_value(self.max_code))

    @property
    def range(self) -> tuple[float, float]:
        """``(min_value, max_value)`` as float64."""
        return (self.min_value, self.max_value)

    @property
    def dtype(self) -> np.dtype:
        """The smallest numpy integer dtype that holds every code of this format."""
        width = next(w for w in (8, 16, 32, 64) if self.bits <= w)
        return np.dtype(f"{'' if self.signed else 'u'}int{width}")

    def exact_value(self, code: int) -> Fraction:
        """The exact rational value of ``code``: ``code * 2**-frac``."""
        return Fraction(int(code)) * Fraction(2) ** (-self.frac)

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}.{self.frac}"


def _pow2(exponent: int) -> float:
    """``2.0**exponent`` as float64, 0.0 below the subnormal range and inf above the maximum."""
    if exponent > 1023:
        return math.inf
    if exponent < -1074:
        return 0.0
    return math.ldexp(1.0, exponent)


@dataclass(eq=False)
class FxArray:
    """Integer codes ``raw`` (a numpy integer array) in the format ``fmt``.

    The value of code ``q`` is ``q * lsb``: ``lsb`` is ``2**-fmt.frac``, or the real ``step``
    (> 0) when the array was quantized with an interval that is not a power of two (ARC's or
    the INT4 paper's clipping rules). Such a step is a float64 number chosen by float
    statistics; the codes stay integers, and moving them to another step is an integer
    multiply-and-shift (:func:`fxsim.requantize`).

    ``raw`` keeps the dtype it is given if it is an integer dtype wide enough for ``fmt``;
    :func:`fxsim.quantize` and :func:`fxsim.requantize` produce ``fmt.dtype``. Codes are
    checked against the format's range on construction (``check=False`` skips the scan, for
    kernels that guarantee it). ``stats`` holds the :class:`~fxsim.QuantStats` of the
    conversion that produced the array, if any.
    """

    raw: np.ndarray
    fmt: QFormat
    stats: QuantStats | None = field(default=None, repr=False)
    check: bool = field(default=True, repr=False)
    step: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fmt, QFormat):
            raise TypeError(f"fmt must be a QFormat, got {type(self.fmt).__name__}")
        raw = np.asarray(self.raw)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"raw must be an integer array, got dtype {raw.dtype}")
        self.raw = raw
        if self.step is not None:
            self.step = check_step(self.step)
        if self.check and raw.size:
            lo, hi = int(raw.min()), int(raw.max())
            if lo < self.fmt.min_code or hi > self.fmt.max_code:
                raise ValueError(
                    f"raw codes span [{lo}, {hi}], outside {self.fmt}'s range "
                    f"[{self.fmt.min_code}, {self.fmt.max_code}]"
                )
        self.check = False

    @property
    def lsb(self) -> float:
        """The value of one code step: ``step`` if set, else ``2**-fmt.frac``."""
        return self.step if self.step is not None else self.fmt.lsb

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    @property
    def size(self) -> int:
        return self.raw.size

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    def to_float(self) -> np.ndarray:
        """The values ``raw * lsb`` as float64. With a power-of-two LSB this is exact while
        ``bits <= 53``; with a real ``step`` it is the float64 product (rounded to nearest)."""
        if self.step is not None:
            return np.multiply(self.raw, self.step, dtype=np.float64)
        if -1022 <= -self.fmt.frac <= 1023:  # a normal power of two: the product is exact
            return np.multiply(self.raw, self.fmt.lsb, dtype=np.float64)
        return np.ldexp(self.raw.astype(np.float64), max(-2200, min(2200, -self.fmt.frac)))

    def with_raw(self, raw: np.ndarray) -> FxArray:
        """The same format and step around other codes (a reshape, a slice), unchecked."""
        return FxArray(raw, self.fmt, check=False, step=self.step)

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index) -> FxArray:
        return self.with_raw(np.asarray(self.raw[index]))


def check_step(step: object, name: str = "step") -> float:
    """``step`` as a float if it is a finite real > 0, else a ValueError naming ``name``."""
    try:
        value = float(step)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real > 0, got {step!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite real > 0, got {step!r}")
    return value
