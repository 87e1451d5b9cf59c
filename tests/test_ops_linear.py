"""linear and its backward products against the Python-int reference; float mode."""

from __future__ import annotations

import numpy as np
import ops_reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_cases import codes, small_formats

from fxsim.ops import Accumulator, linear, linear_backward_input, linear_backward_weight

PATHS = ("auto", "float64", "int64", "sequential")


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 2, 3, 5, 8, 12, 32]), st.integers(1, 40), st.integers(1, 6),
       small_formats(10),
       small_formats(10), small_formats(10), st.sampled_from([None, 3, 8, 14]),
       st.sampled_from(["saturate", "wrap"]), st.sampled_from(PATHS), st.integers(0, 2**32))
def test_linear_products_equal_the_reference(n, fan_in, fan_out, fa, fb, fg, bits, overflow,
                                             path, seed):
    rng = np.random.default_rng(seed)
    x, w, g = (codes(f, s, rng) for f, s in ((fa, (n, fan_in)), (fb, (fan_out, fan_in)),
                                              (fg, (n, fan_out))))
    acc = Accumulator(bits, overflow)
    if bits is not None and overflow == "saturate":
        path = "auto"  # only the sequential path models a saturating register
    kw = dict(bits=bits, overflow=overflow)
    for got, (want, saturated, _) in (
        (linear(x, w, acc, path), ref.linear(x.raw, w.raw, **kw)),
        (linear_backward_input(g, w, acc, path), ref.linear_backward_input(g.raw, w.raw, **kw)),
        (linear_backward_weight(x, g, acc, path), ref.linear_backward_weight(x.raw, g.raw, **kw)),
    ):
        assert got.raw.tolist() == want.tolist()
        assert got.shape == want.shape
        if overflow == "saturate":
            assert got.stats.saturated == saturated


def test_linear_float_mode_is_numpy():
    rng = np.random.default_rng(3)
    x, w, g = rng.standard_normal((4, 7)), rng.standard_normal((3, 7)), rng.standard_normal((4, 3))
    assert np.allclose(linear(x, w), x @ w.T)
    assert np.allclose(linear_backward_input(g, w), g @ w)
    assert np.allclose(linear_backward_weight(x, g), g.T @ x)
    assert linear(x, w).shape == (4, 3)


def test_an_empty_batch_gives_empty_products_and_a_zero_weight_gradient():
    """As conv2d does: N = 0 rows give (0, out) and (0, in) results and an all-zero sum."""
    from fxsim import FxArray, QFormat

    fmt = QFormat(8, 0)
    x = FxArray(np.zeros((0, 4), np.int8), fmt)
    w = FxArray(np.arange(12, dtype=np.int8).reshape(3, 4), fmt)
    g = FxArray(np.zeros((0, 3), np.int8), fmt)
    assert linear(x, w).shape == (0, 3)
    assert linear_backward_input(g, w).shape == (0, 4)
    gw = linear_backward_weight(x, g)
    assert gw.shape == (3, 4) and not gw.raw.any()
