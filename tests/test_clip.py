"""``clip=(low, high)``: saturation to codes narrower than the format (symmetric ranges, CQAT's
code bits), for quantize and requantize, against the Python-int reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import ref_quantize, ref_requantize

from fxsim import FxArray, QFormat, quantize, requantize
from fxsim.testing.strategies import qformats

MODES = ["nearest_even", "toward_zero", "floor", "stochastic"]


@st.composite
def clip_of(draw, fmt: QFormat):
    low = draw(st.integers(fmt.min_code, 0))
    high = draw(st.integers(max(low, 0), fmt.max_code))
    return low, high


def clamp(codes, low, high):
    return [min(max(c, low), high) for c in codes]


@settings(max_examples=120, deadline=None)
@given(st.data(), qformats(bits=(2, 20)), st.sampled_from(MODES))
def test_quantize_clip_is_saturation_to_the_clip(data, fmt, mode):
    low, high = data.draw(clip_of(fmt))
    values = data.draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30))
    q = quantize(np.array(values), fmt, mode, seed=3, clip=(low, high))
    wide, _ = ref_quantize(values, QFormat(62, fmt.frac), mode, seed=3)
    assert q.raw.tolist() == clamp(wide, low, high)
    assert q.stats.saturated == sum(not low <= c <= high for c in wide)


@settings(max_examples=120, deadline=None)
@given(st.data(), qformats(bits=(2, 30)), qformats(bits=(2, 12)), st.sampled_from(MODES))
def test_requantize_clip_is_saturation_to_the_clip(data, fmt_in, fmt_out, mode):
    low, high = data.draw(clip_of(fmt_out))
    codes = data.draw(st.lists(st.integers(fmt_in.min_code, fmt_in.max_code), min_size=1,
                               max_size=30))
    q = FxArray(np.array(codes, dtype=fmt_in.dtype), fmt_in)
    r = requantize(q, fmt_out, mode, seed=5, clip=(low, high))
    wide, _ = ref_requantize(codes, fmt_in, QFormat(62, fmt_out.frac), mode, seed=5)
    assert r.raw.tolist() == clamp(wide, low, high)
    assert r.stats.saturated == sum(not low <= c <= high for c in wide)


def test_clip_errors():
    fmt = QFormat(8, 0)
    with pytest.raises(ValueError, match=r"clip must satisfy -128 <= low <= high <= 127"):
        quantize(np.ones(2), fmt, clip=(-200, 5))
    with pytest.raises(ValueError, match="clip applies only with overflow='saturate'"):
        quantize(np.ones(2), fmt, overflow="wrap", clip=(-5, 5))
    with pytest.raises(TypeError, match="clip must be"):
        quantize(np.ones(2), fmt, clip=(1.5, 2))
