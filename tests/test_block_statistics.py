"""Statistics of a deferred tensor taken block by block on the threads, never materialized,
equal numpy's on the materialized values bit for bit: mean and std (numpy's pairwise tree cut
into leaves summed apart), max|x| and the clipped count."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.numeric import pairwise
from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.pairwise import SUBTREE


class Filled(DeferredFloat):
    """A deferred tensor over a known array, counting the elements its fill computes."""

    def __init__(self, values: np.ndarray) -> None:
        flat = values.reshape(-1)
        self.filled = 0

        def fill(start, stop, step, out):
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
@given(tensors(), st.sampled_from([0.0, 0.5, 1.0, 1e-300, np.inf]))
def test_deferred_statistics_equal_numpy(values, threshold):
    filled = Filled(values)
    for x in (filled, DeferredFloat.of_values(values)):
        assert hexes(*x.mean_and_std()) == hexes(np.mean(values), np.std(values))
        assert x.max_abs() == np.abs(values).max()
        assert x.count_beyond(threshold) == np.count_nonzero(np.abs(values) > threshold)
    assert filled._values is None  # never materialized
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
