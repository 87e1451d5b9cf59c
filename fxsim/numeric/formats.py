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
    ``8.5`` is a bug in the caller, and ``8.0`` usually is too. Python and numpy integers
    (:class:`numbers.Integral`) are accepted.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
        The value to check.
    low, high : int or None, default None
        Inclusive bounds; None leaves that side open.

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        ``value`` is a bool (Python or numpy), a float or not an integer at all.
    ValueError
        ``value`` is below ``low`` or above ``high``: "``name`` must be an integer in
        ``low..high``" (or ">= ``low``"), with the value given.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim.numeric.formats import check_int
    >>> check_int("bits", np.int32(8), 1, 62)
    8
    >>> check_int("bits", 8.0)
    Traceback (most recent call last):
    TypeError: bits must be an integer, got 8.0 (float)
    """
    if type(value) is not int:  # the common case first: numbers.Integral's check is slow
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r} "
                            f"({type(value).__name__})")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


@dataclass(frozen=True)
class QFormat:
    """A two's-complement (or unsigned) fixed-point format.

    The value of code ``q`` is exactly ``q * 2**-frac``. Signed codes lie in
    ``[-2**(bits-1), 2**(bits-1) - 1]``, unsigned in ``[0, 2**bits - 1]``. A QFormat is frozen
    and hashable; ``str(fmt)`` is ``"s8.4"`` for ``QFormat(8, 4)`` (``"u"`` when unsigned).

    Parameters
    ----------
    bits : int
        Word length, 1..62.
    frac : int
        Fraction length: any integer, negative (the LSB weighs more than 1) or larger than
        ``bits`` (all values below 1 in magnitude).
    signed : bool, default True
        Two's complement if True, unsigned if False.

    Raises
    ------
    TypeError
        ``bits`` or ``frac`` is not an integer (bools and floats such as ``8.0`` included), or
        ``signed`` is not a bool.
    ValueError
        ``bits`` is outside 1..62.

    Examples
    --------
    >>> from fxsim import QFormat
    >>> fmt = QFormat(bits=8, frac=4)
    >>> fmt.min_code, fmt.max_code, fmt.lsb, fmt.range, fmt.dtype
    (-128, 127, 0.0625, (-8.0, 7.9375), dtype('int8'))
    >>> u = QFormat(4, 0, signed=False)
    >>> str(u), u.max_code, u.dtype
    ('u4.0', 15, dtype('uint8'))
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
        """Smallest code (a Python int): ``-2**(bits-1)`` if signed, else 0."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        """Largest code (a Python int): ``2**(bits-1) - 1`` if signed, else ``2**bits - 1``."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def lsb(self) -> float:
        """Value of one code step, ``2**-frac``, as a float64.

        Exact, except past float64's range: 0.0 for ``frac > 1074``, inf for ``frac < -1023``.
        """
        return _pow2(-self.frac)

    @property
    def min_value(self) -> float:
        """Value of :attr:`min_code` as a float64.

        0.0 if unsigned, else ``-2**(bits-1-frac)``: exact, or -0.0 or -inf past float64's range.
        """
        return self.min_code * self.lsb if self.min_code else 0.0

    @property
    def max_value(self) -> float:
        """Value of :attr:`max_code` as a float64.

        The exact value correctly rounded, so exact while ``bits <= 53``; 0.0 below float64's
        range, and OverflowError above its largest finite value.
        """
        return float(self.exact_value(self.max_code))

    @property
    def range(self) -> tuple[float, float]:
        """``(min_value, max_value)``: the real values of the extreme codes, float64."""
        return (self.min_value, self.max_value)

    @property
    def dtype(self) -> np.dtype:
        """The smallest numpy integer dtype that holds every code.

        ``int8``, ``int16``, ``int32`` or ``int64``; ``uint8`` to ``uint64`` when unsigned.
        :func:`~fxsim.quantize` and :func:`~fxsim.requantize` produce codes of this dtype.
        """
        width = next(w for w in (8, 16, 32, 64) if self.bits <= w)
        return np.dtype(f"{'' if self.signed else 'u'}int{width}")

    def exact_value(self, code: int) -> Fraction:
        """The exact rational value of ``code``.

        Parameters
        ----------
        code : int
            Any integer, in the format's range or not.

        Returns
        -------
        fractions.Fraction
            ``code * 2**-frac``, exactly.
        """
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

    Parameters
    ----------
    raw : array_like of int
        The codes, through ``np.asarray`` (an ndarray is not copied). Any integer dtype is kept
        as given; :func:`fxsim.quantize` and :func:`fxsim.requantize` produce ``fmt.dtype``.
    fmt : QFormat
        The codes' format.
    stats : QuantStats or None, default None
        The :class:`~fxsim.QuantStats` of the conversion that produced the array, if any (an
        :class:`~fxsim.ops.AccStats` for the results of :mod:`fxsim.ops`).
    check : bool, default True
        Scan the codes against ``fmt``'s range on construction; False skips the scan, for
        kernels that guarantee it. Set to False once constructed.
    step : float or None, default None
        The real LSB (finite, > 0, float64) replacing ``2**-fmt.frac``.

    Raises
    ------
    TypeError
        ``fmt`` is not a QFormat, or ``raw`` is not of an integer dtype.
    ValueError
        A code is outside ``fmt``'s range (with ``check``), or ``step`` is not a finite real
        > 0.

    See Also
    --------
    fxsim.quantize, fxsim.requantize : make FxArrays from floats and from other codes.

    Notes
    -----
    ``len(a)``, ``a.shape``, ``a.size`` and ``a.ndim`` are those of ``raw``; ``a[index]`` is
    :meth:`with_raw` of ``raw[index]`` (a view for slices; ``stats`` are not carried).
    FxArrays compare by identity (``==`` is ``is``): compare ``raw``, ``fmt`` and ``step``.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat
    >>> a = FxArray(np.array([[-8, 7], [1, 0]], dtype=np.int8), QFormat(4, 1))
    >>> a.to_float().tolist(), a.lsb
    ([[-4.0, 3.5], [0.5, 0.0]], 0.5)
    >>> a[1].raw.tolist(), a[1].fmt
    ([1, 0], QFormat(bits=4, frac=1, signed=True))
    >>> FxArray(np.array([3, -1]), QFormat(4, 0), step=0.37).to_float().tolist()  # rounded
    [1.1099999999999999, -0.37]
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
        """The value of one code step, float64: ``step`` if set, else ``fmt.lsb``."""
        return self.step if self.step is not None else self.fmt.lsb

    @property
    def shape(self) -> tuple[int, ...]:
        """``raw.shape``."""
        return self.raw.shape

    @property
    def size(self) -> int:
        """``raw.size``: the number of codes."""
        return self.raw.size

    @property
    def ndim(self) -> int:
        """``raw.ndim``."""
        return self.raw.ndim

    def to_float(self) -> np.ndarray:
        """The values ``raw * lsb`` as a float64 array of ``raw``'s shape.

        Returns
        -------
        numpy.ndarray
            With a power-of-two LSB, exact while ``bits <= 53`` and the values are within
            float64's normal range (else rounded to nearest; 0 or inf past the range). With a
            real ``step``, the float64 product ``raw * step``, rounded to nearest.
        """
        if self.step is not None:
            return np.multiply(self.raw, self.step, dtype=np.float64)
        if -1022 <= -self.fmt.frac <= 1023:  # a normal power of two: the product is exact
            return np.multiply(self.raw, self.fmt.lsb, dtype=np.float64)
        return np.ldexp(self.raw.astype(np.float64), max(-2200, min(2200, -self.fmt.frac)))

    def with_raw(self, raw: np.ndarray) -> FxArray:
        """The same format and step around other codes (a reshape, a slice), unchecked.

        Parameters
        ----------
        raw : numpy.ndarray
            Integer codes, assumed to lie in ``fmt``'s range (not scanned).

        Returns
        -------
        FxArray
            ``raw`` with this array's ``fmt`` and ``step``; ``stats`` None.
        """
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
