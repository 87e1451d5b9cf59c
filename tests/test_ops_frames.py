"""Flat frames (fxsim.ops._frame) and the kernels on them, on shapes the small cases miss:
many channels (not multiples of the kernels' blocks), several tiles, rows longer than a tile,
strides whose phases read no tap, against independent int64 numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim import FxArray, QFormat
from fxsim.numeric.shapes import conv_out_size
from fxsim.ops import conv2d, conv2d_backward_input, conv2d_backward_weight, explain
from fxsim.ops._frame import forward_axis, input_grad_axis
from fxsim.ops._mac import result_dtype


@st.composite
def axes(draw):
    """``(size, kernel, stride, padding, dilation)`` of a valid convolution along one axis."""
    kernel, stride = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    padding, dilation = draw(st.integers(0, 4)), draw(st.integers(1, 3))
    span = dilation * (kernel - 1) + 1
    size = draw(st.integers(max(1, span - 2 * padding), max(1, span - 2 * padding) + 9))
    return size, kernel, stride, padding, dilation


def _frame_product(axis, operand: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
    """What the kernels compute along one axis, for ``n`` images: pack ``operand (n, size)``
    into the axis's phases (padding, stacking, zero tail), then per result phase sum the taps
    ``weights[k] * plane[phase][q + offset]`` over every position ``q``."""
    n, size = operand.shape
    length, phases = axis.length, axis.phases
    tail = axis.max_offset + axis.pad + 1
    planes = np.zeros((phases, n * length + tail), dtype=np.int64)
    for b in range(n):
        for h in range(size):
            padded = axis.pad + h
            planes[padded % phases, b * length + padded // phases] = operand[b, h]
    results = []
    for taps in axis.taps:
        result = np.zeros(n * length, dtype=np.int64)
        for k, phase, offset in taps:
            assert offset >= 0
            result += weights[k] * planes[phase, offset:offset + n * length]
        results.append(result.reshape(n, length))
    return results


@settings(max_examples=200, deadline=None)
@given(axes(), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_frame_axes_compute_the_convolution_and_its_input_gradient(axis_args, n, seed):
    size, kernel, stride, padding, dilation = axis_args
    out = conv_out_size(size, kernel, stride, padding, dilation)
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 9, (n, size))  # nonzero: a read that should see padding would show
    g = rng.integers(1, 9, (n, out))
    w = rng.integers(1, 9, kernel)
    fwd = forward_axis(size, kernel, stride, padding, dilation, out)
    (result,) = _frame_product(fwd, x, w)
    reads = [(i, k, stride * i - padding + k * dilation) for i in range(out)
             for k in range(kernel) if 0 <= stride * i - padding + k * dilation < size]
    want = np.zeros((n, out), dtype=np.int64)
    for i, k, h in reads:
        want[:, i] += w[k] * x[:, h]
    assert np.array_equal(result[:, :out], want)
    back = input_grad_axis(size, kernel, stride, padding, dilation, out)
    phases = _frame_product(back, g, w)
    want = np.zeros((n, size), dtype=np.int64)
    for i, k, h in reads:
        want[:, h] += w[k] * g[:, i]
    for a, result in enumerate(phases):
        count = len(range(a, size, stride))
        assert result.shape[1] >= count
        assert np.array_equal(result[:, :count], want[:, a::stride])


def _windows(x_pad, kernel, stride, dilation, out_hw):
    """``x_pad[..., sh*i + ki*dh, sw*j + kj*dw]`` for every output ``(i, j)``, per kernel
    position ``(ki, kj)``."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    for ki in range(kh):
        for kj in range(kw):
            rows = slice(ki * dh, ki * dh + sh * (oh - 1) + 1, sh)
            cols = slice(kj * dw, kj * dw + sw * (ow - 1) + 1, sw)
            yield ki, kj, x_pad[:, :, rows, cols]


def numpy_products(x, w, g, stride, padding, dilation, groups):
    """The three products in int64 numpy (exact), per kernel position and group."""
    _, _, h, wd = x.shape
    co, cg, kh, kw = w.shape
    (ph, pw), oh, ow = padding, g.shape[2], g.shape[3]
    cog = co // groups
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros(g.shape, dtype=np.int64)
    gx_pad = np.zeros(x_pad.shape, dtype=np.int64)
    gw = np.zeros(w.shape, dtype=np.int64)
    for grp in range(groups):
        cs, os_ = slice(grp * cg, (grp + 1) * cg), slice(grp * cog, (grp + 1) * cog)
        windows = _windows(x_pad[:, cs], (kh, kw), stride, dilation, (oh, ow))
        for ki, kj, xs in windows:
            y[:, os_] += np.einsum("nchw,oc->nohw", xs, w[os_, :, ki, kj])
            gw[os_, :, ki, kj] += np.einsum("nohw,nchw->oc", g[:, os_], xs)
        grad_windows = _windows(gx_pad[:, cs], (kh, kw), stride, dilation, (oh, ow))
        for ki, kj, view in grad_windows:
            view += np.einsum("nohw,oc->nchw", g[:, os_], w[os_, :, ki, kj])
    return y, gx_pad[:, :, ph:ph + h, pw:pw + wd], gw


@st.composite
def wide_cases(draw):
    """Up to 20 channels per group, 1-3 images, sides up to 40, any stride/padding/dilation."""
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cg, cog = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = []
    for k, p, d in zip(kernel, padding, dilation, strict=True):
        low = max(1, d * (k - 1) + 1 - 2 * p)
        hw.append(draw(st.integers(low, low + 35)))
    return (draw(st.integers(1, 3)), cg * groups, cog * groups, tuple(hw), kernel, stride,
            padding, dilation, groups, draw(st.integers(0, 2**32 - 1)))


def check_products(case, paths=("auto", "int8", "float64", "int64")):
    n, c, co, hw, kernel, stride, padding, dilation, groups, seed = case
    rng = np.random.default_rng(seed)
    fmt = QFormat(6, 0)
    x = rng.integers(-32, 32, (n, c, *hw))
    w = rng.integers(-32, 32, (co, c // groups, *kernel))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    oh, ow = (conv_out_size(s, k, st_, p, d) for s, k, st_, p, d in
              zip(hw, kernel, stride, padding, dilation, strict=True))
    g = rng.integers(-32, 32, (n, co, oh, ow))
    want = numpy_products(x, w, g, stride, padding, dilation, groups)
    fx, fw, fg = (FxArray(v.astype(np.int8), fmt) for v in (x, w, g))
    for path in paths:
        got = (conv2d(fx, fw, path=path, **kw),
               conv2d_backward_input(fg, fw, x.shape, path=path, **kw),
               conv2d_backward_weight(fx, fg, w.shape, path=path, **kw))
        for result, expected in zip(got, want, strict=True):
            assert result.raw.dtype == result_dtype(result.fmt.bits)
            assert np.array_equal(result.raw, expected), path


@settings(max_examples=30, deadline=None)
@given(wide_cases())
def test_wide_cases_match_numpy(case):
    check_products(case)


@pytest.mark.parametrize("case", [
    (2, 5, 7, (3, 1500), (3, 3), (1, 1), (1, 1), (1, 1), 1, 1),  # rows longer than a tile
    (2, 4, 6, (2, 1400), (1, 3), (1, 2), (0, 1), (1, 2), 2, 2),
    (3, 16, 16, (32, 32), (3, 3), (1, 1), (1, 1), (1, 1), 1, 3),  # ResNet stage, many tiles
    (3, 16, 32, (32, 32), (3, 3), (2, 2), (1, 1), (1, 1), 1, 4),
    (1, 6, 5, (9, 11), (1, 1), (3, 2), (0, 0), (1, 1), 1, 5),  # phases that read no tap
    (2, 3, 4, (7, 8), (2, 2), (3, 3), (2, 1), (2, 1), 1, 6),
])
def test_edge_shapes_match_numpy(case):
    check_products(case, ("auto", "int8", "float32", "float64", "int64"))


def test_chunked_weight_gradient_over_many_tiles():
    """float32 weight-gradient tiles cut at the chunk (several per image): forced, as 8-bit
    codes take the int8 path."""
    rng = np.random.default_rng(8)
    fmt = QFormat(8, 0)
    x = FxArray(rng.integers(-128, 128, (3, 5, 40, 40)).astype(np.int8), fmt)
    g = FxArray(rng.integers(-128, 128, (3, 6, 40, 40)).astype(np.int8), fmt)
    plan = explain("conv2d_backward_weight", x, g, (6, 5, 3, 3), padding=1, path="float32")
    assert plan.path == "float32" and plan.chunk < 41 * 41
    got = conv2d_backward_weight(x, g, (6, 5, 3, 3), padding=1, path="float32")
    want = conv2d_backward_weight(x, g, (6, 5, 3, 3), padding=1, path="int64")
    assert np.array_equal(got.raw, want.raw)
