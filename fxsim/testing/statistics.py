"""Statistical invariants of random rounding: unbiasedness and the variance bound.

Both quantize ``N = 2**16`` copies of one value ``y`` (each element draws its own random
integer) and compare the sample mean of ``q`` (of ``(q - y)**2``) with what an exact stochastic
rounding gives. The tolerance is Hoeffding's: a sample mean of ``N`` values in a range of width
``R`` strays ``t = R * sqrt(ln(2 / alpha) / (2 N))`` or more from its expectation with
probability at most ``alpha`` = :data:`FALSE_ALARM` (1e-9): with ``R = 1``, ``t = 0.0128`` LSB.
``R`` is 1 when every sample is ``floor(y)`` or ``floor(y) + 1`` (``R**2`` for the squares),
else the samples' observed range (then the bound is approximate). A check of ``n`` values
raises a false alarm with probability at most ``n * alpha`` (1e-7 for 100).

A rule with ``k`` random bits resolves the fraction of ``y`` to ``2**-k``: the expectation
must equal ``y`` exactly when ``y * 2**k`` is an integer (the "grid" values), and be within
``2**-k`` otherwise (``stochastic_k`` truncates the fraction to ``k`` bits, a bias of up to
``2**-k`` toward -inf). Drawn values have fractions of ``g`` bits, ``g`` = 1..20, so for
``k >= 20`` every one is on the grid.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from fxsim.numeric.formats import QFormat
from fxsim.testing.core import WIDE_BITS, InvariantBroken, Mode, falsify, resolve_mode
from fxsim.testing.core import show_fraction as _show
from fxsim.testing.elementwise import SEEDS

SAMPLES = 1 << 16
FALSE_ALARM = 1e-9


def hoeffding(width: float, samples: int = SAMPLES, alpha: float = FALSE_ALARM) -> float:
    """Half-width of the two-sided Hoeffding interval: ``width * sqrt(ln(2/alpha) / (2n))``."""
    return width * math.sqrt(math.log(2 / alpha) / (2 * samples))


def _cases():
    """``(frac, n, g, j, seed)``: ``y = n + j / 2**g`` (``j`` odd, or 0) scaled by ``frac``."""
    return st.tuples(st.integers(-4, 8), st.one_of(st.integers(-3, 3), st.integers(-2**30, 2**30)),
                     st.one_of(st.integers(1, 4), st.integers(1, 20)), st.integers(0, 2**20 - 1),
                     SEEDS)


def _samples(m: Mode, case):
    """``(fmt, x, y, allowance, codes)`` for a drawn case: ``N`` rounded copies of ``y``."""
    frac, n, g, j, seed = case
    j %= 1 << g
    y = n + Fraction(j, 1 << g)
    x = math.ldexp(float(y), -frac)
    fmt = QFormat(WIDE_BITS, frac)
    allowance = Fraction(0) if g <= m.kbits else Fraction(1, 1 << m.kbits)
    codes = m.quantize(np.full(SAMPLES, x), fmt, seed=seed).raw
    return fmt, x, y, allowance, codes


def _where(fmt: QFormat, x: float, y: Fraction, seed: int) -> str:
    return (f"y = {_show(y)} LSB (x = {x!r} in {fmt}), {SAMPLES} copies, seed {seed}")


def _tally(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes, ascending, and how many samples have each."""
    return np.unique(codes, return_counts=True)


def _spread(tally: tuple[np.ndarray, np.ndarray], y: Fraction) -> tuple[int, str]:
    """The width ``R`` of the samples' range (1 when faithful) and a summary of the codes."""
    values, counts = tally
    low = min(int(values[0]), math.floor(y))
    width = max(1, int(values[-1]) - low)
    shown = ", ".join(f"{int(v)}: {int(c)}" for v, c in list(zip(values, counts, strict=True))[:4])
    return width, shown + (", ..." if len(values) > 4 else "")


def check_unbiased(mode: str, *, random_bits: int | None = None,
                   max_examples: int = 60) -> None:
    """``E[q] = y`` for a random mode: the sample mean of ``N`` roundings of ``y`` is within
    Hoeffding's tolerance of ``y`` (plus ``2**-k`` off the ``k``-bit grid)."""
    m = resolve_mode(mode, random_bits)

    def prop(case) -> None:
        fmt, x, y, allowance, codes = _samples(m, case)
        mean = Fraction(int(codes.sum()), SAMPLES)
        width, shown = _spread(_tally(codes), y)
        tolerance = hoeffding(width)
        if abs(mean - y) > allowance + Fraction(tolerance):
            grid = "" if not allowance else f" + {_show(allowance)} off the {m.kbits}-bit grid"
            raise InvariantBroken(
                "unbiased", m.label, _where(fmt, x, y, case[-1]),
                f"an unbiased rounding has mean y; the sample mean is {float(mean):.5f} (codes "
                f"{shown}), off by {float(mean - y):+.5f} LSB, beyond the tolerance "
                f"{tolerance:.4f}{grid} (false alarm <= {FALSE_ALARM:g})")

    falsify(_cases(), prop, max_examples)


def check_variance_bound(mode: str, *, random_bits: int | None = None,
                         max_examples: int = 60) -> None:
    """``E[(q - y)**2] <= f (1 - f)`` with ``f = y - floor(y)``: no more spread than exact
    stochastic rounding (a choice between ``floor(y)`` and ``ceil(y)`` with ``E[q] = y``), the
    least any unbiased rounding can have; within Hoeffding's tolerance (plus ``2**-k`` off the
    ``k``-bit grid)."""
    m = resolve_mode(mode, random_bits)

    def prop(case) -> None:
        fmt, x, y, allowance, codes = _samples(m, case)
        f = y - math.floor(y)
        bound = f * (1 - f)
        tally = _tally(codes)
        mse = _mean_square(tally, y)
        width, shown = _spread(tally, y)
        tolerance = hoeffding(width * width)
        if mse > bound + allowance + Fraction(tolerance):
            raise InvariantBroken(
                "variance_bound", m.label, _where(fmt, x, y, case[-1]),
                f"the mean squared error {float(mse):.5f} LSB^2 (codes {shown}) exceeds "
                f"f(1 - f) = {float(bound):.5f}, that of exact stochastic rounding, by more than "
                f"the tolerance {tolerance:.4f}" + (f" + {_show(allowance)}" if allowance else ""))

    falsify(_cases(), prop, max_examples)


def _mean_square(tally: tuple[np.ndarray, np.ndarray], y: Fraction) -> Fraction:
    """``mean((codes - y)**2)`` exactly, from the counts of each code."""
    values, counts = tally
    total = sum(int(c) * (int(v) - y) ** 2 for v, c in zip(values, counts, strict=True))
    return total / int(counts.sum())
