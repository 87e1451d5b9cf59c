"""Integer kernels: exact convolution, linear and pooling ops on fixed-point codes.

Multiply-accumulate ops return the exact integer accumulators (``frac = frac_a + frac_b``);
the caller requantizes. See :mod:`fxsim.ops.conv` for the semantics, :mod:`fxsim.ops.paths`
for the exact fast paths and :func:`explain` for which one a call takes.
"""

from fxsim.ops.accumulator import AccStats, Accumulator
from fxsim.ops.conv import conv2d, conv2d_backward_input, conv2d_backward_weight
from fxsim.ops.explain import OPS, explain
from fxsim.ops.linear import linear, linear_backward_input, linear_backward_weight
from fxsim.ops.paths import PATHS, Plan
from fxsim.ops.pool import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward

__all__ = [
    "OPS",
    "PATHS",
    "AccStats",
    "Accumulator",
    "Plan",
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "explain",
    "linear",
    "linear_backward_input",
    "linear_backward_weight",
    "max_pool2d",
    "max_pool2d_backward",
]
