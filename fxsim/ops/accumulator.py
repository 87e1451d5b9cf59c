"""Accumulator registers of the integer kernels: their width, overflow mode and event counts.

A multiply-accumulate op sums ``terms`` products of operand codes into a register of
``bits`` bits (signed, two's complement). :class:`Accumulator` says how wide the register is
and what it does when a sum leaves its range; :func:`wide_bits` is the width that never
overflows; :func:`fit_wrapped` applies a wrapping register to exact sums; :class:`AccStats`
counts what overflowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fxsim.numeric.formats import MAX_BITS, QFormat, check_int
from fxsim.numeric.rounding import check_overflow
from fxsim.numeric.stats import QuantStats


@dataclass(frozen=True)
class AccStats(QuantStats):
    """:class:`~fxsim.QuantStats` of one multiply-accumulate op (its result's ``.stats``).

    Frozen.

    Parameters
    ----------
    size : int
        Output elements.
    saturated : int, default 0
        Output elements whose accumulation overflowed in a saturating register: at least one
        of their adds clamped (in the documented accumulation order).
    wrapped : int, default 0
        Output elements whose accumulation overflowed in a wrapping register: the exact sum
        lies outside the register's range, so the result differs from it.
    nan, seed, stream
        Those of QuantStats, always 0, None and 0 here: the ops neither round nor see NaN.
    events : int, default 0
        The total count of overflow events: under ``saturate``, the adds that clamped (in the
        documented accumulation order); under ``wrap``, the number of times the register's
        value crossed its modulus, net, summed over outputs (``|exact - result| / 2**bits``),
        which does not depend on the order.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.full((1, 1, 1, 4), 20, dtype=np.int8), QFormat(8, 0))
    >>> w = FxArray(np.ones((1, 1, 1, 4), dtype=np.int8), QFormat(8, 0))
    >>> ops.conv2d(x, w, acc=ops.Accumulator(6, "saturate")).stats  # sums 20, 31, 31, 31
    AccStats(size=1, saturated=1, wrapped=0, nan=0, seed=None, stream=0, events=3)
    >>> ops.conv2d(x, w, acc=ops.Accumulator(6, "wrap")).raw.tolist()  # 80 - 64
    [[[[16]]]]
    """

    events: int = 0


@dataclass(frozen=True)
class Accumulator:
    """The accumulator register of a multiply-accumulate op (signed, two's complement).

    The ops' ``acc`` argument; the register's width is the result's word length.

    Parameters
    ----------
    bits : int or None, default None
        None: wide enough never to overflow, the smallest signed width that holds every
        possible sum of the op (:func:`wide_bits`, from the operand formats and the reduction
        length: at most ``a + b + ceil(log2(terms))`` for signed operands of ``a`` and ``b``
        bits); an op refuses it when that exceeds 62 bits. 1..62: a narrower register.
    overflow : {"saturate", "wrap"}, default "saturate"
        What a narrow register does on overflow: ``wrap`` (modular, two's complement:
        wrapping once at the end equals wrapping at every add) or ``saturate`` at every add,
        in the order documented by each op (DESIGN.md: that of an output-stationary MAC
        array), computed one output at a time (the ``sequential`` path) when it may overflow.

    Raises
    ------
    TypeError
        ``bits`` is not an integer or None.
    ValueError
        ``bits`` outside 1..62, or an unknown ``overflow``.

    Examples
    --------
    >>> from fxsim import Accumulator
    >>> Accumulator().wide, Accumulator(16, "wrap").wide
    (True, False)
    """

    bits: int | None = None
    overflow: str = "saturate"

    def __post_init__(self) -> None:
        if self.bits is not None:
            object.__setattr__(self, "bits", check_int("Accumulator bits", self.bits, 1,
                                                       MAX_BITS))
        check_overflow(self.overflow)

    @property
    def wide(self) -> bool:
        """True for the default register that never overflows."""
        return self.bits is None


def check_accumulator(acc: object) -> Accumulator:
    """``acc`` itself, ``Accumulator()`` for None, or a TypeError naming the parameter."""
    if acc is None:
        return Accumulator()
    if not isinstance(acc, Accumulator):
        raise TypeError(f"acc must be an fxsim.Accumulator or None, got {acc!r}")
    return acc


def product_range(a: QFormat, b: QFormat) -> tuple[int, int]:
    """The smallest and largest product of a code of ``a`` and a code of ``b``."""
    corners = [x * y for x in (a.min_code, a.max_code) for y in (b.min_code, b.max_code)]
    return min(corners), max(corners)


def signed_width(low: int, high: int) -> int:
    """The smallest signed two's-complement width holding every integer in ``[low, high]``."""
    bits = 1
    while -(1 << (bits - 1)) > low or (1 << (bits - 1)) - 1 < high:
        bits += 1
    return bits


def wide_bits(a: QFormat, b: QFormat, terms: int) -> int:
    """Width of the accumulator that never overflows: the smallest signed width holding
    ``terms`` times the extreme products of ``a``'s and ``b``'s code ranges. For signed
    operands of ``p`` and ``q`` bits this is at most ``p + q + ceil(log2(terms))``."""
    low, high = product_range(a, b)
    return signed_width(min(0, terms * low), max(0, terms * high))


def register_range(bits: int) -> tuple[int, int]:
    """``(min, max)`` of a signed register of ``bits`` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def fit_wrapped(exact: np.ndarray, bits: int) -> tuple[np.ndarray, int, int]:
    """Wrap the exact int64 sums into a ``bits``-bit register (two's complement, modular).

    Returns ``(codes, outputs that wrapped, net modulus crossings summed)``; ``exact`` must hold
    the true sums (the caller checks they fit int64).
    """
    low, _high = register_range(bits)
    if bits >= 63 or exact.size == 0:
        return exact, 0, 0
    modulus = np.int64(1) << np.int64(bits)
    codes = (exact - np.int64(low)) % modulus + np.int64(low)
    crossings = np.abs((exact - codes) // modulus)
    out_of_range = int(np.count_nonzero(crossings))
    return codes, out_of_range, int(crossings.sum()) if out_of_range else 0
