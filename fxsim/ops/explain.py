"""Which path an op call would take, and why, without computing it."""

from __future__ import annotations

from fxsim.ops import conv, linear
from fxsim.ops.paths import Plan

_CALLS = {
    "conv2d": conv.conv2d_call,
    "conv2d_backward_input": conv.conv2d_backward_input_call,
    "conv2d_backward_weight": conv.conv2d_backward_weight_call,
    "linear": linear.linear_call,
    "linear_backward_input": linear.linear_backward_input_call,
    "linear_backward_weight": linear.linear_backward_weight_call,
}
OPS = tuple(_CALLS)


def explain(op_name: str, *args, **kwargs) -> Plan:
    """The :class:`~fxsim.ops.paths.Plan` of ``op_name(*args, **kwargs)``, without computing it.

    The plan holds the path the call would take, the reason, the bound ``terms * max|a| *
    max|b|`` and the accumulator width. Validates the arguments as the op would (same errors)
    but computes nothing else (it reads the codes once, for their largest magnitudes).

    Parameters
    ----------
    op_name : str
        One of :data:`OPS`: ``conv2d``, ``conv2d_backward_input``, ``conv2d_backward_weight``,
        ``linear``, ``linear_backward_input``, ``linear_backward_weight``.
    *args, **kwargs
        The op's arguments, as it takes them (including ``acc`` and ``path``).

    Returns
    -------
    Plan
        The op's plan; ``path="float64-baseline"`` for float64 operands.

    Raises
    ------
    ValueError
        ``op_name`` is not one of :data:`OPS`; otherwise the op's own errors.

    Examples
    --------
    A layer of 300 inputs on 8-bit codes at their extremes: byte dot products in 32-bit lanes;
    a 16-bit saturating register forces the sequential path; float operands the float64 one.

    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.full((2, 300), 127, dtype=np.int8), QFormat(8, 7))
    >>> w = FxArray(np.full((4, 300), -128, dtype=np.int8), QFormat(8, 7))
    >>> plan = ops.explain("linear", x, w)
    >>> plan.path, plan.reason.split(":")[0], plan.acc_bits
    ('int8', 'exact in 32-bit lanes', 24)
    >>> ops.explain("linear", x, w, acc=ops.Accumulator(16)).path
    'sequential'
    >>> ops.explain("linear", x.to_float(), w.to_float()).path
    'float64-baseline'
    """
    if op_name not in _CALLS:
        raise ValueError(f"op_name must be one of {', '.join(OPS)}; got {op_name!r}")
    return _CALLS[op_name](*args, **kwargs).plan
