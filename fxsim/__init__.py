"""fxsim: a bit-accurate fixed-point simulator for training CNNs, with a hardware cost model."""

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
