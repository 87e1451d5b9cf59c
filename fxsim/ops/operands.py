"""Operands of the integer kernels: fixed-point (FxArray) or float64 baseline, and the results.

Every op takes two operands. Both :class:`~fxsim.FxArray`: the op computes exact integer
sums of code products. Both plain float64 numpy arrays: the float baseline of the same net,
computed in float64 with the same geometry (accumulators are ignored). Anything else is
refused with an error naming the parameter.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric.formats import FxArray, QFormat

FIXED = "fixed"
FLOAT = "float"


def operand_mode(**operands: object) -> str:
    """``"fixed"`` if every operand is an FxArray, ``"float"`` if every one is a float64 ndarray.

    Raises TypeError naming the first operand that fits neither or that mixes the two modes.
    """
    kinds = {}
    for name, value in operands.items():
        if isinstance(value, FxArray):
            kinds[name] = FIXED
        elif isinstance(value, np.ndarray) and value.dtype == np.float64:
            kinds[name] = FLOAT
        elif isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be an FxArray (integer codes) or a float64 ndarray "
                            f"(the float baseline), got an ndarray of dtype {value.dtype}")
        else:
            raise TypeError(f"{name} must be an FxArray or a float64 ndarray, got "
                            f"{type(value).__name__}")
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{n} is {'an FxArray' if k == FIXED else 'float64'}"
                           for n, k in kinds.items())
        raise TypeError(f"operands must be all FxArray or all float64 ndarrays; {listed}")
    return next(iter(kinds.values()))


def codes_as(x: FxArray, dtype) -> np.ndarray:
    """``x``'s codes as a C-contiguous array of ``dtype`` (exact: the caller checks ranges)."""
    return np.ascontiguousarray(x.raw, dtype=dtype)


def product_step(a: FxArray, b: FxArray) -> float | None:
    """The real LSB of a product's codes: ``a.lsb * b.lsb`` (float64) if either operand carries a
    real ``step``, else None (the power-of-two LSB ``2**-(a.frac + b.frac)`` is exact)."""
    if a.step is None and b.step is None:
        return None
    return a.lsb * b.lsb


def accumulator_result(raw: np.ndarray, bits: int, a: FxArray, b: FxArray, stats) -> FxArray:
    """The FxArray of an op's accumulators: ``QFormat(bits, a.frac + b.frac)``, int64 codes."""
    fmt = QFormat(bits, a.fmt.frac + b.fmt.frac)
    return FxArray(raw, fmt, stats=stats, check=False, step=product_step(a, b))
