"""Statistics of a deferred tensor taken block by block on the threads, equal numpy's on the
materialized values bit for bit: mean and std (numpy's pairwise tree cut into leaves summed
apart, each leaf by a compiled replica of numpy's loop) and max|x|; a quantizer whose rule reads
blocks (zscore) gives what it gives on the values, and so does one that does not
(large_grad_interval)."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.layers.quantizer import TensorQuantizer
from fxsim.numeric import pairwise
from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.pairwise import SUBTREE
from fxsim.policy import Policy
from fxsim.ranges.base import is_block_tensor


class Filled(DeferredFloat):
    """A deferred tensor over a known array, counting the elements its fill computes."""

    def __init__(self, values: np.ndarray) -> None:
        flat = values.reshape(-1)
        self.filled = 0
        lock = threading.Lock()  # fill runs on several threads at once

        def fill(start, stop, step, out):
            with lock:
                self.filled += len(range(start, stop, step))
            out[:] = flat[start:stop:step]

        super().__init__(values.shape, fill)


def hexes(*floats: float) -> tuple[str, ...]:
    return tuple(float(f).hex() for f in floats)


@st.composite
def tensors(draw) -> np.ndarray:
    """Float64 tensors of 1 to ~5 leaves of sizes not multiples of 8, mixed signs and a wide
    dynamic range, with zeros of both signs."""
    size = draw(st.one_of(st.integers(1, 300), st.integers(SUBTREE - 9, SUBTREE + 9),
                          st.integers(1, 5 * SUBTREE + 17)))
    rows = draw(st.sampled_from([1, 3, 8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.floats(0, 40))
    values = rng.standard_normal(rows * size) * 2.0 ** rng.uniform(-spread, spread, rows * size)
    values += draw(st.floats(-3, 3)) * 2.0 ** draw(st.integers(-20, 20))
    zeros = rng.integers(0, values.size, draw(st.integers(0, 20)))
    values[zeros] = rng.choice([0.0, -0.0], zeros.size)
    return values.reshape(rows, size)


@settings(max_examples=60, deadline=None)
@given(tensors())
def test_deferred_statistics_equal_numpy(values):
    filled = Filled(values)
    for x in (filled, DeferredFloat.of_values(values)):
        assert is_block_tensor(x) and not is_block_tensor(values)
        assert hexes(*x.mean_and_std()) == hexes(np.mean(values), np.std(values))
        assert x.max_abs() == np.abs(values).max()
    # the mean's pass computes the values once and keeps them for the other passes
    assert filled.filled == values.size and np.array_equal(filled.values(), values)
    alone = Filled(values)  # a pass for max|x| alone keeps nothing
    assert alone.max_abs() == np.abs(values).max() and alone._values is None
    assert hexes(*pairwise.array_mean_and_std(values)) == hexes(np.mean(values), np.std(values))


def test_negative_zero_leaves_sum_to_numpys_zero():
    """Leaves summing to -0.0 (np.add.reduce gives them +0.0) change nothing: numpy's total."""
    for tail in (-0.0, 0.0, 1e-300, -2.5):
        values = np.full(4 * SUBTREE + 3, -0.0)
        values[-1] = tail
        got = Filled(values).mean_and_std()
        assert hexes(*got) == hexes(np.mean(values), np.std(values))
        assert hexes(*pairwise.array_mean_and_std(values)) == hexes(*got)


def test_leaves_cover_the_tensor_in_numpys_splits():
    for size in (1, 128, SUBTREE, SUBTREE + 1, 7 * SUBTREE + 5):
        bounds = pairwise.leaves(size)
        assert bounds[0][0] == 0 and bounds[-1][1] == size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        assert all(0 < stop - start <= SUBTREE for start, stop in bounds)
        assert pairwise.combine(size, [1.0] * len(bounds)) == len(bounds)


def test_overflowing_sums_fall_back_as_the_values_do():
    from fxsim.ranges import make_rule

    values = np.random.default_rng(3).uniform(0.5, 1.0, 3 * SUBTREE) * 1.7e308
    with np.errstate(over="ignore"):
        assert np.isinf(Filled(values).mean_and_std()[0])
    rule = make_rule("zscore")
    assert rule.choose(Filled(values), 8, True) == rule.choose(values, 8, True)


POLICIES = {
    "arc8": {"range": "zscore", "z": 3.0, "rounding": "toward_zero"},
    "zscore_ema": {"range": "zscore", "z": 1.5, "ema": 0.75, "rounding": "nearest_even"},
    "int4_interval": {"range": "large_grad_interval", "bits": 4, "rounding": "stochastic"},
    "interval_search": {"range": "large_grad_interval", "gamma": 0.5, "init_search": True,
                        "lr_gamma": 0.05, "bits": 4, "rounding": "stochastic"},
}


def act_grads_spec(name: str):
    """The act_grads role of ``POLICIES[name]`` at a batch-norm layer."""
    eight = {"bits": 8}
    return Policy.load({"name": name, "defaults": {
        "weights": eight, "activations": eight, "act_grads": {**eight, **POLICIES[name]},
        "weight_grads": eight, "master": {"bits": 32, "frac": 24}}}).spec(
        "l", "act_grads", kind="batchnorm")


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(POLICIES)), st.integers(1, 3 * SUBTREE + 100),
       st.lists(st.floats(-12, 4), min_size=2, max_size=4), st.integers(0, 2**32 - 1))
def test_a_quantizer_reading_blocks_equals_the_values(policy, size, magnitudes, seed):
    """Codes, stats, scale, straight-through mask and the rule's state after each step: the
    same from a deferred tensor, from its values and from the rule given the values itself."""
    spec = act_grads_spec(policy)
    quantizers = [TensorQuantizer(spec, "l.act_grads", keep_mask=True) for _ in range(2)]
    rule = spec.make_rule()
    rng = np.random.default_rng(seed)
    for step, magnitude in enumerate(magnitudes):
        values = rng.standard_normal((2, size)) * 2.0**magnitude + rng.uniform(-1, 1) * 0.01
        details: list[dict] = [{}, {}]
        outs = [q(x, seed, step, details=d)
                for q, x, d in zip(quantizers, (Filled(values), values), details,
                                   strict=True)]
        scale = rule.choose(values, spec.bits, quantizers[0].signed)
        rule.observe(values, scale)
        assert quantizers[0].last_scale == quantizers[1].last_scale == scale
        assert np.array_equal(outs[0].raw, outs[1].raw) and outs[0].stats == outs[1].stats
        assert outs[0].fmt == outs[1].fmt and outs[0].step == outs[1].step
        assert details[0] == details[1]
        masks = [q.ste_mask() for q in quantizers]
        assert (masks[0] is None) == (masks[1] is None)
        assert masks[0] is None or np.array_equal(masks[0], masks[1])
        assert quantizers[0].state_dict() == quantizers[1].state_dict() == {
            "rule": rule.state_dict()}
    stats = [q.take_epoch_stats() for q in quantizers]
    assert stats[0]["stats"] == stats[1]["stats"]


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_nan_in_blocks_reports_as_the_values_would(policy):
    from fxsim.layers.quantizer import NonFiniteError

    values = np.ones((2, SUBTREE + 3))
    values[1, 9] = np.nan
    errors = []
    for x in (Filled(values), values):
        with pytest.raises(NonFiniteError) as caught:
            TensorQuantizer(act_grads_spec(policy), "l.act_grads")(x, 0, 0)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_the_quantizer_computes_a_deferred_tensor_once():
    """zscore: the mean's pass computes the values (and max|x|) and keeps them, the squares'
    pass and the rounding read them; large_grad_interval (which does not read blocks)
    materializes them first."""
    values = np.random.default_rng(5).standard_normal((4, 3 * SUBTREE + 7))
    for name in ("arc8", "int4_interval"):
        x = Filled(values)
        TensorQuantizer(act_grads_spec(name), "l.act_grads", keep_mask=True)(x, 0, 0)
        assert x.filled == values.size and x._values is not None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * 128 + 9) | st.integers(0, 5000), st.floats(-30, 30),
       st.integers(0, 2**32 - 1))
def test_the_compiled_leaf_sums_are_numpys(size, spread, seed):
    """Every shape of numpy's pairwise loop (fewer than 8 terms, one block of eight partial
    sums with a tail, runs split in halves): the sum and the squares around a mean, as
    np.add.reduce gives them, signed zeros included."""
    from fxsim.numeric import _pairwise_kernels as compiled

    rng = np.random.default_rng(seed)
    values = rng.standard_normal(size) * np.exp(rng.uniform(-abs(spread), abs(spread), size))
    if size and seed % 5 == 0:
        values[rng.integers(0, size, size // 3 + 1)] = -0.0
    mean = float(np.add.reduce(values)) / size if size else 0.0
    squares = values - mean
    squares *= squares
    assert hexes(compiled.add_reduce(values, 0.0, False)) == hexes(np.add.reduce(values))
    assert hexes(compiled.add_reduce(values, mean, True)) == hexes(np.add.reduce(squares))
    assert hexes(compiled.add_reduce(-np.zeros(size), 0.0, False)) == hexes(
        np.add.reduce(-np.zeros(size)))


def test_the_compiled_leaf_sum_takes_only_contiguous_float64():
    from numba.core.errors import TypingError

    from fxsim.numeric import _pairwise_kernels as compiled

    for bad in (np.arange(64.0)[::2], np.arange(64, dtype=np.float32)):
        with pytest.raises(TypingError):
            compiled.add_reduce(bad, 0.0, False)
