"""QFormat and FxArray: ranges, LSB, dtype, validation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxsim


@given(st.integers(1, 62), st.integers(-100, 100), st.booleans())
def test_range_lsb_and_dtype(bits, frac, signed):
    fmt = fxsim.QFormat(bits, frac, signed)
    if signed:
        assert (fmt.min_code, fmt.max_code) == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    else:
        assert (fmt.min_code, fmt.max_code) == (0, 2**bits - 1)
    assert Fraction(fmt.lsb) == Fraction(2) ** -frac
    assert fmt.exact_value(fmt.max_code) == Fraction(fmt.max_code) * Fraction(2) ** -frac
    if bits <= 53:
        assert Fraction(fmt.max_value) == fmt.exact_value(fmt.max_code)
    assert Fraction(fmt.min_value) == fmt.exact_value(fmt.min_code)
    info = np.iinfo(fmt.dtype)
    assert info.min <= fmt.min_code and fmt.max_code <= info.max
    smaller = {16: 8, 32: 16, 64: 32}.get(info.bits)
    if smaller:  # the next smaller dtype of the same signedness would not hold the codes
        narrow = np.iinfo(np.dtype(f"{'' if signed else 'u'}int{smaller}"))
        assert fmt.min_code < narrow.min or fmt.max_code > narrow.max


@pytest.mark.parametrize("bits", [0, 63, -1])
def test_bits_out_of_range(bits):
    with pytest.raises(ValueError, match=rf"bits must be an integer in 1\.\.62, got {bits}"):
        fxsim.QFormat(bits, 0)


@pytest.mark.parametrize(("bits", "frac"), [(8.0, 0), (8, 1.5), ("8", 0), (True, 0), (8, None)])
def test_non_integer_bits_or_frac(bits, frac):
    with pytest.raises(TypeError, match="must be an integer"):
        fxsim.QFormat(bits, frac)


def test_numpy_integers_accepted():
    assert fxsim.QFormat(np.int64(8), np.int32(-3)) == fxsim.QFormat(8, -3)


def test_fxarray_checks_codes_and_dtype():
    fmt = fxsim.QFormat(4, 1)
    with pytest.raises(ValueError, match=r"codes span \[-9, 3\], outside s4.1's range \[-8, 7\]"):
        fxsim.FxArray(np.array([-9, 3]), fmt)
    with pytest.raises(TypeError, match="raw must be an integer array, got dtype float64"):
        fxsim.FxArray(np.array([1.0]), fmt)
    a = fxsim.FxArray(np.array([[-8, 7], [1, 0]], dtype=np.int8), fmt)
    assert a.to_float().tolist() == [[-4.0, 3.5], [0.5, 0.0]]
    assert a[1].raw.tolist() == [1, 0] and a.shape == (2, 2)
