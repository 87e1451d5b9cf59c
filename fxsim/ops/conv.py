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
from fxsim.numeric.fused import OutputRounding
from fxsim.ops._mac import MacCall, make_call
from fxsim.ops.accumulator import Accumulator

Operand = FxArray | np.ndarray
PairArg = int | tuple[int, int]


def _shape(value: object) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def conv2d_call(x, w, stride=1, padding=0, dilation=1, groups=1, acc=None,
                path="auto", output_rounding=None) -> MacCall:
    """The validated call behind :func:`conv2d` (also what :func:`explain` inspects)."""
    return make_call("conv2d", "forward", x, w, ("x", "w"),
                     (_shape(x), _shape(w), stride, padding, dilation, groups, "x", "w"), acc,
                     path, output_rounding)


def conv2d_backward_input_call(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                               groups=1, acc=None, path="auto",
                               output_rounding=None) -> MacCall:
    """The validated call behind :func:`conv2d_backward_input`."""
    call = make_call("conv2d_backward_input", "backward_input", grad_out, w, ("grad_out", "w"),
                     (input_shape, _shape(w), stride, padding, dilation, groups, "input_shape",
                      "w"), acc, path, output_rounding)
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
           path: str = "auto", output_rounding: OutputRounding | None = None) -> Operand:
    """2-D cross-correlation of codes, as PyTorch's ``conv2d`` without bias, summed exactly.

    ``x (N, C, H, W)`` and ``w (C_out, C/groups, KH, KW)`` give ``out (N, C_out, OH, OW)``:
    ``out[n, o, i, j] = sum x[n, g*C/groups + c, i*sh - ph + ki*dh, j*sw - pw + kj*dw] *
    w[o, c, ki, kj]`` over ``(c, ki, kj)``, ``g`` the group of ``o``; positions in the zero
    padding contribute nothing. Each output sums ``C/groups * KH * KW`` products in the order
    (input channel, kernel row, kernel column), the order a narrow saturating ``acc`` clamps in.
    ``OH = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1`` (PyTorch's formula), ``OW`` likewise.

    Parameters
    ----------
    x : FxArray or numpy.ndarray
        Input codes ``(N, C, H, W)`` of any integer dtype, or float64 values (then ``w`` is
        float64 too, and the op computes the float baseline in float64; ``acc`` is ignored).
    w : FxArray or numpy.ndarray
        Weight codes ``(C_out, C/groups, KH, KW)``, or float64 values.
    stride : int or (int, int), default 1
        ``(sh, sw)``, each >= 1; an int applies to both axes.
    padding : int or (int, int), default 0
        ``(ph, pw)`` rows and columns of zeros on each side, each >= 0.
    dilation : int or (int, int), default 1
        ``(dh, dw)``, spacing of the kernel taps, each >= 1.
    groups : int, default 1
        Channel groups (>= 1, dividing ``C`` and ``C_out``); ``groups = C`` is depthwise.
    acc : Accumulator or None, default None
        The accumulator register; None is ``Accumulator()``: wide, never overflows. A narrow
        one wraps (modular: once at the end equals at every add) or saturates at every add.
    path : str, default "auto"
        ``auto`` or one of :data:`fxsim.ops.PATHS` to force (refused where not exact): see
        :mod:`fxsim.ops.paths` and :func:`fxsim.ops.explain`. Every path gives the same codes.
    output_rounding : OutputRounding or None, default None
        A requantization the caller expects to apply to the result (a hint; it changes no
        result). The ``int8`` path makes it in its output pass, when the target is at most 8
        bits wide, the rounding deterministic and the rescale a right shift, and attaches the
        codes to ``.stats.rounded``; :func:`fxsim.requantize` asked for exactly that conversion
        returns them instead of another pass over the sums (:mod:`fxsim.numeric.fused`).

    Returns
    -------
    FxArray or numpy.ndarray
        ``(N, C_out, OH, OW)``: int64 codes in ``QFormat(acc_bits, x.frac + w.frac)``
        (signed; ``acc_bits`` the register's width), ``step = x.lsb * w.lsb`` (float64) if
        either operand carries a real step, else None, and an :class:`~fxsim.ops.AccStats` in
        ``.stats``. The exact accumulators: the caller requantizes. float64 for float input.

    Raises
    ------
    TypeError
        An operand neither an FxArray nor a float64 ndarray, or the two mixed; ``acc`` not an
        Accumulator; ``stride``, ``padding``, ``dilation`` or ``groups`` not integers.
    ValueError
        Shapes that are not 4-D or do not match; ``groups`` not dividing the channels; a
        kernel spanning more than the padded input; a stride or dilation below 1, a negative
        padding; an unknown ``path``, or a forced one that is not exact; a wide accumulator
        over 62 bits; sums that may reach ``2**62`` in a register that does not saturate.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.arange(16, dtype=np.int8).reshape(1, 1, 4, 4), QFormat(8, 4))
    >>> w = FxArray(np.ones((1, 1, 2, 2), dtype=np.int8), QFormat(8, 0))
    >>> y = ops.conv2d(x, w, stride=2)  # 2x2 window sums: 0+1+4+5, 2+3+6+7, ...
    >>> y.raw.tolist(), str(y.fmt)
    ([[[[10, 18], [42, 50]]]], 's18.4')
    >>> narrow = ops.conv2d(x, w, stride=2, acc=ops.Accumulator(6, "saturate"))
    >>> narrow.raw.tolist(), narrow.stats.saturated, narrow.stats.events
    ([[[[10, 18], [31, 31]]]], 2, 3)
    """
    return conv2d_call(x, w, stride, padding, dilation, groups, acc, path,
                       output_rounding).run()


def conv2d_backward_input(grad_out: Operand, w: Operand, input_shape: tuple[int, ...],
                          stride: PairArg = 1, padding: PairArg = 0, dilation: PairArg = 1,
                          groups: int = 1, acc: Accumulator | None = None,
                          path: str = "auto",
                          output_rounding: OutputRounding | None = None) -> Operand:
    """Gradient with respect to the input: the adjoint of :func:`conv2d` in ``x``.

    Each element of the result, of shape ``input_shape (N, C, H, W)`` (needed: a stride > 1
    may leave input rows unread, which get zero), sums, in the order (output channel, kernel
    row, kernel column), the products ``grad_out[n, o, i, j] * w[o, ci, ki, kj]`` of the
    outputs that read it: at most ``C_out/groups * KH * KW`` products.

    Parameters
    ----------
    grad_out : FxArray or numpy.ndarray
        Gradient codes of the convolution's output, ``(N, C_out, OH, OW)``, or float64 values.
    w : FxArray or numpy.ndarray
        The forward weight codes ``(C_out, C/groups, KH, KW)``, or float64 values.
    input_shape : tuple of int
        ``(N, C, H, W)`` of the forward input.
    stride, padding, dilation, groups, acc, path, output_rounding
        Those of the forward :func:`conv2d`.

    Returns
    -------
    FxArray or numpy.ndarray
        ``input_shape``: int64 codes in ``QFormat(acc_bits, grad_out.frac + w.frac)``, with
        ``step`` and ``.stats`` as in :func:`conv2d`; float64 for float input.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d`; also ValueError when ``grad_out`` does not have the convolution's
        output shape or ``input_shape`` is not 4-D.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> w = FxArray(np.ones((1, 1, 2, 2), dtype=np.int8), QFormat(8, 0))
    >>> g = FxArray(np.array([[[[1, -1], [2, 0]]]], dtype=np.int8), QFormat(8, 6))
    >>> gx = ops.conv2d_backward_input(g, w, (1, 1, 4, 4), stride=2)  # each g over its window
    >>> gx.raw[0, 0].tolist(), str(gx.fmt)
    ([[1, 1, -1, -1], [1, 1, -1, -1], [2, 2, 0, 0], [2, 2, 0, 0]], 's18.6')
    """
    return conv2d_backward_input_call(grad_out, w, input_shape, stride, padding, dilation,
                                      groups, acc, path, output_rounding).run()


def conv2d_backward_weight(x: Operand, grad_out: Operand, weight_shape: tuple[int, ...],
                           stride: PairArg = 1, padding: PairArg = 0, dilation: PairArg = 1,
                           groups: int = 1, acc: Accumulator | None = None,
                           path: str = "auto") -> Operand:
    """Gradient with respect to the weight: the adjoint of :func:`conv2d` in ``w``.

    Each element of the result, of shape ``weight_shape (C_out, C/groups, KH, KW)``, sums
    ``N * OH * OW`` products ``grad_out[n, o, i, j] * x[n, c, i*sh - ph + ki*dh, j*sw - pw +
    kj*dw]`` (``c`` in ``o``'s group; zero padding contributes nothing) in the order (batch,
    output row, output column). The long reduction is why the float32 path sums it in parts.

    Parameters
    ----------
    x : FxArray or numpy.ndarray
        The forward input codes ``(N, C, H, W)``, or float64 values.
    grad_out : FxArray or numpy.ndarray
        Gradient codes of the convolution's output, ``(N, C_out, OH, OW)``, or float64 values.
    weight_shape : tuple of int
        ``(C_out, C/groups, KH, KW)`` of the forward weight.
    stride, padding, dilation, groups, acc, path
        Those of the forward :func:`conv2d`.

    Returns
    -------
    FxArray or numpy.ndarray
        ``weight_shape``: int64 codes in ``QFormat(acc_bits, x.frac + grad_out.frac)``, with
        ``step`` and ``.stats`` as in :func:`conv2d`; float64 for float input.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d`; also ValueError when ``grad_out`` does not have the convolution's
        output shape or ``weight_shape`` is not 4-D.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.arange(16, dtype=np.int8).reshape(1, 1, 4, 4), QFormat(8, 4))
    >>> g = FxArray(np.array([[[[1, -1], [2, 0]]]], dtype=np.int8), QFormat(8, 6))
    >>> gw = ops.conv2d_backward_weight(x, g, (1, 1, 2, 2), stride=2)
    >>> gw.raw.tolist(), str(gw.fmt)  # e.g. 0*1 + 2*(-1) + 8*2 + 10*0 = 14
    ([[[[14, 16], [22, 24]]]], 's18.10')
    """
    return conv2d_backward_weight_call(x, grad_out, weight_shape, stride, padding, dilation,
                                       groups, acc, path).run()
