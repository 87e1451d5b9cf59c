"""Invariants of the rounding of single values: error bounds, direction, monotonicity,
idempotence, sign symmetry and tie rules.

Each check searches (hypothesis) for an input that breaks the invariant under ``mode`` and
raises :class:`~fxsim.testing.core.InvariantBroken` with the minimal one; it returns None when
it finds none in ``max_examples`` examples. Values are rounded into a 62-bit format of a drawn
fraction length, where nothing in ``|y| < 2**60`` saturates; elements beyond are skipped.
Random modes are checked with the random integers of a drawn seed, element by element.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from fxsim.numeric.formats import FxArray, QFormat
from fxsim.testing.core import (
    SAFE,
    WIDE_BITS,
    InvariantBroken,
    Mode,
    falsify,
    lsb_units,
    resolve_mode,
    show_fraction,
    show_value,
    tie_target,
)
from fxsim.testing.strategies import (
    GRID_OFFSETS,
    code_specs,
    fracs,
    ldexp_finite,
    resolve_code,
    resolve_value,
    value_specs,
)

SEEDS = st.integers(0, 2**32 - 1)
MAX_VALUES = 20  # values per example


def format_cases(bits=WIDE_BITS, frac=None, signed=True, finite: bool = True,
                 min_values: int = 1):
    """``(bits, frac, signed, value specs, seed)``: a format (62 bits wide and signed by default,
    of any fraction length) and specs of values for it (:func:`wide_values` resolves them)."""
    frac = fracs() if frac is None else frac
    return st.tuples(_drawn(bits), frac, _drawn(signed),
                     st.lists(value_specs(allow_infinity=not finite), min_size=min_values,
                              max_size=MAX_VALUES), SEEDS)


def _drawn(value):
    if isinstance(value, tuple):
        return st.integers(*value)
    return st.just(value) if not isinstance(value, st.SearchStrategy) else value


def wide_values(case) -> tuple[QFormat, list[float], int]:
    """``(fmt, values, seed)`` of a :func:`format_cases` case."""
    bits, frac, signed, specs, seed = case
    fmt = QFormat(bits, frac, signed)
    return fmt, [resolve_value(s, fmt) for s in specs], seed


def _where(mode: Mode, x: float, fmt: QFormat, seed: int, index: int) -> str:
    text = show_value(x, fmt)
    return f"{text}, element {index}, seed {seed}" if mode.is_random else text


def _per_value(name: str, mode: Mode, problem: Callable[[Fraction, int], str | None],
               max_examples: int) -> None:
    """Round :func:`interval_points` of a drawn LSB interval, then each drawn value;
    ``problem(y, q)`` says what is wrong with ``q`` for ``y``."""

    def prop(case) -> None:
        fmt, drawn, seed = wide_values(case[0])
        values = interval_points(resolve_code(case[1], fmt), fmt) + drawn
        codes = mode.quantize(values, fmt, seed=seed).raw.tolist()
        for i, (x, q) in enumerate(zip(values, codes, strict=True)):
            y = lsb_units(x, fmt)
            if abs(y) < SAFE and (text := problem(y, q)):
                raise InvariantBroken(name, mode.label, _where(mode, x, fmt, seed, i), text)

    falsify(st.tuples(format_cases(), code_specs()), prop, max_examples)


def check_error_below_one_lsb(mode: str, *, random_bits: int | None = None,
                              max_examples: int = 100) -> None:
    """``|q - y| < 1`` LSB: the result is ``floor(y)`` or ``ceil(y)`` (faithful rounding)."""
    def problem(y: Fraction, q: int) -> str | None:
        err = abs(q - y)
        return None if err < 1 else (f"the error |q - y| must be below 1 LSB; q = {q}, "
                                     f"|q - y| = {show_fraction(err)} LSB")

    _per_value("error_below_one_lsb", resolve_mode(mode, random_bits), problem, max_examples)


def check_error_half_lsb(mode: str, *, random_bits: int | None = None,
                         max_examples: int = 100) -> None:
    """``|q - y| <= 1/2`` LSB: a nearest rounding."""
    def problem(y: Fraction, q: int) -> str | None:
        err = abs(q - y)
        return None if err <= Fraction(1, 2) else (
            f"a nearest rounding is within 1/2 LSB; q = {q}, |q - y| = {show_fraction(err)} LSB")

    _per_value("error_half_lsb", resolve_mode(mode, random_bits), problem, max_examples)


def check_rounds_down(mode: str, *, random_bits: int | None = None,
                      max_examples: int = 100) -> None:
    """``q <= y`` (``floor``)."""
    def problem(y: Fraction, q: int) -> str | None:
        return None if q <= y else f"rounding down gives q <= y; q = {q} is above y"

    _per_value("rounds_down", resolve_mode(mode, random_bits), problem, max_examples)


def check_rounds_up(mode: str, *, random_bits: int | None = None,
                    max_examples: int = 100) -> None:
    """``q >= y`` (``ceil``)."""
    def problem(y: Fraction, q: int) -> str | None:
        return None if q >= y else f"rounding up gives q >= y; q = {q} is below y"

    _per_value("rounds_up", resolve_mode(mode, random_bits), problem, max_examples)


def check_toward_zero(mode: str, *, random_bits: int | None = None,
                      max_examples: int = 100) -> None:
    """``|q| <= |y|`` with the sign of ``y`` or zero (``toward_zero``)."""
    def problem(y: Fraction, q: int) -> str | None:
        ok = abs(q) <= abs(y) and q * y >= 0
        return None if ok else (f"rounding toward zero keeps the sign and never grows |q| past "
                                f"|y|; q = {q}")

    _per_value("toward_zero", resolve_mode(mode, random_bits), problem, max_examples)


STEPS_LSB = (0.25, 0.125, 0.5, 0.75, 1.0)  # LSBs from a value to its partner in monotone
SWEEP = (1, 4, 64)  # monotone sweeps one LSB in steps of 1/1, 1/4, 1/64 LSB


def interval_points(code: int, fmt: QFormat, steps: int = 4) -> list[float]:
    """The LSB interval ``[code, code + 1]`` of ``fmt`` at ``steps`` points per LSB, with the
    next float above ``code`` second (for code 0 the smallest subnormal: a value whose bits
    all fall below 62 fraction bits, the ``sticky`` case of user rules)."""
    x = ldexp_finite(code, -fmt.frac)
    above = math.nextafter(x, math.inf)
    return [x, above if math.isfinite(above) else x,
            *(ldexp_finite(code + k / steps, -fmt.frac) for k in range(1, steps + 1))]


def _sweep(code: int, fmt: QFormat) -> list[tuple[float, float]]:
    """Consecutive pairs of values sweeping ``[code, code + 1]`` LSBs, coarse steps first, then
    fine ones with the floats one ULP around the tie: no interval inside an LSB is missed."""
    pairs = []
    for steps in SWEEP:
        xs = sorted(set(interval_points(code, fmt, steps)))
        if steps == SWEEP[-1]:
            tie = ldexp_finite(code + 0.5, -fmt.frac)
            xs = sorted({*xs, math.nextafter(tie, -math.inf), math.nextafter(tie, math.inf)})
        pairs += list(itertools.pairwise(xs))
    return pairs


def _pair_specs():
    """Specs of pairs of values: a value and one a little above it (one ULP, or a fraction of
    an LSB more: both often in the same LSB interval, where rules go wrong), or two unrelated
    ones; :func:`_pair` resolves them."""
    grid = st.tuples(st.just("grid"), code_specs(), st.sampled_from(GRID_OFFSETS))
    steps = st.one_of(st.sampled_from([*STEPS_LSB, None]), st.floats(0.0, 1.0))
    return st.one_of(st.tuples(st.just("near"), st.one_of(grid, value_specs()), steps),
                     st.tuples(st.just("any"), value_specs(), value_specs()))


def _pair(spec, fmt: QFormat) -> tuple[float, float]:
    """``(low, high)`` of a :func:`_pair_specs` spec in ``fmt``."""
    if spec[0] == "any":
        a, b = resolve_value(spec[1], fmt), resolve_value(spec[2], fmt)
        return min(a, b), max(a, b)
    x, step = resolve_value(spec[1], fmt), spec[2]
    return x, (math.nextafter(x, math.inf) if step is None else
               x + ldexp_finite(step, -fmt.frac))


def check_monotone(mode: str, *, random_bits: int | None = None,
                   max_examples: int = 100) -> None:
    """``x1 <= x2`` implies ``q(x1) <= q(x2)``. Random modes: for the same random integer (the
    same seed, stream and element index), so each sample of the rounding is monotone. Each
    example sweeps one LSB interval (:func:`_sweep`) and tests drawn pairs."""
    m = resolve_mode(mode, random_bits)
    cases = st.tuples(fracs(), code_specs(), st.lists(_pair_specs(), max_size=MAX_VALUES),
                      SEEDS)

    def prop(case) -> None:
        frac, code, specs, seed = case
        fmt = QFormat(WIDE_BITS, frac)
        pairs = [*_sweep(resolve_code(code, fmt), fmt), *(_pair(s, fmt) for s in specs)]
        low = [a for a, _ in pairs]
        high = [b for _, b in pairs]
        q_low = m.quantize(low, fmt, seed=seed).raw.tolist()
        q_high = m.quantize(high, fmt, seed=seed).raw.tolist()
        for i, (a, b, qa, qb) in enumerate(zip(low, high, q_low, q_high, strict=True)):
            if qa > qb:
                raise InvariantBroken(
                    "monotone", m.label,
                    f"{_where(m, a, fmt, seed, i)} and {show_value(b, fmt)}",
                    f"a monotone rounding keeps the order; the smaller value rounds to {qa}, "
                    f"the larger to {qb}")

    falsify(cases, prop, max_examples)


def check_idempotent(mode: str, *, random_bits: int | None = None,
                     max_examples: int = 100) -> None:
    """A representable value is its own code: quantizing ``code * 2**-frac`` gives ``code``,
    and requantizing ``code << e`` from a format ``e`` bits finer gives ``code``."""
    m = resolve_mode(mode, random_bits)
    cases = st.tuples(st.integers(1, 53), fracs().filter(lambda f: -900 <= f <= 1074),
                      st.booleans(), st.lists(code_specs(), min_size=1, max_size=MAX_VALUES),
                      st.integers(1, 9), SEEDS)

    def prop(case) -> None:
        bits, frac, signed, specs, extra, seed = case
        fmt = QFormat(bits, frac, signed)
        codes = [resolve_code(c, fmt, margin=0) for c in specs]
        values = [math.ldexp(c, -fmt.frac) for c in codes]
        direct = m.quantize(values, fmt, seed=seed).raw.tolist()
        fine = QFormat(fmt.bits + extra, fmt.frac + extra, fmt.signed)
        shifted = FxArray(np.array(codes, dtype=np.int64) << extra, fine, check=False)
        again = m.requantize(shifted, fmt, seed=seed).raw.tolist()
        for i, (c, x, a, b) in enumerate(zip(codes, values, direct, again, strict=True)):
            if a != c or b != c:
                path = (f"quantize gives {a}" if a != c else
                        f"requantize from {fine} gives {b}")
                raise InvariantBroken("idempotent", m.label, _where(m, x, fmt, seed, i),
                                      f"the representable value of code {c} must round to "
                                      f"itself; {path}")

    falsify(cases, prop, max_examples)


def check_sign_symmetric(mode: str, *, random_bits: int | None = None,
                         max_examples: int = 100) -> None:
    """``q(-y) == -q(y)`` (deterministic modes)."""
    m = resolve_mode(mode, random_bits)

    def prop(case) -> None:
        fmt, values, seed = wide_values(case)
        plus = m.quantize(values, fmt, seed=seed).raw.tolist()
        minus = m.quantize([-v for v in values], fmt, seed=seed).raw.tolist()
        for i, (x, a, b) in enumerate(zip(values, plus, minus, strict=True)):
            if abs(lsb_units(x, fmt)) < SAFE and b != -a:
                raise InvariantBroken("sign_symmetric", m.label, _where(m, x, fmt, seed, i),
                                      f"a sign-symmetric rounding gives q(-y) = -q(y); q(y) = "
                                      f"{a} but q(-y) = {b}")

    falsify(format_cases(), prop, max_examples)


def check_ties(mode: str, *, ties: str | None = None, random_bits: int | None = None,
               max_examples: int = 100) -> None:
    """Exact ties ``y = n + 1/2`` round by the tie rule ``ties`` (default: the mode's own, see
    :data:`fxsim.numeric.user_rounding.TIE_RULES`)."""
    m = resolve_mode(mode, random_bits)
    rule = ties or m.ties
    if rule is None:
        raise ValueError(f"{m.label} declares no tie rule; pass ties=")
    frac = st.one_of(st.integers(-4, 8), st.integers(-60, 70), st.integers(1000, 1074))
    cases = st.tuples(frac, st.one_of(st.integers(-8, 8), st.integers(-2**51, 2**51)), SEEDS)

    def prop(case) -> None:
        frac, n, seed = case
        fmt = QFormat(WIDE_BITS, frac)
        x = math.ldexp(n + 0.5, -frac)
        if lsb_units(x, fmt) != Fraction(2 * n + 1, 2):
            return  # not a float64: no tie to test here
        q = m.quantize([x], fmt, seed=seed).raw.tolist()[0]
        want = tie_target(n, rule)
        if q != want:
            raise InvariantBroken("ties", m.label, _where(m, x, fmt, seed, 0),
                                  f"ties {rule} round {show_fraction(Fraction(2 * n + 1, 2))} "
                                  f"to {want}; got {q}")

    falsify(cases, prop, max_examples)
