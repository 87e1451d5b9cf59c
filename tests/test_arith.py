"""Adding code tensors of different scales: exact for power-of-two scales, a bounded rescale
for real steps; checked against exact rational arithmetic."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim import FxArray, QFormat, requantize
from fxsim.numeric.arith import add, add_with_mask, multiplier_bits_for, total


def value(x: FxArray, i: int) -> Fraction:
    lsb = Fraction(x.step) if x.step is not None else Fraction(2) ** -x.fmt.frac
    return int(x.raw.reshape(-1)[i]) * lsb


def codes(draw, bits, n):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), dtype=np.int64)


@st.composite
def operand(draw, n, real=False):
    bits = draw(st.integers(2, 40))
    frac = draw(st.integers(-10, 40))
    step = draw(st.floats(1e-6, 1e3)) if real else None
    return FxArray(codes(draw, bits, n), QFormat(bits, frac), step=step)


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 6))
def test_power_of_two_sum_is_exact(data, n):
    a, b = data.draw(operand(n)), data.draw(operand(n))
    s = add(a, b)
    assert s.raw.dtype.kind == "i" and np.iinfo(s.raw.dtype).bits >= s.fmt.bits
    assert s.step is None
    if s.stats is not None:  # found in the adding pass
        assert s.stats.max_abs == np.abs(s.raw.astype(np.int64)).max()
    relu, mask = add_with_mask(a, b, relu=True)
    assert relu.raw.tolist() == np.maximum(s.raw, 0).tolist()
    assert mask.tolist() == (s.raw > 0).tolist()
    lo, hi = s.fmt.min_code, s.fmt.max_code
    assert ((s.raw >= lo) & (s.raw <= hi)).all()
    for i in range(n):
        exact = value(a, i) + value(b, i)
        if s.fmt.frac >= max(a.fmt.frac, b.fmt.frac):
            assert value(s, i) == exact
        else:  # the common fraction length was lowered to fit int64: one rounding
            assert abs(value(s, i) - exact) <= Fraction(2) ** -s.fmt.frac


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 6), st.booleans())
def test_real_step_sum_is_within_half_an_lsb(data, n, both_real):
    a = data.draw(operand(n, real=True))
    b = data.draw(operand(n, real=both_real))
    ratio = max(a.lsb, b.lsb) / min(a.lsb, b.lsb)
    if ratio > 2.0**20:
        return
    s = add(a, b)
    fine = min(a.lsb, b.lsb)
    assert s.step == fine
    coarse = a if a.lsb > b.lsb else b
    relative = Fraction(2) ** -(multiplier_bits_for(coarse) - 1)
    # the definition: the finer codes plus requantize's fixed-point rescale of the coarser
    moved = requantize(coarse, QFormat(s.fmt.bits - 1, 0), "nearest_even", step=fine,
                       multiplier_bits=multiplier_bits_for(coarse))
    finer = b if coarse is a else a
    want = finer.raw.astype(np.int64) + moved.raw.astype(np.int64)
    assert s.raw.tolist() == want.tolist()
    relu, mask = add_with_mask(a, b, relu=True)
    assert relu.raw.tolist() == np.maximum(want, 0).tolist()
    assert mask.tolist() == (want > 0).tolist()
    if relu.stats is not None:
        assert relu.stats.max_abs == np.maximum(want, 0).max()
    for i in range(n):
        exact = value(a, i) + value(b, i)
        bound = Fraction(fine) / 2 + abs(value(coarse, i)) * relative
        assert abs(value(s, i) - exact) <= bound


def test_float_operands_and_total():
    x = np.arange(4.0)
    assert np.array_equal(total([x, x, x]), 3 * x)
    a = FxArray(np.array([1, -2], dtype=np.int8), QFormat(8, 1))
    b = FxArray(np.array([3, 4], dtype=np.int16), QFormat(16, 3))
    s = total([a, b, a])
    assert s.fmt.frac == 3
    assert s.to_float().tolist() == [1 / 2 + 3 / 8 + 1 / 2, -1 + 4 / 8 - 1]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.int8, np.int16, np.int32, np.int64]), st.integers(0, 300_000),
       st.integers(0, 2**32 - 1), st.data())
def test_tracked_clamp_is_numpy_clip_mask_and_count(dtype, size, seed, data):
    from fxsim.numeric._code_kernels import clamp_tracked

    info = np.iinfo(dtype)
    low = data.draw(st.integers(max(info.min, -2**20), 0))
    high = data.draw(st.integers(0, min(info.max, 2**20)))
    rng = np.random.default_rng(seed)
    values = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
    values = values.reshape((1, size)) if size % 2 else values
    out_dtype = np.int8 if (low, high) == (max(low, -128), min(high, 127)) else dtype
    codes, inside, clamped = clamp_tracked(values, low, high, out_dtype)
    want_inside = (values >= low) & (values <= high)
    assert codes.dtype == out_dtype and codes.shape == values.shape
    assert np.array_equal(codes, np.clip(values, low, high).astype(out_dtype))
    assert np.array_equal(inside, want_inside) and inside.shape == values.shape
    assert clamped == sum(1 for v in values.reshape(-1).tolist() if not low <= v <= high)
