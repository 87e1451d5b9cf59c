"""Hypothesis strategies shared by the tests: formats, modes and awkward float values."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from fxsim.numeric.formats import QFormat
from fxsim.numeric.rounding import ROUNDING_MODES

SPECIAL_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                  -1.7976931348623157e308, 0.5, -0.5, 1.5, -2.5, 2.0**52 + 1, -(2.0**53)]


def formats(min_bits: int = 1, max_bits: int = 62, frac=None):
    """QFormats over the whole legal range, with frac negative and beyond bits."""
    frac = frac if frac is not None else st.one_of(
        st.integers(-8, 70), st.integers(-1200, 1200), st.sampled_from([-2000, 1100, 1200])
    )
    return st.builds(QFormat, st.integers(min_bits, max_bits), frac, st.booleans())


def rounding_calls():
    """(mode, random_bits) pairs covering every mode; stochastic_k with k in 1..32."""
    return st.sampled_from(ROUNDING_MODES).flatmap(
        lambda m: st.tuples(st.just(m), st.integers(1, 32) if m == "stochastic_k" else st.none())
    )


def values_near_grid(fmt: QFormat):
    """Floats on, at half of and next to the grid of ``fmt``, and around its range edges."""
    codes = st.one_of(
        st.integers(fmt.min_code - 4, fmt.max_code + 4),
        st.sampled_from([fmt.min_code, fmt.max_code, fmt.min_code - 1, fmt.max_code + 1, 0]),
    )
    offsets = st.sampled_from([0.0, 0.5, -0.5, 0.25, 0.75, 0.4999999, 0.5000001])
    return st.builds(lambda c, o: _ldexp_finite(float(c) + o, -fmt.frac), codes, offsets)


def _ldexp_finite(mantissa: float, exponent: int) -> float:
    """``mantissa * 2**exponent``, clamped to the largest finite float instead of overflowing."""
    try:
        return math.ldexp(mantissa, exponent)
    except OverflowError:
        return math.copysign(1.7976931348623157e308, mantissa)


def awkward_floats(fmt: QFormat, allow_infinity: bool = True):
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=allow_infinity),
        st.sampled_from(SPECIAL_FLOATS),
        values_near_grid(fmt),
        st.floats(-4.0, 4.0),
    )
