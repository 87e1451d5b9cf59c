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
    """The :class:`~fxsim.ops.paths.Plan` of ``op_name(*args, **kwargs)``: the path, the reason,
    the bound ``terms * max|a| * max|b|`` and the accumulator width. Validates the arguments as
    the op would (same errors) but computes nothing else."""
    if op_name not in _CALLS:
        raise ValueError(f"op_name must be one of {', '.join(OPS)}; got {op_name!r}")
    return _CALLS[op_name](*args, **kwargs).plan
