"""Requantization done ahead, in the output pass of the kernel that made the codes.

A product kernel writes each exact sum once; converting it to the next layer's format in that
same pass saves a later pass over the int32 sums. The kernel cannot know the conversion for
sure: with a current-tensor range rule (min-max) the scale depends on ``max|sum|`` over the
whole output, known only once the last sum is written. So the caller asks for a likely
conversion (:class:`OutputRounding`, in practice its quantizer's previous one); the kernel
applies it and attaches the codes to its result (:class:`RoundedCodes`, in the result's
``stats.rounded``), and :func:`fxsim.requantize` returns them only when the conversion it is
asked for is exactly the one they were made with (the same kernel target: rounding mode,
saturation bounds, format; the same shift, no multiplier), of the very sums they were made
from (the kernel returns those read-only), and only once. Otherwise it converts the sums as
usual.
The result is the same either way, bit for bit: the kernel applies :func:`fxsim.numeric.
_convert_kernels.round_shift_saturate`, the very rule of :func:`fxsim.requantize`'s integer
loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fxsim.numeric._convert_kernels import CodeTarget
from fxsim.numeric.conversion import Conversion
from fxsim.numeric.formats import QFormat
from fxsim.numeric.rounding import ROUNDING_IDS, RoundingMode, canonical_rounding


@dataclass(frozen=True)
class OutputRounding:
    """A conversion to ask of a product's output pass: to ``fmt`` by the deterministic mode
    ``rounding``, saturating to ``clip`` (``(low, high)`` codes; None: the format's range).
    Only a hint: a kernel that cannot apply it ignores it."""

    fmt: QFormat
    rounding: str = "nearest_even"
    clip: tuple[int, int] | None = None

    @cached_property
    def target(self) -> CodeTarget | None:
        """The kernels' target of this conversion (computed once), or None when no output pass
        can apply it (a stochastic mode or a registered rounding rule: random words or Python
        code per element). Invalid options raise as :func:`fxsim.requantize` would."""
        name = canonical_rounding(self.rounding)  # checks the name
        if name not in ROUNDING_IDS or RoundingMode(ROUNDING_IDS[name]).is_stochastic:
            return None  # registered rules may need options a hint does not carry
        return Conversion.checked(self.fmt, name, "saturate", None, None, 0, False,
                                  self.clip).target


class RoundedCodes:
    """Codes that a kernel's output pass made from its sums ``sums``: each shifted right by
    ``shift >= 1``, rounded and saturated as ``target`` says (into ``codes``, of the target
    format's dtype and the sums' shape), ``saturated`` of them clamped.

    The codes are handed out once (:meth:`take`), for exactly these sums: the kernel marks
    ``sums`` read-only, so they cannot change under the codes, and a second conversion of
    them, or one of other sums that carry these stats, converts as usual (the codes are then
    nobody else's array)."""

    def __init__(self, sums: np.ndarray, codes: np.ndarray, shift: int, target: CodeTarget,
                 saturated: int) -> None:
        self.sums, self.codes, self.shift = sums, codes, shift
        self.target, self.saturated = target, saturated
        self._taken = False

    def take(self, sums: np.ndarray, target: CodeTarget, shift: int,
             multiplier: int) -> np.ndarray | None:
        """The codes if ``sums`` are the very sums they were made from (the same array), the
        conversion ``(target, shift, multiplier)`` is theirs (every field the integer loop
        reads; random words never match: the output pass makes none) and they were not
        taken before; else None."""
        if (self._taken or sums is not self.sums or multiplier != 1 or shift != self.shift
                or target.words.size or _loop_args(target) != _loop_args(self.target)):
            return None
        self._taken = True
        return self.codes


def _loop_args(target: CodeTarget) -> tuple:
    """What the integer loop reads of ``target``: its mode, random-number and fit arguments."""
    return target.mode, *target.random_args(), *target.fit_args()
