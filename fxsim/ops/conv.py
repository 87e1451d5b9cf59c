"""2-D convolution forward and both backward products, on integer codes or float64.

NCHW layout, as PyTorch. On :class:`~fxsim.FxArray` operands each op returns the exact
integer accumulators as an FxArray: int64 codes, ``QFormat(acc_bits, frac_a + frac_b)``
(signed), ``step = a.lsb * b.lsb`` (float64) when either operand carries a real step, and an
:class:`~fxsim.ops.AccStats` in ``.stats``. The caller requantizes. On two float64 arrays
each op computes the float baseline in float64 with the same geometry (``acc`` is ignored).

``acc`` (an :class:`~fxsim.ops.Accumulator`, default wide) sets the register: wide never
overflows; a narrow one wraps (modular) or saturates at every add in this order, outermost
first: forward over (input channel, kernel row, kernel column); backward_input over (output
channel, kernel row, kernel column); backward_weight over (batch, output row, output column).
``path`` forces one of the exact paths of :mod:`fxsim.ops.paths` (all give the same integers).
``stride``, ``padding`` and ``dilation`` are ints or ``(h, w)`` pairs.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric.formats import FxArray
from fxsim.ops._mac import MacCall, make_call
from fxsim.ops.accumulator import Accumulator

Operand = FxArray | np.ndarray
PairArg = int | tuple[int, int]


def _shape(value: object) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def conv2d_call(x, w, stride=1, padding=0, dilation=1, groups=1, acc=None,
                path="auto") -> MacCall:
    """The validated call behind :func:`conv2d` (also what :func:`explain` inspects)."""
    call = make_call("conv2d", "forward", x, w, ("x", "w"),
                     (_shape(x), _shape(w), stride, padding, dilation, groups, "x", "w"), acc,
                     path)
    return call


def conv2d_backward_input_call(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                               groups=1, acc=None, path="auto") -> MacCall:
    """The validated call behind :func:`conv2d_backward_input`."""
    call = make_call("conv2d_backward_input", "backward_input", grad_out, w, ("grad_out", "w"),
                     (input_shape, _shape(w), stride, padding, dilation, groups, "input_shape",
                      "w"), acc, path)
    call.geom.check_grad(_shape(grad_out))
    return call


def conv2d_backward_weight_call(x, grad_out, weight_shape, stride=1, padding=0, dilation=1,
                                groups=1, acc=None, path="auto") -> MacCall:
    """The validated call behind :func:`conv2d_backward_weight`."""
    call = make_call("conv2d_backward_weight", "backward_weight", x, grad_out,
                     ("x", "grad_out"), (_shape(x), weight_shape, stride, padding, dilation,
                                         groups, "x", "weight_shape"), acc, path)
    call.geom.check_grad(_shape(grad_out))
    return call


def conv2d(x: Operand, w: Operand, stride: PairArg = 1, padding: PairArg = 0,
           dilation: PairArg = 1, groups: int = 1, acc: Accumulator | None = None,
           path: str = "auto") -> Operand:
    """Cross-correlation of ``x (N, C, H, W)`` with ``w (C_out, C/groups, KH, KW)``, as
    PyTorch's ``conv2d`` (no bias): ``out (N, C_out, OH, OW)``. Each output sums
    ``C/groups * KH * KW`` products in the order (input channel, kernel row, kernel column)."""
    return conv2d_call(x, w, stride, padding, dilation, groups, acc, path).run()


def conv2d_backward_input(grad_out: Operand, w: Operand, input_shape: tuple[int, ...],
                          stride: PairArg = 1, padding: PairArg = 0, dilation: PairArg = 1,
                          groups: int = 1, acc: Accumulator | None = None,
                          path: str = "auto") -> Operand:
    """Gradient with respect to the input: the adjoint of :func:`conv2d` in ``x``, of shape
    ``input_shape (N, C, H, W)`` (needed: a stride > 1 may leave input rows unread, which get
    zero). Each element sums, in the order (output channel, kernel row, kernel column), the
    products ``grad_out[n, o, i, j] * w[o, ci, ki, kj]`` of the outputs that read it."""
    return conv2d_backward_input_call(grad_out, w, input_shape, stride, padding, dilation,
                                      groups, acc, path).run()


def conv2d_backward_weight(x: Operand, grad_out: Operand, weight_shape: tuple[int, ...],
                           stride: PairArg = 1, padding: PairArg = 0, dilation: PairArg = 1,
                           groups: int = 1, acc: Accumulator | None = None,
                           path: str = "auto") -> Operand:
    """Gradient with respect to the weight, shape ``weight_shape (C_out, C/groups, KH, KW)``:
    the adjoint of :func:`conv2d` in ``w``. Each element sums ``N * OH * OW`` products
    ``grad_out[n, o, i, j] * x[n, c, i*sh - ph + ki*dh, j*sw - pw + kj*dw]`` in the order
    (batch, output row, output column). The result's frac is ``x.frac + grad_out.frac``."""
    return conv2d_backward_weight_call(x, grad_out, weight_shape, stride, padding, dilation,
                                       groups, acc, path).run()
