"""Bad input is refused with a message naming the argument, the value and what is allowed."""

from __future__ import annotations

import numpy as np
import pytest

import fxsim

FMT = fxsim.QFormat(8, 2)
X = np.array([0.5, -1.25])


def test_unknown_rounding_lists_names():
    with pytest.raises(ValueError, match=r"rounding must be one of nearest_even, .*; got 'round'"):
        fxsim.quantize(X, FMT, "round")


def test_unknown_overflow_lists_names():
    with pytest.raises(ValueError, match="overflow must be one of saturate, wrap; got 'clip'"):
        fxsim.quantize(X, FMT, overflow="clip")


@pytest.mark.parametrize("step", [0.0, -1.0, np.inf, np.nan])
def test_bad_step(step):
    with pytest.raises(ValueError, match="step must be a finite real > 0"):
        fxsim.quantize(X, FMT, step=step)


@pytest.mark.parametrize("k", [0, 33, -1])
def test_random_bits_range(k):
    with pytest.raises(ValueError, match=rf"random_bits must be an integer in 1\.\.32, got {k}"):
        fxsim.quantize(X, FMT, "stochastic_k", random_bits=k)


def test_random_bits_required_and_only_for_stochastic_k():
    with pytest.raises(ValueError, match="needs random_bits"):
        fxsim.quantize(X, FMT, "stochastic_k")
    with pytest.raises(ValueError, match="random_bits applies only to rounding='stochastic_k'"):
        fxsim.quantize(X, FMT, "floor", random_bits=4)


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array([object()]), np.array(["a"])])
def test_complex_object_string_arrays_refused(bad):
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        fxsim.quantize(bad, FMT)


def test_huge_integers_refused_small_ones_accepted():
    assert fxsim.quantize(np.array([3, -2]), FMT).raw.tolist() == [12, -8]
    with pytest.raises(ValueError, match="beyond 2\\*\\*53"):
        fxsim.quantize(np.array([2**60]), FMT)


def test_requantize_needs_fxarray_and_format():
    with pytest.raises(TypeError, match="q must be an FxArray"):
        fxsim.requantize(X, FMT)
    with pytest.raises(TypeError, match="fmt must be a QFormat"):
        fxsim.quantize(X, (8, 2))


def test_seed_and_stream_validated():
    with pytest.raises(ValueError,
                       match=r"seed must be an integer in 0\.\.18446744073709551615, got -1"):
        fxsim.quantize(X, FMT, "stochastic", seed=-1)
    with pytest.raises(ValueError, match=r"stream must be an integer >= 0, got -3"):
        fxsim.quantize(X, FMT, "stochastic", seed=1, stream=-3)


def test_nan_policy():
    x = np.array([1.0, np.nan, -2.0])
    with pytest.raises(ValueError, match=r"x contains 1 NaN.*nan='zero'"):
        fxsim.quantize(x, FMT)
    q = fxsim.quantize(x, FMT, nan="zero")
    assert q.raw.tolist() == [4, 0, -8] and q.stats.nan == 1
    with pytest.raises(ValueError, match="nan must be one of raise, zero"):
        fxsim.quantize(x, FMT, nan="ignore")


def test_infinity_saturates_and_is_refused_under_wrap():
    q = fxsim.quantize(np.array([np.inf, -np.inf, 1.0]), FMT)
    assert q.raw.tolist() == [127, -128, 4] and q.stats.saturated == 2
    with pytest.raises(ValueError, match=r"infinite value.*overflow='wrap'"):
        fxsim.quantize(np.array([np.inf]), FMT, overflow="wrap")
