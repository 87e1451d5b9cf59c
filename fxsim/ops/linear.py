"""Fully connected layers, as PyTorch's ``linear`` (``y = x @ w.T``, no bias), and their two
backward products, on integer codes or float64.

A linear layer is a 1x1 convolution, so these ops share the convolution's paths,
accumulators and results (see :mod:`fxsim.ops.conv`). The batch of ``N`` rows becomes
``N / W`` images of one row of ``W`` pixels (``W`` the largest of 16, 8, 4, 2, 1 dividing
``N``), so that the kernels work on several rows at a time; batch row ``n`` is pixel
``n % W`` of image ``n // W``, which keeps the accumulation orders for a narrow saturating
register: forward over the input index; backward_input over the output index;
backward_weight over the batch index.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric.formats import FxArray
from fxsim.ops._mac import MacCall, make_call
from fxsim.ops.accumulator import Accumulator

Operand = FxArray | np.ndarray


def _matrix_shape(name: str, value: object) -> tuple[int, int]:
    shape = tuple(getattr(value, "shape", ()))
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {shape}")
    return shape  # type: ignore[return-value]


def _batch_width(rows: int) -> int:
    return next(w for w in (16, 8, 4, 2, 1) if rows % w == 0)


def _as_image(value, width: int):
    """``(N, features)`` codes or floats as ``(N / width, features, 1, width)`` images."""
    if isinstance(value, FxArray):
        return value.with_raw(_as_image(value.raw, width))
    if isinstance(value, np.ndarray) and value.ndim == 2:
        rows, features = value.shape
        return np.ascontiguousarray(
            value.reshape(rows // width, width, features).transpose(0, 2, 1)
        ).reshape(rows // width, features, 1, width)
    return value


def _as_matrix(result):
    """The op's result as a matrix: ``(N / W, features, 1, W)`` images back to
    ``(N, features)`` rows; an ``(out, in, 1, 1)`` weight (one image per row) is ``(out, in)``."""
    raw = result.raw if isinstance(result, FxArray) else result
    rows = raw.shape[0] * raw.shape[3]
    matrix = np.ascontiguousarray(raw[:, :, 0, :].transpose(0, 2, 1)).reshape(rows, raw.shape[1])
    if isinstance(result, FxArray):
        return FxArray(matrix, result.fmt, stats=result.stats, check=False, step=result.step)
    return matrix


def _as_weight(value):
    """``(out, in)`` weights as ``(out, in, 1, 1)``."""
    if isinstance(value, FxArray):
        return value.with_raw(value.raw.reshape(*value.shape, 1, 1))
    return value.reshape(*value.shape, 1, 1) if isinstance(value, np.ndarray) else value


def _check_same(what: str, left: tuple[str, int], right: tuple[str, int]) -> None:
    if left[1] != right[1]:
        raise ValueError(f"{what}: {left[0]} is {left[1]} but {right[0]} is {right[1]}")


def _call(op: str, a, b, names: tuple[str, str], n: int, fan_in: int, fan_out: int, acc,
          path: str) -> MacCall:
    """The 1x1 convolution of ``op`` on a batch of ``n`` rows (see the module docstring):
    ``a`` as images; ``b`` as images for the weight gradient, else as a weight."""
    width = _batch_width(n)
    a = _as_image(a, width)
    b = _as_image(b, width) if op == "backward_weight" else _as_weight(b)
    name = "linear" if op == "forward" else f"linear_{op}"
    return make_call(name, op, a, b, names,
                     ((n // width, fan_in, 1, width), (fan_out, fan_in, 1, 1), 1, 0, 1, 1), acc,
                     path)


def linear_call(x, w, acc=None, path="auto") -> MacCall:
    """The validated call behind :func:`linear`."""
    (n, fan_in), (fan_out, w_in) = _matrix_shape("x", x), _matrix_shape("w", w)
    _check_same("input features", ("x.shape[1]", fan_in), ("w.shape[1]", w_in))
    return _call("forward", x, w, ("x", "w"), n, fan_in, fan_out, acc, path)


def linear_backward_input_call(grad_out, w, acc=None, path="auto") -> MacCall:
    """The validated call behind :func:`linear_backward_input`."""
    (n, g_out), (fan_out, fan_in) = _matrix_shape("grad_out", grad_out), _matrix_shape("w", w)
    _check_same("output features", ("grad_out.shape[1]", g_out), ("w.shape[0]", fan_out))
    return _call("backward_input", grad_out, w, ("grad_out", "w"), n, fan_in, fan_out, acc, path)


def linear_backward_weight_call(x, grad_out, acc=None, path="auto") -> MacCall:
    """The validated call behind :func:`linear_backward_weight`."""
    (n, fan_in), (g_n, fan_out) = _matrix_shape("x", x), _matrix_shape("grad_out", grad_out)
    _check_same("batch size", ("x.shape[0]", n), ("grad_out.shape[0]", g_n))
    return _call("backward_weight", x, grad_out, ("x", "grad_out"), n, fan_in, fan_out, acc,
                 path)


def linear(x: Operand, w: Operand, acc: Accumulator | None = None, path: str = "auto") -> Operand:
    """A fully connected layer on codes, ``x @ w.T`` as PyTorch's ``linear`` without bias.

    ``y[n, o] = sum_i x[n, i] * w[o, i]`` for ``x (N, in)`` and ``w (out, in)``, summed over
    ``i`` in increasing order (the order a narrow saturating ``acc`` clamps in). Computed as a
    1x1 convolution, with its paths and accumulators (see the module docstring).

    Parameters
    ----------
    x : FxArray or numpy.ndarray
        Input codes ``(N, in)`` of any integer dtype, or float64 values (then ``w`` is float64
        too, and the op computes the float baseline in float64; ``acc`` is ignored).
    w : FxArray or numpy.ndarray
        Weight codes ``(out, in)``, or float64 values.
    acc : Accumulator or None, default None
        The accumulator register, as in :func:`fxsim.ops.conv2d`; None is wide.
    path : str, default "auto"
        A path to force, as in :func:`fxsim.ops.conv2d`.

    Returns
    -------
    FxArray or numpy.ndarray
        ``(N, out)``: int64 codes in ``QFormat(acc_bits, x.frac + w.frac)`` (signed), ``step``
        and an :class:`~fxsim.ops.AccStats` in ``.stats`` as :func:`fxsim.ops.conv2d`;
        float64 for float input. An empty batch gives ``(0, out)``.

    Raises
    ------
    TypeError
        As :func:`fxsim.ops.conv2d` (operands, ``acc``).
    ValueError
        ``x`` or ``w`` not 2-D, ``x.shape[1] != w.shape[1]``; the accumulator and path errors
        of :func:`fxsim.ops.conv2d`.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.array([[1, 2, 3], [-1, 0, 4]], dtype=np.int8), QFormat(8, 2))
    >>> w = FxArray(np.array([[1, 0, -1], [2, 2, 2]], dtype=np.int8), QFormat(8, 3))
    >>> y = ops.linear(x, w)
    >>> y.raw.tolist(), str(y.fmt)
    ([[-2, 12], [-5, 6]], 's17.5')
    """
    return _as_matrix(linear_call(x, w, acc, path).run())


def linear_backward_input(grad_out: Operand, w: Operand,
                          acc: Accumulator | None = None, path: str = "auto") -> Operand:
    """Gradient of :func:`linear` with respect to its input, ``grad_out @ w``.

    ``gx[n, i] = sum_o grad_out[n, o] * w[o, i]``, summed over ``o`` in increasing order.

    Parameters
    ----------
    grad_out : FxArray or numpy.ndarray
        Gradient codes of the output, ``(N, out)``, or float64 values.
    w : FxArray or numpy.ndarray
        The forward weight codes ``(out, in)``, or float64 values.
    acc, path
        As in :func:`linear`.

    Returns
    -------
    FxArray or numpy.ndarray
        ``(N, in)``: int64 codes in ``QFormat(acc_bits, grad_out.frac + w.frac)``, ``step`` and
        ``.stats`` as :func:`linear`; float64 for float input.

    Raises
    ------
    TypeError, ValueError
        As :func:`linear`, with ``grad_out.shape[1] != w.shape[0]`` refused.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> w = FxArray(np.array([[1, 0, -1], [2, 2, 2]], dtype=np.int8), QFormat(8, 3))
    >>> g = FxArray(np.array([[1, -1], [0, 2]], dtype=np.int8), QFormat(8, 5))
    >>> ops.linear_backward_input(g, w).raw.tolist()
    [[-1, -2, -3], [4, 4, 4]]
    """
    return _as_matrix(linear_backward_input_call(grad_out, w, acc, path).run())


def linear_backward_weight(x: Operand, grad_out: Operand,
                           acc: Accumulator | None = None, path: str = "auto") -> Operand:
    """Gradient of :func:`linear` with respect to its weight, ``grad_out.T @ x``.

    ``gw[o, i] = sum_n grad_out[n, o] * x[n, i]``, summed over ``n`` in increasing order.

    Parameters
    ----------
    x : FxArray or numpy.ndarray
        The forward input codes ``(N, in)``, or float64 values.
    grad_out : FxArray or numpy.ndarray
        Gradient codes of the output, ``(N, out)``, or float64 values.
    acc, path
        As in :func:`linear`.

    Returns
    -------
    FxArray or numpy.ndarray
        ``(out, in)``: int64 codes in ``QFormat(acc_bits, x.frac + grad_out.frac)``, ``step``
        and ``.stats`` as :func:`linear`; float64 for float input.

    Raises
    ------
    TypeError, ValueError
        As :func:`linear`, with ``x.shape[0] != grad_out.shape[0]`` (batch sizes) refused.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.array([[1, 2, 3], [-1, 0, 4]], dtype=np.int8), QFormat(8, 2))
    >>> g = FxArray(np.array([[1, -1], [0, 2]], dtype=np.int8), QFormat(8, 5))
    >>> gw = ops.linear_backward_weight(x, g)
    >>> gw.raw.tolist(), str(gw.fmt)
    ([[1, 2, 3], [-3, -2, 5]], 's17.7')
    """
    return _as_matrix(linear_backward_weight_call(x, grad_out, acc, path).run())
