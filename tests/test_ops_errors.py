"""Bad input to fxsim.ops: clear errors naming the parameter, never a kernel traceback."""

from __future__ import annotations

import numpy as np
import pytest

from fxsim import FxArray, QFormat
from fxsim.ops import (
    Accumulator,
    conv2d,
    conv2d_backward_input,
    conv2d_backward_weight,
    explain,
    linear,
    linear_backward_input,
    linear_backward_weight,
)

F = QFormat(8, 0)


def fx(*shape):
    return FxArray(np.zeros(shape, np.int8), F)


X, W = fx(2, 4, 6, 6), fx(8, 4, 3, 3)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: conv2d(fx(4, 6, 6), W), ValueError, r"x must have 4 dimensions"),
    (lambda: conv2d(X, fx(8, 3, 3, 3)), ValueError, r"w has 3 input channels per group"),
    (lambda: conv2d(X, fx(8, 2, 3, 3), groups=3), ValueError, r"groups=3 must divide"),
    (lambda: conv2d(X, W, stride=0), ValueError, r"stride must be an integer"),
    (lambda: conv2d(X, W, padding=-1), ValueError, r"padding must be an integer >= 0"),
    (lambda: conv2d(X, W, dilation=(1, 2, 3)), ValueError, r"dilation must be an int or"),
    (lambda: conv2d(X, W, stride=1.5), TypeError, r"stride must be an integer"),
    (lambda: conv2d(X, fx(8, 4, 9, 9)), ValueError, r"impossible convolution.*height"),
    (lambda: conv2d(X, fx(8, 4, 3, 4), dilation=3), ValueError, r"impossible convolution"),
    (lambda: conv2d(X, W.to_float()), TypeError, r"all FxArray or all float64"),
    (lambda: conv2d(X.raw, W), TypeError, r"x must be an FxArray .* dtype int8"),
    (lambda: conv2d(X, [[1]]), TypeError, r"w must be an FxArray or a float64 ndarray"),
    (lambda: conv2d(X, W, acc=16), TypeError, r"acc must be an fxsim.Accumulator"),
    (lambda: Accumulator(63), ValueError, r"Accumulator bits must be an integer in 1..62"),
    (lambda: Accumulator(8, "clip"), ValueError, r"overflow must be one of"),
    (lambda: conv2d_backward_input(fx(2, 8, 4, 5), W, (2, 4, 6, 6)), ValueError,
     r"grad_out must have the convolution's output shape \(2, 8, 4, 4\)"),
    (lambda: conv2d_backward_input(fx(2, 8, 4, 4), W, (2, 4, 6)), ValueError,
     r"input_shape must have 4 dimensions"),
    (lambda: conv2d_backward_weight(X, fx(2, 8, 4, 4), (8, 4, 3)), ValueError,
     r"weight_shape must have 4 dimensions"),
    (lambda: conv2d_backward_weight(X, fx(2, 8, 3, 4), (8, 4, 3, 3)), ValueError,
     r"grad_out must have the convolution's output shape"),
    (lambda: linear(fx(2, 5), fx(3, 4)), ValueError, r"x.shape\[1\] is 5 but w.shape\[1\] is 4"),
    (lambda: linear(fx(2, 5, 1), fx(3, 5)), ValueError, r"x must be 2-D"),
    (lambda: linear_backward_input(fx(2, 4), fx(3, 5)), ValueError, r"grad_out.shape\[1\]"),
    (lambda: linear_backward_weight(fx(2, 5), fx(3, 4)), ValueError, r"batch size"),
    (lambda: explain("conv3d", X, W), ValueError, r"op_name must be one of"),
])
def test_bad_input_is_refused_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()
