"""Max and average pooling on codes against the Python-int reference; formats; float mode."""

from __future__ import annotations

import numpy as np
import ops_reference as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_cases import codes, small_formats

from fxsim import FxArray, QFormat
from fxsim.ops import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward


@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    hw = tuple(draw(st.integers(max(1, k - 2 * p), k + 6)) for k, p in zip(kernel, padding,
                                                                         strict=True))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw)
    return shape, kernel, stride, padding


@settings(max_examples=40, deadline=None)
@given(pool_cases(), small_formats(), st.integers(0, 2**32), st.booleans())
def test_pools_equal_the_reference(case, fmt, seed, few_values):
    shape, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    x = codes(QFormat(2, 0) if few_values else fmt, shape, rng)  # few values: many ties
    out, idx = max_pool2d(x, kernel, stride, padding)
    want, want_idx = ref.max_pool2d(x.raw, kernel, stride, padding)
    assert out.raw.tolist() == want.tolist() and idx.tolist() == want_idx.tolist()
    assert out.fmt == x.fmt and out.raw.dtype == x.raw.dtype
    g = codes(fmt, out.shape, rng)
    back = max_pool2d_backward(g, idx, shape)
    assert back.raw.tolist() == ref.max_pool2d_backward(g.raw, idx, shape).tolist()
    assert back.fmt.frac == g.fmt.frac
    s = avg_pool2d(x, kernel, stride, padding)
    assert s.raw.tolist() == ref.avg_pool2d_sum(x.raw, kernel, stride, padding).tolist()
    b = avg_pool2d_backward(g, shape, kernel, stride, padding)
    assert b.raw.tolist() == ref.avg_pool2d_backward_sum(g.raw, shape, kernel, stride,
                                                         padding).tolist()
    for result in (s, b, back):  # the format holds the codes (FxArray checks on construction)
        FxArray(result.raw, result.fmt)


def test_average_scale_folds_the_window_size():
    x = FxArray(np.arange(16, dtype=np.int8).reshape(1, 1, 4, 4), QFormat(8, 3))
    s = avg_pool2d(x, 2)
    assert s.fmt == QFormat(10, 5) and s.step is None
    assert np.array_equal(s.to_float(), x.to_float().reshape(2, 2, 2, 2).mean(axis=(1, 3))[None,
                                                                                            None])
    t = avg_pool2d(x, 3, stride=1)
    assert t.fmt.frac == 3 and t.step == pytest.approx(2**-3 / 9)
    assert np.allclose(t.to_float(), avg_pool2d(x.to_float(), 3, stride=1))
    real = FxArray(x.raw, QFormat(8, 0), step=0.3)
    assert avg_pool2d(real, 2).step == 0.3 / 4 and avg_pool2d(real, 2).fmt.frac == 2


def test_float_pools():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    m, idx = max_pool2d(x, 2)
    assert np.array_equal(m, x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))
    assert np.array_equal(np.take_along_axis(x.reshape(2, 3, 36), idx.reshape(2, 3, 9), 2),
                          m.reshape(2, 3, 9))
    g = rng.standard_normal(m.shape)
    back = max_pool2d_backward(g, idx, x.shape)
    assert np.isclose(np.vdot(back, x), np.vdot(g, m))
    a = avg_pool2d(x, 3, 1, 1)
    b = avg_pool2d_backward(rng.standard_normal(a.shape), x.shape, 3, 1, 1)
    assert a.shape == x.shape and b.shape == x.shape


def test_pool_errors():
    x = FxArray(np.zeros((1, 1, 4, 4), np.int8), QFormat(8, 0))
    with pytest.raises(ValueError, match="padding must be at most half"):
        avg_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="kernel"):
        max_pool2d(x, 0)
    with pytest.raises(ValueError, match="impossible pooling"):
        max_pool2d(x, 7, padding=1)
    with pytest.raises(ValueError, match="indices must lie"):
        max_pool2d_backward(x, np.full((1, 1, 4, 4), 16), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="output shape"):
        avg_pool2d_backward(x, (1, 1, 4, 4), 2)
    with pytest.raises(TypeError, match="float64 ndarray"):
        avg_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2)
