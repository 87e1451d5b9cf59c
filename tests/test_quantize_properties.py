"""Properties every rounding mode must have, independent of the reference implementation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import round_fraction

import fxsim
from fxsim.numeric.rounding import DIRECTED_MODES, NEAREST_MODES

FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
SMALL = st.floats(-1000, 1000)  # times 2**50 stays inside a 62-bit grid
WIDE = fxsim.QFormat(40, 8)  # wide enough that values in FINITE never saturate


def exact_error_lsb(x: float, code: int, fmt: fxsim.QFormat) -> Fraction:
    """(value of code - x) in LSBs, exactly."""
    return (fmt.exact_value(code) - Fraction(x)) * Fraction(2) ** fmt.frac


@settings(max_examples=300, deadline=None)
@given(st.lists(FINITE, min_size=1, max_size=50), st.sampled_from(NEAREST_MODES + DIRECTED_MODES))
def test_error_bound(values, mode):
    """|error| <= 1/2 LSB for nearest modes, < 1 LSB for directed modes."""
    q = fxsim.quantize(np.array(values), WIDE, mode)
    for x, code in zip(values, q.raw.tolist(), strict=True):
        err = abs(exact_error_lsb(x, code, WIDE))
        assert err <= Fraction(1, 2) if mode in NEAREST_MODES else err < 1


@settings(max_examples=300, deadline=None)
@given(st.lists(FINITE, min_size=1, max_size=50))
def test_direction(values):
    """rtz never increases |q| and keeps the sign; floor <= x <= ceil."""
    x = np.array(values)
    rtz = fxsim.quantize(x, WIDE, "rtz").to_float()
    floor = fxsim.quantize(x, WIDE, "floor").to_float()
    ceil = fxsim.quantize(x, WIDE, "ceil").to_float()
    assert np.all(np.abs(rtz) <= np.abs(x))
    assert np.all((rtz == 0) | (np.sign(rtz) == np.sign(x)))
    assert np.all(floor <= x) and np.all(x <= ceil)
    assert np.all(ceil - floor <= WIDE.lsb)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("nearest_even", [-2, -2, -0, 0, 2, 2]),
        ("nearest_away", [-3, -2, -1, 1, 2, 3]),
        ("nearest_up", [-2, -1, -0, 1, 2, 3]),
    ],
)
def test_tie_rules(mode, expected):
    """Ties y = n + 1/2 at -2.5, -1.5, -0.5, 0.5, 1.5, 2.5 LSB, each mode's own rule."""
    ties = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    for frac in (-3, 0, 5):
        q = fxsim.quantize(np.ldexp(ties, -frac), fxsim.QFormat(8, frac), mode)
        assert q.raw.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 53), st.integers(-20, 60), st.booleans(), st.data())
def test_idempotent_on_representable_values(bits, frac, signed, data):
    fmt = fxsim.QFormat(bits, frac, signed)
    codes = data.draw(st.lists(st.integers(fmt.min_code, fmt.max_code), min_size=1, max_size=30))
    values = fxsim.FxArray(np.array(codes, dtype=fmt.dtype), fmt).to_float()
    for mode in fxsim.ROUNDING_MODES:
        extra = {"random_bits": 3} if mode == "stochastic_k" else {}
        assert fxsim.quantize(values, fmt, mode, seed=1, **extra).raw.tolist() == codes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=2, max_size=60), st.integers(1, 62),
       st.integers(-50, 50), st.sampled_from(NEAREST_MODES + DIRECTED_MODES))
def test_deterministic_modes_are_monotone(values, bits, frac, mode):
    x = np.sort(np.array(values))
    q = fxsim.quantize(x, fxsim.QFormat(bits, frac), mode)
    assert np.all(np.diff(q.raw.astype(object)) >= 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=60), st.integers(1, 62),
       st.integers(-70, 70), st.booleans())
def test_saturate_stays_in_range_and_counts(values, bits, frac, signed):
    fmt = fxsim.QFormat(bits, frac, signed)
    q = fxsim.quantize(np.array(values), fmt, "nearest_even", "saturate")
    assert q.raw.min() >= fmt.min_code and q.raw.max() <= fmt.max_code
    # saturated: the rounded code left the range (a tie at the edge that rounds outward counts,
    # though the clamped code is within half an LSB of x)
    clamped = sum(
        1 for x in values
        if math.isinf(x) or not fmt.min_code <= round_fraction(
            Fraction(x) * Fraction(2) ** fmt.frac, "nearest_even") <= fmt.max_code
    )
    assert q.stats.saturated == clamped


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=60),
       st.integers(1, 62), st.integers(-70, 70), st.booleans())
def test_wrap_is_twos_complement_modulo(values, bits, frac, signed):
    """The wrapped code is congruent to floor(y) modulo 2**bits and lies in range."""
    fmt = fxsim.QFormat(bits, frac, signed)
    q = fxsim.quantize(np.array(values), fmt, "floor", "wrap")
    for x, code in zip(values, q.raw.tolist(), strict=True):
        exact = math.floor(Fraction(x) * Fraction(2) ** frac)
        assert (code - exact) % (1 << bits) == 0
        assert fmt.min_code <= code <= fmt.max_code


@settings(max_examples=300, deadline=None)
@given(st.lists(SMALL, min_size=1, max_size=40), st.integers(-10, 30), st.integers(1, 20),
       st.sampled_from(DIRECTED_MODES))
def test_requantize_equals_direct_for_directed_modes(values, frac_out, extra, mode):
    """floor, ceil and rtz compose: rounding to a finer grid first changes nothing."""
    x = np.array(values)
    fine, coarse = fxsim.QFormat(62, frac_out + extra), fxsim.QFormat(62, frac_out)
    two_step = fxsim.requantize(fxsim.quantize(x, fine, mode), coarse, mode)
    assert two_step.raw.tolist() == fxsim.quantize(x, coarse, mode).raw.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(SMALL, min_size=1, max_size=40), st.integers(-10, 30), st.integers(1, 20),
       st.sampled_from(NEAREST_MODES))
def test_nearest_double_rounding_only_at_manufactured_ties(values, frac_out, extra, mode):
    """Double rounding (fine grid, then coarse) differs from direct rounding exactly when the
    first rounding lands on a tie of the coarse grid that x itself was not on; then by 1 code."""
    x = np.array(values)
    fine, coarse = fxsim.QFormat(62, frac_out + extra), fxsim.QFormat(62, frac_out)
    first = fxsim.quantize(x, fine, mode)
    two_step = fxsim.requantize(first, coarse, mode).raw.tolist()
    direct = fxsim.quantize(x, coarse, mode).raw.tolist()
    for xv, mid, a, b in zip(values, first.raw.tolist(), two_step, direct, strict=True):
        y_mid = Fraction(mid, 1 << extra)
        manufactured_tie = (y_mid - math.floor(y_mid) == Fraction(1, 2)
                            and Fraction(xv) * Fraction(2) ** frac_out != y_mid)
        if a != b:
            assert manufactured_tie and abs(a - b) == 1
    # and such cases exist: 0.3 LSB above a tie rounds to the tie on a 1-bit-finer grid
    tie_plus = np.array([2.5 + 2.0**-5])
    fine1 = fxsim.QFormat(20, 1)
    base = fxsim.QFormat(20, 0)
    two = fxsim.requantize(fxsim.quantize(tie_plus, fine1, "nearest_even"), base, "nearest_even")
    assert two.raw.tolist() == [2] and fxsim.quantize(tie_plus, base).raw.tolist() == [3]


@pytest.mark.parametrize("mode,random_bits", [("stochastic", None), ("stochastic_k", 8)])
@pytest.mark.parametrize("fraction", [0.0, 0.125, 0.3, 0.5, 0.7109375, 0.99])
def test_stochastic_rounds_up_with_probability_of_fraction(mode, random_bits, fraction):
    """P(round up) = frac(y) (to within 2**-k for k random bits), for y of either sign; the
    empirical rate is within 5 standard deviations; so the mean error is ~0 (unbiased)."""
    n = 200_000
    for base in (3.0, -7.0):
        y = base + fraction
        q = fxsim.quantize(np.full(n, y), fxsim.QFormat(16, 0), mode, seed=12345,
                           random_bits=random_bits)
        up = np.mean(q.raw == math.floor(y) + 1)
        assert np.all((q.raw == math.floor(y)) | (q.raw == math.floor(y) + 1))
        k = random_bits or 62
        p = math.floor(fraction * 2**k) / 2**k
        sigma = math.sqrt(max(p * (1 - p), 1e-12) / n)
        assert abs(up - p) <= 5 * sigma + 1e-12
        mean_error = np.mean(q.raw - y)
        assert abs(mean_error - (p - fraction)) <= 5 * sigma + 1e-12


def test_stochastic_unbiased_on_gaussian_data():
    x = np.random.default_rng(0).standard_normal(500_000)
    fmt = fxsim.QFormat(16, 3)
    err = fxsim.quantize(x, fmt, "stochastic", seed=5).to_float() - x
    # each error lies in (-lsb, lsb) with variance <= lsb**2 / 4
    assert abs(err.mean()) < 5 * (fmt.lsb / 2) / math.sqrt(x.size)
    nearest_err = fxsim.quantize(x, fmt, "nearest_even").to_float() - x
    assert err.var() > nearest_err.var()  # stochastic rounding costs variance


def test_seed_repeats_and_differs():
    x = np.random.default_rng(1).standard_normal(10_000)
    fmt = fxsim.QFormat(6, 2)
    a = fxsim.quantize(x, fmt, "stochastic")
    again = fxsim.quantize(x, fmt, "stochastic", seed=a.stats.seed)
    assert a.stats.seed is not None and np.array_equal(a.raw, again.raw)
    other_stream = fxsim.quantize(x, fmt, "stochastic", seed=a.stats.seed, stream=1)
    assert not np.array_equal(a.raw, other_stream.raw)


def test_nan_policy():
    x = np.array([1.0, np.nan, -2.0])
    with pytest.raises(ValueError, match=r"x contains 1 NaN.*nan='zero'"):
        fxsim.quantize(x, fxsim.QFormat(8, 2))
    q = fxsim.quantize(x, fxsim.QFormat(8, 2), nan="zero")
    assert q.raw.tolist() == [4, 0, -8] and q.stats.nan == 1
    with pytest.raises(ValueError, match="nan must be one of raise, zero"):
        fxsim.quantize(x, fxsim.QFormat(8, 2), nan="ignore")


def test_infinity_saturates_and_is_refused_under_wrap():
    fmt = fxsim.QFormat(8, 2)
    q = fxsim.quantize(np.array([np.inf, -np.inf, 1.0]), fmt)
    assert q.raw.tolist() == [127, -128, 4] and q.stats.saturated == 2
    with pytest.raises(ValueError, match=r"infinite value.*overflow='wrap'"):
        fxsim.quantize(np.array([np.inf]), fmt, overflow="wrap")
