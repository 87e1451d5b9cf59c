"""Real (non-power-of-two) quantization steps: codes stay integers; moving between steps is an
integer multiply by a fixed-point multiplier and a rounding shift."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import ref_rescale

import fxsim
from fxsim.testing.strategies import rounding_modes

STEPS = st.floats(1e-6, 1e4)


@given(st.floats(1e-30, 1e30), st.integers(2, 53))
def test_multiplier_has_its_bits_and_approximates_the_ratio(ratio, bits):
    multiplier, shift = fxsim.fixed_point_multiplier(ratio, bits)
    assert 2 ** (bits - 1) <= multiplier < 2**bits
    exact = Fraction(ratio) * Fraction(2) ** shift
    assert abs(multiplier - exact) <= Fraction(1, 2)  # round to nearest of an exact product


@settings(max_examples=200, deadline=None)
@given(st.data(), STEPS, STEPS, st.integers(1, 24), st.integers(1, 16),
       st.sampled_from(fxsim.OVERFLOW_MODES), st.integers(0, 2**63))
def test_rescale_equals_reference(data, step_in, step_out, bits_in, bits_out, overflow, seed):
    mode, random_bits = data.draw(rounding_modes(registered=False))
    fmt_in, fmt_out = fxsim.QFormat(bits_in, 0), fxsim.QFormat(bits_out, 0)
    codes = data.draw(st.lists(st.integers(fmt_in.min_code, fmt_in.max_code), min_size=1,
                               max_size=20))
    q = fxsim.FxArray(np.array(codes, dtype=fmt_in.dtype), fmt_in, step=step_in)
    r = fxsim.requantize(q, fmt_out, mode, overflow, seed=seed, random_bits=random_bits,
                         step=step_out)
    expected, events = ref_rescale(codes, step_in, step_out, fmt_out, mode, overflow, seed, 0,
                                   random_bits)
    assert r.raw.tolist() == expected and r.stats.overflowed == events
    assert r.step == step_out and r.lsb == step_out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=30), STEPS, STEPS)
def test_rescale_error_bound_against_the_real_ratio(codes, step_in, step_out):
    """Nearest rounding: within half an output LSB plus the multiplier's relative error."""
    q = fxsim.FxArray(np.array(codes, dtype=np.int32), fxsim.QFormat(22, 0), step=step_in)
    r = fxsim.requantize(q, fxsim.QFormat(62, 0), step=step_out)  # 2**20 * 1e10 fits
    for code, out in zip(codes, r.raw.tolist(), strict=True):
        ideal = Fraction(code) * Fraction(step_in) / Fraction(step_out)
        assert abs(out - ideal) <= Fraction(1, 2) + abs(ideal) * Fraction(1, 2**30)


def test_step_recorded_and_power_of_two_target_drops_it():
    q = fxsim.quantize(np.array([0.3, -1.7, 2.05]), fxsim.QFormat(8, 0), step=0.1)
    assert q.step == 0.1 and q.raw.tolist() == [3, -17, 20]  # 2.05 / 0.1 = 20.4999... in float64
    r = fxsim.requantize(q, fxsim.QFormat(8, 2))
    assert r.step is None and r.raw.tolist() == [1, -7, 8]
    assert np.allclose(r.to_float(), [0.25, -1.75, 2.0])
    assert q[1:].step == 0.1 and q.with_raw(q.raw[::-1]).step == 0.1


def test_rescale_refuses_overflowing_products():
    q = fxsim.FxArray(np.array([2**40]), fxsim.QFormat(48, 0), step=1.5)
    with pytest.raises(ValueError, match="pass a smaller multiplier_bits"):
        fxsim.requantize(q, fxsim.QFormat(8, 0), step=3.0)
    assert fxsim.requantize(q, fxsim.QFormat(60, 0), step=3.0, multiplier_bits=16).raw == 2**39


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, "x"])
def test_bad_steps(bad):
    with pytest.raises(ValueError, match="step must be a finite real > 0"):
        fxsim.FxArray(np.array([1]), fxsim.QFormat(4, 0), step=bad)
    with pytest.raises(ValueError, match="step must be a finite real > 0"):
        fxsim.requantize(fxsim.FxArray(np.array([1]), fxsim.QFormat(4, 0)), fxsim.QFormat(4, 0),
                         step=bad)
