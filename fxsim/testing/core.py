"""What the invariant checks share: the mode under test, the exception a broken invariant
raises, the hypothesis search that finds and shrinks a counterexample, and exact arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.strategies import SearchStrategy

from fxsim.numeric.formats import FxArray, QFormat
from fxsim.numeric.rounding import canonical_rounding, random_bits_for
from fxsim.numeric.user_rounding import registered_rounding

DEFAULT_RANDOM_BITS = 8  # stochastic_k's random_bits when a check is not given any
BUILTIN_TIES = {"nearest_even": "even", "nearest_away": "away", "nearest_up": "up"}
WIDE_BITS = 62  # the format of rounding-only checks: wide enough that nothing saturates
SAFE = 2**60  # |y| below this never saturates in WIDE_BITS
DERANDOMIZE = True  # the same examples every run (False: new ones, for exploring)


class InvariantBroken(AssertionError):
    """A rounding invariant does not hold. ``invariant``: its name; ``mode``: the mode;
    ``counterexample``: the minimal failing input (hypothesis-shrunk), in words;
    ``explanation``: what the invariant says and how the example breaks it."""

    def __init__(self, invariant: str, mode: str, counterexample: str, explanation: str):
        self.invariant = invariant
        self.mode = mode
        self.counterexample = counterexample
        self.explanation = explanation
        super().__init__(f"{mode}: {invariant} broken by {counterexample}. {explanation}")


@dataclass(frozen=True)
class Mode:
    """A rounding mode under test: a built-in name (with ``random_bits`` for ``stochastic_k``)
    or a registered rule. ``kbits``: random bits it uses (0: deterministic); ``ties``: its
    declared tie rule, if any."""

    name: str
    random_bits: int | None
    kbits: int
    ties: str | None
    registered: bool

    @property
    def is_random(self) -> bool:
        return self.kbits > 0

    @property
    def label(self) -> str:
        return f"{self.name} (random_bits={self.random_bits})" if self.random_bits else self.name

    def quantize(self, x: Any, fmt: QFormat, overflow: str = "saturate", seed: int | None = 0,
                 stream: int = 0, **options: Any) -> FxArray:
        import fxsim

        return fxsim.quantize(np.asarray(x, dtype=np.float64), fmt, self.name, overflow, seed,
                              random_bits=self.random_bits, stream=stream, **options)

    def requantize(self, q: FxArray, fmt: QFormat, overflow: str = "saturate",
                   seed: int | None = 0, stream: int = 0) -> FxArray:
        import fxsim

        return fxsim.requantize(q, fmt, self.name, overflow, seed, random_bits=self.random_bits,
                                stream=stream)


def resolve_mode(mode: str | Mode, random_bits: int | None = None) -> Mode:
    """The :class:`Mode` of a built-in or registered mode name (``stochastic_k`` takes
    ``random_bits``, default :data:`DEFAULT_RANDOM_BITS`)."""
    if isinstance(mode, Mode):
        return mode
    name = canonical_rounding(mode)
    if name == "stochastic_k" and random_bits is None:
        random_bits = DEFAULT_RANDOM_BITS
    kbits = random_bits_for(name, random_bits)
    rule = registered_rounding(name)
    ties = rule.ties if rule is not None else BUILTIN_TIES.get(name)
    return Mode(name, random_bits if name == "stochastic_k" else None, kbits, ties,
                rule is not None)


def falsify(strategy: SearchStrategy, prop: Callable[[Any], None], max_examples: int) -> None:
    """Run ``prop`` on up to ``max_examples`` examples of ``strategy`` (deterministically: the
    same examples every run); if it raises, hypothesis shrinks the example and the exception of
    the minimal one propagates."""

    @settings(max_examples=max(1, int(max_examples)), deadline=None, database=None,
              derandomize=DERANDOMIZE, verbosity=Verbosity.quiet, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), print_blob=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink))
    @given(strategy)
    def search(example: Any) -> None:
        prop(example)

    search()


# ---- exact arithmetic and how values are shown -------------------------------------------------
def lsb_units(x: float, fmt: QFormat) -> Fraction:
    """``y = x * 2**frac`` exactly."""
    return Fraction(x) * Fraction(2) ** fmt.frac


def show_fraction(y: Fraction) -> str:
    """``y`` as ``p/q`` while short; a float's value as its shortest decimal and, exactly,
    ``p*2**-k``; else to 17 significant digits (marked approximate)."""
    text = str(y)
    if len(text) <= 32:
        return text
    shift = y.denominator.bit_length() - 1
    if y.denominator == 1 << shift and abs(y.numerator) < 2**53:
        return f"{float(y)!r} (= {y.numerator}*2**-{shift})"
    try:
        return f"~{float(y):.17g}"
    except OverflowError:
        log2 = math.log2(abs(y.numerator)) - math.log2(y.denominator)
        return f"~{'-' if y < 0 else ''}2**{log2:.1f}"


def show_value(x: float, fmt: QFormat) -> str:
    """``y = ... LSB (x = ... in sB.F)``: an input as the rounding sees it and as given."""
    if math.isinf(x) or math.isnan(x):
        return f"x = {x!r} in {fmt}"
    return f"y = {show_fraction(lsb_units(x, fmt))} LSB (x = {x!r} in {fmt})"


def tie_target(n: int, rule: str) -> int:
    """The integer the tie ``n + 1/2`` rounds to under the tie rule ``rule``."""
    up = {"even": n % 2 == 1, "odd": n % 2 == 0, "away": n >= 0, "zero": n < 0,
          "up": True, "down": False}[rule]
    return n + int(up)
