"""The fast kernels equal the slow Python-int reference, on arbitrary shapes, formats, values."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import fit_int, ref_quantize, ref_requantize

import fxsim
from fxsim.numeric.rng import GAMMA, mix64, random_word_py, stream_key
from fxsim.testing.strategies import float_values, qformats, rounding_modes

SEEDS = st.integers(0, 2**64 - 1)


@st.composite
def quantize_cases(draw):
    fmt = draw(qformats())
    mode, random_bits = draw(rounding_modes(registered=False))
    overflow = draw(st.sampled_from(fxsim.OVERFLOW_MODES))
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    size = int(np.prod(shape)) if shape else 1
    values = draw(st.lists(float_values(fmt, allow_infinity=overflow == "saturate"),
                           min_size=size, max_size=size))
    return fmt, mode, random_bits, overflow, np.array(values, dtype=np.float64).reshape(shape)


@settings(max_examples=400, deadline=None)
@given(quantize_cases(), SEEDS, st.integers(0, 2**40))
def test_quantize_equals_reference(case, seed, stream):
    fmt, mode, random_bits, overflow, x = case
    q = fxsim.quantize(x, fmt, mode, overflow, seed=seed, random_bits=random_bits, stream=stream)
    codes, events = ref_quantize(x.ravel().tolist(), fmt, mode, overflow, seed, stream,
                                 random_bits)
    assert q.shape == x.shape
    assert q.raw.dtype == fmt.dtype
    assert q.raw.ravel().tolist() == codes
    assert q.stats.overflowed == events
    assert (q.stats.saturated if overflow == "saturate" else q.stats.wrapped) == events


@settings(max_examples=200, deadline=None)
@given(qformats(frac=(-30, 60)), st.data(), SEEDS)
def test_quantize_with_step_equals_reference(fmt, data, seed):
    mode, random_bits = data.draw(rounding_modes(registered=False))
    step = data.draw(st.floats(1e-6, 1e3))
    x = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20))
    q = fxsim.quantize(np.array(x), fmt, mode, seed=seed, step=step, random_bits=random_bits)
    codes, _ = ref_quantize(x, fmt, mode, "saturate", seed, 0, random_bits, step=step)
    assert q.raw.tolist() == codes


@st.composite
def requantize_cases(draw):
    fmt_in = draw(qformats(frac=(-80, 140)))
    fmt_out = draw(qformats(frac=(-80, 140)))
    mode, random_bits = draw(rounding_modes(registered=False))
    overflow = draw(st.sampled_from(fxsim.OVERFLOW_MODES))
    codes = draw(st.lists(
        st.one_of(st.integers(fmt_in.min_code, fmt_in.max_code),
                  st.sampled_from([fmt_in.min_code, fmt_in.max_code, 0])),
        min_size=1, max_size=24))
    return fmt_in, fmt_out, mode, random_bits, overflow, codes


@settings(max_examples=400, deadline=None)
@given(requantize_cases(), SEEDS)
def test_requantize_equals_reference(case, seed):
    fmt_in, fmt_out, mode, random_bits, overflow, codes = case
    q = fxsim.FxArray(np.array(codes, dtype=fmt_in.dtype), fmt_in)
    r = fxsim.requantize(q, fmt_out, mode, overflow, seed=seed, random_bits=random_bits)
    expected, events = ref_requantize(codes, fmt_in, fmt_out, mode, overflow, seed, 0, random_bits)
    assert r.raw.dtype == fmt_out.dtype
    assert r.raw.tolist() == expected
    assert r.stats.overflowed == events


@pytest.mark.parametrize("bits", [1, 2, 53, 61, 62])
@pytest.mark.parametrize("signed", [True, False])
def test_extreme_widths_at_range_edges(bits, signed):
    fmt = fxsim.QFormat(bits, 0, signed)
    edges = [fmt.min_code, fmt.max_code, fmt.min_code - 1, fmt.max_code + 1, 0]
    x = np.array([float(v) for v in edges] + [2.0**70, -(2.0**70)])
    for overflow in fxsim.OVERFLOW_MODES:
        q = fxsim.quantize(x, fmt, "floor", overflow)
        codes, _ = ref_quantize(x.tolist(), fmt, "floor", overflow)
        assert q.raw.tolist() == codes
        expected = [fit_int(int(v), fmt, overflow)[0] for v in x]
        assert q.raw.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(SEEDS, st.integers(0, 2**62), st.integers(0, 2**40), st.integers(1, 63))
def test_compiled_random_bits_equal_python_reference(seed, stream, index, nbits):
    key = stream_key(seed, stream)
    expected = random_word_py(key, index) >> (64 - nbits)
    assert int(random_top_bits(np.uint64(key), np.int64(index), np.int64(nbits))) == expected


@settings(max_examples=300, deadline=None)
@given(quantize_cases(), SEEDS)
def test_fast_path_equals_exact_path(case, seed):
    """The float64 fast path and the integer path give identical codes and counts."""
    fmt, mode, random_bits, overflow, x = case
    kwargs = dict(seed=seed, random_bits=random_bits)
    fast = fxsim.quantize(x, fmt, mode, overflow, **kwargs)
    exact = fxsim.quantize(x, fmt, mode, overflow, force_exact=True, **kwargs)
    assert np.array_equal(fast.raw, exact.raw) and fast.stats == exact.stats


@settings(max_examples=300, deadline=None)
@given(requantize_cases(), SEEDS)
def test_requantize_fast_path_equals_exact_path(case, seed):
    fmt_in, fmt_out, mode, random_bits, overflow, codes = case
    q = fxsim.FxArray(np.array(codes, dtype=fmt_in.dtype), fmt_in)
    kwargs = dict(seed=seed, random_bits=random_bits)
    fast = fxsim.requantize(q, fmt_out, mode, overflow, **kwargs)
    exact = fxsim.requantize(q, fmt_out, mode, overflow, force_exact=True, **kwargs)
    assert np.array_equal(fast.raw, exact.raw) and fast.stats == exact.stats


def test_large_arrays_equal_reference_on_a_sample():
    """Many elements through the parallel fast loop; a random sample checked by the reference."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(200_003) * 40
    sample = sorted(rng.choice(x.size, 2000, replace=False).tolist())
    fmt = fxsim.QFormat(6, 1)
    for mode in fxsim.ROUNDING_MODES:
        k = 5 if mode == "stochastic_k" else None
        q = fxsim.quantize(x, fmt, mode, seed=3, random_bits=k)
        codes, _ = ref_quantize(x[sample].tolist(), fmt, mode, "saturate", 3, 0, k,
                                indices=sample)
        assert q.raw[sample].tolist() == codes


@numba.njit
def random_top_bits(key, index, nbits):  # pragma: no cover - compiled
    """The top ``nbits`` (1..63) bits of element ``index``'s random word, as int64, the way
    the conversion loops take them (compiled, uint64 arithmetic)."""
    word = mix64(key + np.uint64(index + 1) * np.uint64(GAMMA))
    return np.int64(word >> np.uint64(64 - nbits))
