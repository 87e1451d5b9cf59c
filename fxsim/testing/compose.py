"""Invariants of chains of conversions and of overflow: rounding twice against once (directed
modes compose, nearest ones differ only at the ties the first rounding manufactures),
requantize agreeing with quantize, and saturate and wrap applied after rounding.

Same conventions as :mod:`fxsim.testing.elementwise`.
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import strategies as st

from fxsim.numeric.formats import FxArray, QFormat
from fxsim.testing.core import (
    SAFE,
    WIDE_BITS,
    InvariantBroken,
    falsify,
    lsb_units,
    resolve_mode,
    show_fraction,
    show_value,
)
from fxsim.testing.elementwise import MAX_VALUES, SEEDS, _where, format_cases, wide_values
from fxsim.testing.strategies import code_specs, codes_of, qformats, resolve_value, value_specs

HUGE = 2**62  # |y| at or above this: an integer outside every format (not given to rules)


def _two_step_cases():
    """``(frac, extra, value specs)``: a 62-bit format, how many bits finer the first rounding
    goes, and values, often one ULP off a tie, which the finer grid may round onto the tie
    (those that would saturate on the finer grid are dropped)."""
    near_ties = st.tuples(st.just("tie"), code_specs(), st.sampled_from([1, -1]))
    values = st.one_of(value_specs(allow_infinity=False), near_ties)
    return st.tuples(st.one_of(st.integers(0, 8), st.integers(-8, 40), st.integers(1000, 1060)),
                     st.integers(1, 20), st.lists(values, min_size=1, max_size=MAX_VALUES))


def _two_step(mode, case):
    frac, extra, specs = case
    coarse, fine = QFormat(WIDE_BITS, frac), QFormat(WIDE_BITS, frac + extra)
    values = [x for x in (resolve_value(s, coarse) for s in specs)
              if abs(lsb_units(x, coarse)) < SAFE >> 20]
    first = mode.quantize(values, fine)
    two = mode.requantize(first, coarse).raw.tolist()
    direct = mode.quantize(values, coarse).raw.tolist()
    return coarse, fine, values, first.raw.tolist(), two, direct


def check_composes(mode: str, *, random_bits: int | None = None,
                   max_examples: int = 100) -> None:
    """Rounding to a finer grid first, then to the coarse one, equals rounding to the coarse
    grid directly (``floor``, ``ceil``, ``toward_zero``; deterministic modes)."""
    m = resolve_mode(mode, random_bits)

    def prop(case) -> None:
        coarse, fine, values, mids, two, direct = _two_step(m, case)
        for x, mid, a, b in zip(values, mids, two, direct, strict=True):
            if a != b:
                raise InvariantBroken(
                    "composes", m.label, f"{show_value(x, coarse)}, through {fine}",
                    f"rounding twice must equal rounding once; via {mid} (in {fine}) it gives "
                    f"{a}, directly {b}")

    falsify(_two_step_cases(), prop, max_examples)


def check_double_rounding(mode: str, *, random_bits: int | None = None,
                          max_examples: int = 100) -> None:
    """Rounding twice (through a finer grid) differs from rounding once only where the first
    rounding lands exactly on a tie of the coarse grid that ``y`` itself was not on, and then
    by one code: the double-rounding error of nearest modes, and no other."""
    m = resolve_mode(mode, random_bits)

    def prop(case) -> None:
        coarse, fine, values, mids, two, direct = _two_step(m, case)
        extra = fine.frac - coarse.frac
        for x, mid, a, b in zip(values, mids, two, direct, strict=True):
            y_mid = Fraction(mid, 1 << extra)
            manufactured = (y_mid - math.floor(y_mid) == Fraction(1, 2)
                            and lsb_units(x, coarse) != y_mid)
            if a != b and not (manufactured and abs(a - b) == 1):
                why = ("the first rounding did not make a new tie" if not manufactured else
                       "they differ by more than one code")
                raise InvariantBroken(
                    "double_rounding", m.label, f"{show_value(x, coarse)}, through {fine}",
                    f"rounding twice may differ from rounding once only at a tie the first "
                    f"rounding made, by one code; via {show_fraction(y_mid)} LSB it gives "
                    f"{a}, directly {b}, and {why}")

    falsify(_two_step_cases(), prop, max_examples)


def check_requantize_matches_quantize(mode: str, *, random_bits: int | None = None,
                                      max_examples: int = 100) -> None:
    """``requantize(q, fmt)`` equals ``quantize(q.to_float(), fmt)`` (codes and counts, same
    seed), both overflow modes: the integer path and the float path round alike."""
    m = resolve_mode(mode, random_bits)

    strategy = st.tuples(qformats(bits=(1, 53), frac=(-60, 200)),
                         st.lists(code_specs(), min_size=1, max_size=MAX_VALUES),
                         qformats(frac=(-70, 70)), st.sampled_from(["saturate", "wrap"]), SEEDS)

    def prop(case) -> None:
        fmt_in, specs, out, overflow, seed = case
        codes = codes_of(specs, fmt_in)
        fmt_out = QFormat(out.bits, fmt_in.frac + out.frac, out.signed)
        q = FxArray(codes, fmt_in)
        by_codes = m.requantize(q, fmt_out, overflow, seed=seed)
        by_floats = m.quantize(q.to_float(), fmt_out, overflow, seed=seed)
        for i, (c, a, b) in enumerate(zip(codes.tolist(), by_codes.raw.tolist(),
                                          by_floats.raw.tolist(), strict=True)):
            if a != b:
                x = float(q.to_float()[i])
                raise InvariantBroken(
                    "requantize_matches_quantize", m.label,
                    f"code {c} of {fmt_in} -> {fmt_out} ({overflow}; "
                    f"{_where(m, x, fmt_out, seed, i)})",
                    f"requantize and quantize of the same value must agree; requantize gives "
                    f"{a}, quantize {b}")
        if by_codes.stats != by_floats.stats:
            raise InvariantBroken(
                "requantize_matches_quantize", m.label, f"codes {codes.tolist()} of {fmt_in} -> "
                f"{fmt_out} ({overflow}, seed {seed})",
                f"the counts differ: requantize {by_codes.stats}, quantize {by_floats.stats}")

    falsify(strategy, prop, max_examples)




def _expected_fit(m, fmt: QFormat, values, seed: int, wrap: bool):
    """``(codes, out_of_range)``: the rounded integers (rounded in a 62-bit format, where
    they fit; huge values are their own integers) fitted into ``fmt``."""
    wide = m.quantize(values, QFormat(WIDE_BITS, fmt.frac), seed=seed).raw.tolist()
    codes, events = [], 0
    for x, v in zip(values, wide, strict=True):
        if math.isinf(x):
            v = fmt.max_code + 1 if x > 0 else fmt.min_code - 1
        elif abs(lsb_units(x, fmt)) >= HUGE:
            v = int(lsb_units(x, fmt))  # an integer
        inside = fmt.min_code <= v <= fmt.max_code
        events += not inside
        if inside:
            codes.append(v)
        elif wrap:
            w = v % (1 << fmt.bits)
            codes.append(w - (1 << fmt.bits) if w > fmt.max_code else w)
        else:
            codes.append(fmt.max_code if v > fmt.max_code else fmt.min_code)
    return codes, events


def _check_fit(name: str, mode: str, random_bits, max_examples: int, wrap: bool) -> None:
    m = resolve_mode(mode, random_bits)
    overflow = "wrap" if wrap else "saturate"
    rule = ("keeps the low bits of the rounded integer (two's complement)" if wrap else
            "clamps the rounded integer to the format's range")

    def prop(case) -> None:
        fmt, values, seed = wide_values(case)
        # drop values a 62-bit rounding would saturate, unless they are integers beyond 2**62
        values = [x for x in values
                  if math.isinf(x) or not SAFE <= abs(lsb_units(x, fmt)) < HUGE]
        if not values:
            return
        got = m.quantize(values, fmt, overflow, seed=seed)
        want, events = _expected_fit(m, fmt, values, seed, wrap)
        for i, (x, a, b) in enumerate(zip(values, got.raw.tolist(), want, strict=True)):
            if a != b:
                raise InvariantBroken(name, m.label, _where(m, x, fmt, seed, i),
                                      f"{overflow} {rule}: that is {b}; got {a}")
        counted = got.stats.wrapped if wrap else got.stats.saturated
        if counted != events:
            raise InvariantBroken(name, m.label, f"values {values} in {fmt}, seed {seed}",
                                  f"{events} rounded values left the range, {counted} counted")

    falsify(format_cases(bits=(1, 60), signed=st.booleans(), finite=wrap), prop, max_examples)


def check_saturate(mode: str, *, random_bits: int | None = None,
                   max_examples: int = 100) -> None:
    """``overflow="saturate"`` clamps the rounded integer to the range and counts it."""
    _check_fit("saturate", mode, random_bits, max_examples, wrap=False)


def check_wrap(mode: str, *, random_bits: int | None = None, max_examples: int = 100) -> None:
    """``overflow="wrap"`` keeps the rounded integer's low ``bits`` bits and counts it."""
    _check_fit("wrap", mode, random_bits, max_examples, wrap=True)
