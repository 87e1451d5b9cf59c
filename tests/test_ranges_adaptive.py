"""Adaptive range rules (ARC's z-score with its moving average, the INT4 paper's
large-gradient interval) and the state dicts of every rule."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ranges import rule_for

from fxsim.ranges import RANGE_RULES, make_rule
from fxsim.ranges.scale import SMALLEST_STEP

# --- zscore -------------------------------------------------------------------------------


def _gaussian_within(rng: np.random.Generator, n: int, bound: float) -> np.ndarray:
    """``n`` draws of N(0, 1) conditioned on ``|x| <= bound`` (rejection)."""
    out = np.empty(0)
    while out.size < n:
        draw = rng.standard_normal(2 * n)
        out = np.concatenate([out, draw[np.abs(draw) <= bound]])
    return out[:n]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 8), st.floats(50.0, 200.0))
def test_zscore_clips_exactly_the_planted_outliers(seed, count, magnitude):
    # N(0, 1) kept within 4 sigma, z = 5: the clip is at least 5 * std >= 5 * 0.9997 > 4, and
    # with at most 8 outliers of at most 200 among 20000, |mean| + 5 std < 21 < 50.
    rng = np.random.default_rng(seed)
    x = _gaussian_within(rng, 20_000, 4.0)
    planted = rng.choice(x.size, count, replace=False)
    x[planted] = magnitude * rng.choice([-1.0, 1.0], count) * rng.uniform(1.0, 1.5, count)
    scale = make_rule("zscore", z=5.0).choose(x, 8, True)
    assert set(np.flatnonzero(np.abs(x) > scale.clip)) == set(planted)
    assert scale.step == scale.clip / 127


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=50), st.floats(0.1, 10.0))
def test_zscore_clip_is_mean_plus_z_std_capped_at_the_max(values, z):
    x = np.array(values)
    clip = make_rule("zscore", z=z).choose(x, 6, True).clip
    if np.abs(x).max() == 0:
        return
    expected = min(max(abs(v) for v in values),
                   abs(statistics.fmean(values)) + z * statistics.pstdev(values))
    assert clip == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_zscore_near_the_float64_maximum(ema):
    big = 1.7976931348623157e308
    x = np.array([big, big, -big / 2, big / 4])
    rule = make_rule("zscore", z=0.2, ema=ema)
    scaled = np.ldexp(x, -1024)  # the same statistics on a safe scale, and back (finite)
    mean, std = math.ldexp(scaled.mean(), 1024), math.ldexp(scaled.std(), 1024)
    for _ in range(2):
        scale = rule.choose(x, 8, True)
        assert scale.clip == pytest.approx(abs(mean) + 0.2 * std, rel=1e-12)
        assert scale.clip < big
        rule.observe(x, scale)


def test_zscore_moving_average_of_mean_and_std():
    rng = np.random.default_rng(1)
    tensors = [rng.normal(loc, scale, 1000) for loc, scale in [(1, 1), (-2, 3), (0.5, 0.2)]]
    rule, ema, z = make_rule("zscore", ema=0.9), 0.9, 3.0
    mean = std = None
    for x in tensors:
        if mean is None:
            mean, std = x.mean(), x.std()
        else:
            mean, std = ema * mean + (1 - ema) * x.mean(), ema * std + (1 - ema) * x.std()
        scale = rule.choose(x, 8, True)
        assert scale.clip == pytest.approx(min(np.abs(x).max(), abs(mean) + z * std), rel=1e-12)
        rule.observe(x, scale)
        assert (rule.mean, rule.std) == pytest.approx((mean, std), rel=1e-12)
    assert make_rule("zscore").choose(tensors[2], 8, True).clip != scale.clip  # ema mattered


# --- large_grad_interval ------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=40),
       st.floats(0.001, 1.0), st.sampled_from([0.3, 0.05, 1e-3]), st.integers(2, 8))
def test_one_interval_update_is_lbts(values, gamma, eps, bits):
    x = np.array(values)
    rule = make_rule("large_grad_interval", gamma=gamma, eps=eps)
    scale = rule.choose(x, bits, True)
    largest = max(abs(v) for v in values)
    if largest:  # a clip that underflows to 0 (subnormal max) falls back to max|x|
        assert scale.clip == (gamma * largest or largest)
        assert scale.step == max(2 * scale.clip / (2**bits - 2), SMALLEST_STEP)
    rule.observe(x, scale)
    if not largest:
        assert rule.gamma == gamma  # an all-zero gradient changes nothing
        return
    clipped = sum(abs(v) > gamma * largest for v in values) / len(values)
    target = eps / (2**bits - 1)
    step = 1e-3 if clipped > target else -1e-3 if clipped < target else 0.0
    assert rule.gamma == min(max(gamma + step, 0.001), 1.0)


def test_interval_ratio_is_clamped():
    rule = make_rule("large_grad_interval", gamma=0.001)
    x = np.zeros(100_000)
    x[0] = 1.0  # clipped fraction 1e-5 < 1e-3 / 15: gamma would fall below 0.001
    rule.observe(x, rule.choose(x, 4, True))
    assert rule.gamma == 0.001
    rule = make_rule("large_grad_interval")
    rule.observe(np.ones(4), rule.choose(np.ones(4), 4, True))  # nothing can exceed gamma=1
    assert rule.gamma == 1.0 - 1e-3


def _clipped_fractions(seed: int, eps: float, size: int, steps: int, bits: int = 4):
    rng = np.random.default_rng(seed)
    rule = make_rule("large_grad_interval", eps=eps)
    fractions = []
    for _ in range(steps):
        g = rng.laplace(size=size)
        scale = rule.choose(g, bits, True)
        fractions.append(np.count_nonzero(np.abs(g) > scale.clip) / size)
        rule.observe(g, scale)
    return np.array(fractions[steps // 2:]), eps / (2**bits - 1)


@pytest.mark.parametrize("eps,size,steps,tolerance", [
    (0.05, 2**14, 1000, 0.15),  # target 3.3e-3: ~55 clipped per step
    (1e-3, 2**16, 600, 0.3),  # LBT's default, target 6.7e-5: ~4.4 clipped per step
])
def test_interval_update_drives_the_clipped_fraction_to_its_target(eps, size, steps, tolerance):
    # A sign update settles where the clipped fraction is above the target half of the time:
    # over the second half of a Laplace gradient stream, the median clipped fraction is within
    # `tolerance` (relative) of eps / (2**b - 1), and about half the steps are above it.
    fractions, target = _clipped_fractions(11, eps, size, steps)
    assert abs(np.median(fractions) / target - 1) <= tolerance
    assert 0.4 <= np.mean(fractions > target) <= 0.6
    assert 0.7 <= fractions.mean() / target <= 1.4


def _lbt_search_reference(g: np.ndarray, eps: float, bits: int, rate: float = 1e-3) -> float:
    """LBT's first-iteration loop, transcribed plainly (a full pass over g per iteration)."""
    largest = np.abs(g).max()
    ratio, average, threshold = 1.0, 0.0, 0
    while threshold <= 0:
        clipped = float(np.mean(np.abs(g) > largest * ratio))
        average = (1 - rate) * average + rate * clipped
        threshold = np.sign(average - eps / (2**bits - 1))
        ratio = ratio + rate * threshold
    return min(max(ratio, 0.001), 1.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0.3, 0.05, 1e-3]), st.integers(2, 6),
       st.integers(1, 300))
def test_initial_search_is_lbts_loop(seed, eps, bits, size):
    g = np.random.default_rng(seed).standard_t(3, size)
    rule = make_rule("large_grad_interval", eps=eps, init_search=True)
    rule.observe(g, rule.choose(g, bits, True))
    assert rule.gamma == _lbt_search_reference(g, eps, bits)
    second = rule.gamma
    rule.observe(g, rule.choose(g, bits, True))  # later steps: the plain update
    assert abs(rule.gamma - second) <= 1e-3 + 1e-15


# --- state dicts, every rule --------------------------------------------------------------

STATEFUL = [("zscore", {"ema": 0.9}), ("large_grad_interval", {"init_search": True}),
            ("large_grad_interval", {"scale": "pow2"})]


def _stream(seed: int, steps: int):
    rng = np.random.default_rng(seed)
    return [rng.standard_t(3, 500) * rng.uniform(0.1, 10) for _ in range(steps)]


def _run(rule, tensors):
    scales = []
    for x in tensors:
        scales.append(rule.choose(x, 4, True))
        rule.observe(x, scales[-1])
    return scales


@pytest.mark.parametrize("name,params", [(n, {}) for n in RANGE_RULES] + STATEFUL)
def test_state_dict_round_trip_gives_identical_choices(name, params):
    tensors = _stream(5, 8)
    rule = rule_for(name, **params)
    _run(rule, tensors[:4])
    saved = json.dumps(rule.state_dict())
    resumed = rule_for(name, **params)
    resumed.load_state_dict(json.loads(saved))
    assert resumed.state_dict() == rule.state_dict()
    assert _run(resumed, tensors[4:]) == _run(rule, tensors[4:])
    assert resumed.state_dict() == rule.state_dict()


def test_state_floats_are_exact_hex():
    rule = make_rule("large_grad_interval")
    for _ in range(3):
        x = np.linspace(-1, 1, 101)
        rule.observe(x, rule.choose(x, 4, True))
    state = rule.state_dict()["state"]
    assert float.fromhex(state["gamma"]) == rule.gamma and state["observed"] == 3
    assert json.loads(json.dumps(state)) == state


@pytest.mark.parametrize("change,word", [
    (lambda s: s | {"rule": "minmax"}, "'minmax'"),
    (lambda s: s | {"params": s["params"] | {"z": 2.0}}, "parameters"),
    (lambda s: {"state": s["state"]}, "keys"),
    (lambda s: s | {"state": {"mean": "nope", "std": None}}, "mean"),
    (lambda s: s | {"state": {}}, "mean"),
])
def test_load_state_dict_refuses_a_mismatch(change, word):
    rule = make_rule("zscore", ema=0.5)
    with pytest.raises(ValueError, match=word):
        rule.load_state_dict(change(rule.state_dict()))


def test_stateless_rules_refuse_state():
    rule = make_rule("minmax")
    with pytest.raises(ValueError, match="keeps no state"):
        rule.load_state_dict(rule.state_dict() | {"state": {"gamma": "0x1p+0"}})
    with pytest.raises(ValueError, match="observed"):
        lgi = make_rule("large_grad_interval")
        lgi.load_state_dict(lgi.state_dict() | {"state": {"gamma": "0x1p-1", "observed": -1}})
