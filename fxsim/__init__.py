"""fxsim: a bit-accurate fixed-point simulator for training CNNs, with a hardware cost model."""

import os

# Threads of numba's OpenMP pool sleep between parallel loops instead of spinning: a training
# step runs hundreds of short kernels between BLAS calls, and spinning workers of one pool
# starve the other on a 2-core machine (measured: 8x slower steps). Set OMP_WAIT_POLICY
# yourself to override; it must be set before the first parallel kernel runs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from fxsim import ops
from fxsim.formats import FxArray, QFormat
from fxsim.ops.accumulator import Accumulator
from fxsim.quantize import fixed_point_multiplier, quantize, requantize
from fxsim.rounding import OVERFLOW_MODES, ROUNDING_MODES
from fxsim.stats import QuantStats

__version__ = "0.1.0"

__all__ = [
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "Accumulator",
    "FxArray",
    "QFormat",
    "QuantStats",
    "__version__",
    "fixed_point_multiplier",
    "ops",
    "quantize",
    "requantize",
]
