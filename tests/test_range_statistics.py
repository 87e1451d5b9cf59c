"""Range statistics computed without full-size temporaries, equal to numpy's: the z-score
rule's mean_and_std (numpy's pairwise summation tree over subtrees), on sizes around its
splits and on the tensors the rule sees, and the clipped count of the large-gradient rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.numeric.pairwise import SUBTREE
from fxsim.numeric.pairwise import array_mean_and_std as mean_and_std


def same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3 * SUBTREE), st.integers(0, 2**32 - 1), st.floats(-6, 6))
def test_mean_and_std_equal_numpy(n, seed, magnitude):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0**magnitude + rng.uniform(-3, 3) * 10.0**magnitude
    mean, std = mean_and_std(x)
    assert mean == x.mean() and std == x.std()


@pytest.mark.parametrize("shape", [(SUBTREE - 1,), (SUBTREE,), (SUBTREE + 13,), (5 * SUBTREE + 7,),
                                   (128, 16, 32, 32), (3, 7, 11, 13), (129,), (1,)])
def test_large_and_four_dimensional_tensors(shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 1e-3 + 5e-4
    assert mean_and_std(x) == (x.mean(), x.std())


def test_infinities_and_nan_as_numpy():
    x = np.ones(3 * SUBTREE + 5)
    for value in (np.inf, -np.inf, np.nan):
        y = x.copy()
        y[517] = value
        with np.errstate(invalid="ignore"):
            want = (y.mean(), y.std())
        with np.errstate(invalid="ignore"):
            got = mean_and_std(y)
        assert same(got[0], want[0]) and same(got[1], want[1])


def test_count_beyond_counts_what_abs_counts():
    from fxsim.ranges.adaptive import _count_beyond

    rng = np.random.default_rng(9)
    x = rng.standard_normal(5000)
    x[:6] = np.inf, -np.inf, np.nan, -0.0, 0.0, 1.5
    for threshold in (0.0, 0.5, 1.5, 3.0, np.inf):
        assert _count_beyond(x, threshold) == np.count_nonzero(np.abs(x) > threshold)


def test_a_known_max_chooses_what_the_values_choose():
    """Rules given max|x| (what a deferred tensor finds while it is computed) choose the scale
    they choose from the values, and refuse a NaN one as they refuse NaN values."""
    from fxsim.ranges import RANGE_RULES, make_rule

    rng = np.random.default_rng(4)
    x = rng.standard_normal(3000) * 0.01
    for name in RANGE_RULES:
        if name == "fixed":
            continue
        rule = make_rule(name)
        assert rule.choose(x, 8, True, largest=float(np.abs(x).max())) == rule.choose(x, 8, True)
        with pytest.raises(ValueError, match="NaN or infinity"):
            rule.choose(x, 8, True, largest=float("nan"))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 600_000), st.integers(0, 2**32 - 1),
       st.sampled_from([0.0, 1e-300, 0.5, 1.5, 3.0, np.inf]))
def test_count_beyond_on_large_and_two_dimensional_tensors(n, seed, threshold):
    from fxsim.ranges.adaptive import _count_beyond

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * rng.uniform(0.1, 3)
    specials = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, threshold, -threshold])
    x[rng.integers(0, max(n, 1), min(n, 50))] = rng.choice(specials, min(n, 50))
    for shape in ((n,), (1, n)):
        assert _count_beyond(x.reshape(shape), threshold) == np.count_nonzero(
            np.abs(x) > threshold)
