"""A quantizer given a deferred tensor whose max|x| nobody knows rounds it in one pass with the
last call's scale, and keeps those codes only when max|x| gives a scale that rounds alike:
every result equals the one of the materialized values, guess right or wrong."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.layers.quantizer import NonFiniteError, TensorQuantizer
from fxsim.numeric.deferred import BLOCK, DeferredFloat
from fxsim.policy import Policy

FIXED = {"name": "f", "defaults": {
    "weights": {"bits": 8}, "activations": {"bits": 8},
    "act_grads": {"bits": 6, "range": "fixed", "frac": 9, "rounding": "stochastic"},
    "weight_grads": {"bits": 8}, "master": {"bits": 32, "frac": 24}}}
SPECS = {
    "int8": Policy.load("int8").spec("l", "act_grads", kind="batchnorm"),
    "sr8": Policy.load("sr8").spec("l", "act_grads", kind="batchnorm"),
    "fixed": Policy.load(FIXED).spec("l", "act_grads", kind="batchnorm"),
}


def deferred(values: np.ndarray) -> DeferredFloat:
    def fill(start, stop, step, out):
        out[:] = values.reshape(-1)[start:stop:step]

    return DeferredFloat(values.shape, fill)


class Counting(TensorQuantizer):
    """Counts its conversions (one per call when the guessed scale was kept)."""

    rounds = 0

    def _round(self, *args):
        self.rounds += 1
        return super()._round(*args)


def same_call(a: TensorQuantizer, b: TensorQuantizer, outs, details) -> None:
    assert np.array_equal(outs[0].raw, outs[1].raw) and outs[0].raw.dtype == outs[1].raw.dtype
    assert outs[0].fmt == outs[1].fmt and outs[0].step == outs[1].step
    assert outs[0].stats == outs[1].stats
    assert a.last_scale == b.last_scale and details[0] == details[1]
    masks = a.ste_mask(), b.ste_mask()
    assert (masks[0] is None) == (masks[1] is None)
    if masks[0] is not None:
        assert np.array_equal(masks[0], masks[1])


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(SPECS)), st.integers(1, 2 * BLOCK + 300),
       st.lists(st.floats(-12, 4), min_size=2, max_size=5), st.integers(0, 2**32 - 1))
def test_one_pass_equals_the_materialized_values(policy, size, magnitudes, seed):
    spec = SPECS[policy]
    fast = Counting(spec, "l.act_grads", keep_mask=True)
    plain = TensorQuantizer(spec, "l.act_grads", keep_mask=True)
    rng = np.random.default_rng(seed)
    for step, magnitude in enumerate(magnitudes):
        values = rng.standard_normal((1, size)) * 2.0**magnitude
        details: list[dict] = [{}, {}]
        rounds = fast.rounds
        outs = [fast(deferred(values), seed, step, details=details[0]),
                plain(values, seed, step, details=details[1])]
        same_call(fast, plain, outs, details)
        assert fast.rounds - rounds in (1, 2)
    assert fast.take_epoch_stats()["stats"] == plain.take_epoch_stats()["stats"]


@pytest.mark.parametrize("policy", sorted(SPECS))
def test_a_kept_guess_rounds_once_and_a_wrong_one_twice(policy):
    quantizer = Counting(SPECS[policy], "l.act_grads", keep_mask=True)
    values = np.random.default_rng(1).standard_normal((4, 1000))
    counts = []
    for scale in (1.0, 1.01, 40.0):  # first call, the same binary exponent, 32x larger
        before = quantizer.rounds
        quantizer(deferred(values * scale), 7, 0)
        counts.append(quantizer.rounds - before)
    # a first call has no guess; max|x| moving within its binary exponent keeps the guess;
    # 32x larger changes the min-max scale (a fixed one never changes)
    assert counts == ([1, 1, 1] if policy == "fixed" else [1, 1, 2])


def test_nan_after_a_guess_reports_as_the_values_would():
    spec = SPECS["int8"]
    errors = []
    for make in (deferred, lambda v: v):
        quantizer = TensorQuantizer(spec, "l.act_grads", keep_mask=True)
        values = np.ones((2, 500))
        quantizer(make(values), 0, 0)
        values[1, 7] = np.nan
        with pytest.raises(NonFiniteError) as caught:
            quantizer(make(values), 0, 1)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("special", [None, np.nan, -np.inf, "zeros"])
def test_a_pass_over_a_deferred_tensor_leaves_its_exact_max_abs(special):
    from fxsim import QFormat, quantize

    values = np.random.default_rng(2).standard_normal(BLOCK + 999) * 1e-3
    if special == "zeros":
        values[:] = -0.0
    elif special is not None:
        values[BLOCK + 5] = special
    x = deferred(values)
    assert not x.knows_max_abs()
    quantize(x, QFormat(8, 4), nan="zero")
    assert x.knows_max_abs()
    want = np.abs(values).max()
    assert x.max_abs() == want or (np.isnan(want) and np.isnan(x.max_abs()))
    assert special is not None or x._values is None  # found on the way, not by materializing
