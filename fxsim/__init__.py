"""fxsim: a bit-accurate fixed-point simulator for training CNNs, with a hardware cost model.

The top-level names load lazily, so ``import fxsim`` (and the cost model, which reads formats
and policies) compiles nothing until a kernel is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "QFormat": "fxsim.numeric.formats",
    "FxArray": "fxsim.numeric.formats",
    "QuantStats": "fxsim.numeric.stats",
    "ROUNDING_MODES": "fxsim.numeric.rounding",
    "OVERFLOW_MODES": "fxsim.numeric.rounding",
    "RoundingMode": "fxsim.numeric.rounding",
    "register_rounding": "fxsim.numeric.user_rounding",
    "quantize": "fxsim.numeric.convert",
    "requantize": "fxsim.numeric.convert",
    "fixed_point_multiplier": "fxsim.numeric.multiplier",
    "Accumulator": "fxsim.ops.accumulator",
    "trace": "fxsim.tracing",
}
_SUBPACKAGES = ("numeric", "ranges", "ops", "layers", "training", "reproduce", "policy",
                "tracing", "testing")

__all__ = sorted([*_EXPORTS, "__version__", "ops"])

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from fxsim import ops
    from fxsim.numeric.convert import quantize, requantize
    from fxsim.numeric.formats import FxArray, QFormat
    from fxsim.numeric.multiplier import fixed_point_multiplier
    from fxsim.numeric.rounding import OVERFLOW_MODES, ROUNDING_MODES, RoundingMode
    from fxsim.numeric.stats import QuantStats
    from fxsim.numeric.user_rounding import register_rounding
    from fxsim.ops.accumulator import Accumulator


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"fxsim.{name}")
    else:
        raise AttributeError(f"module 'fxsim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})
