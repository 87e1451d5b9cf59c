"""conv2d and its two backward products against the Python-int reference, scipy and adjoints."""

from __future__ import annotations

import numpy as np
import ops_reference as ref
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_cases import codes, conv_cases, small_formats

from fxsim import FxArray, QFormat
from fxsim.ops import (
    Accumulator,
    conv2d,
    conv2d_backward_input,
    conv2d_backward_weight,
    explain,
)
from fxsim.ops._mac import result_dtype
from fxsim.ops.accumulator import wide_bits
from fxsim.ops.paths import int8_chunk

PATHS = ("auto", "int8", "float32", "float64", "int64", "sequential")
SETTINGS = settings(max_examples=25, deadline=None)


def operands(case, fa, fb, fg, extremes=False):
    rng = np.random.default_rng(case.seed)
    return (codes(fa, case.input_shape, rng, extremes), codes(fb, case.weight_shape, rng,
                                                             extremes),
            codes(fg, case.output_shape, rng, extremes))


def run_all(case, x, w, g, acc=None, path="auto"):
    kw = case.kwargs
    return (conv2d(x, w, acc=acc, path=path, **kw),
            conv2d_backward_input(g, w, case.input_shape, acc=acc, path=path, **kw),
            conv2d_backward_weight(x, g, case.weight_shape, acc=acc, path=path, **kw))


def references(case, x, w, g, bits=None, overflow="saturate"):
    kw = dict(case.kwargs, bits=bits, overflow=overflow)
    return (ref.conv2d(x.raw, w.raw, **kw),
            ref.conv2d_backward_input(g.raw, w.raw, case.input_shape, **kw),
            ref.conv2d_backward_weight(x.raw, g.raw, case.weight_shape, **kw))


def usable(path, plans, pairs):
    """Whether a forced path is exact for all three plans (auto tells which are; for int8,
    whether the three operand format ``pairs`` fit bytes)."""
    if path == "int8":
        return all(int8_chunk(p.op, a, b, p.terms, 1) is not None
                   for p, (a, b) in zip(plans, pairs, strict=True))
    limit = {"float32": 2**24, "float64": 2**53}.get(path)
    return limit is None or all(p.bound < limit or (p.chunk and path == "float32")
                                for p in plans)


@SETTINGS
@given(conv_cases(), small_formats(), small_formats(), small_formats())
def test_every_path_equals_the_reference(case, fa, fb, fg):
    x, w, g = operands(case, fa, fb, fg)
    expected = references(case, x, w, g)
    terms = (case.weight_shape[1] * case.kernel[0] * case.kernel[1],
             case.co // case.groups * case.kernel[0] * case.kernel[1],
             case.n * case.output_shape[2] * case.output_shape[3])
    plans = [explain("conv2d", x, w, **case.kwargs),
             explain("conv2d_backward_input", g, w, case.input_shape, **case.kwargs),
             explain("conv2d_backward_weight", x, g, case.weight_shape, **case.kwargs)]
    for path in PATHS:
        if not usable(path, plans, ((fa, fb), (fg, fb), (fa, fg))):
            continue
        results = run_all(case, x, w, g, path=path)
        for got, (want, _, _), (fl, fr), k in zip(results, expected, ((fa, fb), (fg, fb),
                                                                      (fa, fg)), terms,
                                                  strict=True):
            assert got.raw.dtype == result_dtype(got.fmt.bits)
            assert got.raw.tolist() == want.tolist(), path
            assert got.fmt == QFormat(wide_bits(fl, fr, k), fl.frac + fr.frac)
            assert got.stats.size == got.raw.size and got.stats.overflowed == 0
            assert got.step is None


@SETTINGS
@given(conv_cases(), small_formats(8), small_formats(8), small_formats(8),
       st.integers(2, 16), st.sampled_from(["saturate", "wrap"]), st.booleans())
def test_narrow_accumulators_match_the_sequential_register(case, fa, fb, fg, bits, overflow,
                                                           extremes):
    x, w, g = operands(case, fa, fb, fg, extremes)
    acc = Accumulator(bits, overflow)
    exact = references(case, x, w, g)
    narrow = references(case, x, w, g, bits, overflow)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for got, (want, saturated, events), (true, _, _) in zip(run_all(case, x, w, g, acc),
                                                            narrow, exact, strict=True):
        assert got.raw.tolist() == want.tolist()
        assert got.fmt.bits == bits
        if overflow == "saturate":
            assert (got.stats.saturated, got.stats.events) == (saturated, events)
        else:  # wrapped outputs: those whose exact sum left the range; net modulus crossings
            crossings = [abs(t - v) >> bits for t, v in zip(true.ravel(), want.ravel(),
                                                           strict=True)]
            outside = sum(not lo <= t <= hi for t in true.ravel())
            assert (got.stats.wrapped, got.stats.events) == (outside, sum(crossings))


@SETTINGS
@given(conv_cases(max_batch=3), st.integers(2, 20), st.sampled_from(PATHS))
def test_backward_products_are_exact_adjoints(case, bits, path):
    fmt = QFormat(bits, 0)
    x, w, g = operands(case, fmt, fmt, fmt)
    plans = [explain("conv2d", x, w, **case.kwargs),
             explain("conv2d_backward_input", g, w, case.input_shape, **case.kwargs),
             explain("conv2d_backward_weight", x, g, case.weight_shape, **case.kwargs)]
    if not usable(path, plans, [(fmt, fmt)] * 3) or (bits > 16 and path == "sequential"):
        return
    y, gx, gw = run_all(case, x, w, g, path=path)
    assert ref.inner(y.raw, g.raw) == ref.inner(x.raw, gx.raw) == ref.inner(w.raw, gw.raw)


def scipy_conv2d(x, w, stride, padding, dilation, groups):
    """Forward convolution from scipy.signal.correlate (direct method, float64)."""
    n, _c, _h, _wd = x.shape
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    wd_ = np.zeros((co, cg, dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    wd_[:, :, ::dh, ::dw] = w
    out = []
    for b in range(n):
        rows = []
        for o in range(co):
            c0 = (o // (co // groups)) * cg
            full = scipy.signal.correlate(xp[b, c0:c0 + cg], wd_[o], mode="valid",
                                          method="direct")[0]
            rows.append(full[::sh, ::sw])
        out.append(rows)
    return np.array(out)


@settings(max_examples=15, deadline=None)
@given(conv_cases())
def test_forward_equals_scipy_correlate_and_float_mode(case):
    rng = np.random.default_rng(case.seed)
    x = rng.integers(-100, 100, case.input_shape).astype(np.float64)
    w = rng.integers(-100, 100, case.weight_shape).astype(np.float64)
    want = scipy_conv2d(x, w, case.stride, case.padding, case.dilation, case.groups)
    fmt = QFormat(8, 0)
    got = conv2d(FxArray(x.astype(np.int8), fmt), FxArray(w.astype(np.int8), fmt), **case.kwargs)
    assert np.array_equal(got.raw, want)
    floats = conv2d(x, w, **case.kwargs)
    assert floats.dtype == np.float64 and np.array_equal(floats, want)
    g = rng.standard_normal(case.output_shape)
    gx = conv2d_backward_input(g, w, case.input_shape, **case.kwargs)
    gw = conv2d_backward_weight(x, g, case.weight_shape, **case.kwargs)
    assert gx.dtype == gw.dtype == np.float64
    assert np.isclose(np.vdot(want, g), np.vdot(x, gx)) and np.isclose(np.vdot(x, gx),
                                                                        np.vdot(w, gw))


def test_real_steps_multiply_and_frac_adds():
    x = FxArray(np.array([[[[3]]]], dtype=np.int8), QFormat(8, 2), step=0.3)
    w = FxArray(np.array([[[[-5]]]], dtype=np.int16), QFormat(12, 5, signed=True))
    y = conv2d(x, w)
    assert y.raw.item() == -15 and y.fmt.frac == 7 and y.step == 0.3 * w.lsb
    u = FxArray(np.array([[[[200]]]], dtype=np.uint8), QFormat(8, 1, signed=False))
    assert conv2d(u, u).raw.item() == 40000 and conv2d(u, u).fmt == QFormat(17, 2)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
def test_any_integer_dtype(dtype):
    fmt = QFormat(7, 0, signed=np.dtype(dtype).kind == "i")
    rng = np.random.default_rng(1)
    raw = rng.integers(max(fmt.min_code, -60), 60, (2, 3, 5, 5))
    x = FxArray(raw.astype(dtype), fmt)
    w = FxArray(rng.integers(0, 50, (4, 3, 3, 3)).astype(dtype), fmt)
    want, _, _ = ref.conv2d(raw, w.raw, padding=1)
    assert conv2d(x, w, padding=1).raw.tolist() == want.tolist()
