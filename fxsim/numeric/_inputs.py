"""The checks of :func:`fxsim.quantize`'s and :func:`fxsim.requantize`'s array and format
arguments (errors name the argument)."""

from __future__ import annotations

import numpy as np

from fxsim.numeric.formats import QFormat


def float_input(x: object, name: str) -> np.ndarray:
    """``x`` as a C-contiguous float64 array; refuses complex, object, string and inexact ints."""
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        return np.asarray(arr, dtype=np.float64, order="C")
    if kind in "biu":
        as_float = arr.astype(np.float64)
        if arr.size and kind in "iu" and np.abs(arr).max() > 2**53:
            raise ValueError(
                f"{name} holds integers beyond 2**53, which float64 cannot hold exactly; "
                "wrap them in an FxArray and use requantize"
            )
        return np.asarray(as_float, order="C")
    raise TypeError(
        f"{name} must be a real numeric array (bool, int or float), got dtype {arr.dtype}"
    )


def check_format(fmt: QFormat) -> None:
    """A TypeError unless ``fmt`` is a :class:`~fxsim.QFormat`."""
    if not isinstance(fmt, QFormat):
        raise TypeError(f"fmt must be a QFormat, got {fmt!r}")
