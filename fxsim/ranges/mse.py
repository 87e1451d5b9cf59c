"""``mse``: the scale that minimises the squared quantization error of the tensor.

The error of a candidate LSB ``s`` with codes in ``[code_min, code_max]`` is
``sum((x - clamp(rint(x / s), code_min, code_max) * s)**2)``: nearest rounding, ties to even
(``np.rint``, fxsim's ``nearest_even``), with saturation, exactly what :func:`fxsim.quantize`
does with ``step=s`` followed by the clamp to the Scale's codes. It is evaluated for every
candidate by a small numba kernel (one float64 pass per candidate, summed in index order),
loaded on first use so that reading a policy compiles nothing.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from fxsim.ranges.base import RangeRule, register, scale_param
from fxsim.ranges.params import RuleParam, int_param
from fxsim.ranges.scale import Scale, ceil_log2, real_step


def squared_errors(x: np.ndarray, steps: np.ndarray, code_min: int, code_max: int) -> np.ndarray:
    """The squared quantization error of ``x`` (float64) for each LSB in ``steps`` (float64,
    > 0) with nearest-even rounding and codes clamped to ``[code_min, code_max]``."""
    from fxsim.ranges._mse_kernel import squared_errors_kernel  # compiles on first use only

    out = np.empty(steps.size, dtype=np.float64)
    squared_errors_kernel(np.ascontiguousarray(x, dtype=np.float64),
                    np.ascontiguousarray(steps, dtype=np.float64), float(code_min),
                    float(code_max), out)
    return out


def strided_sample(x: np.ndarray, max_samples: int) -> np.ndarray:
    """Every ``k``-th element of ``x`` in C order from the first, with the smallest ``k`` that
    leaves at most ``max_samples`` (``k = ceil(x.size / max_samples)``); all of ``x`` if it
    is small enough. Deterministic: no random draw."""
    flat = x.reshape(-1)
    return flat[:: max(1, math.ceil(flat.size / max_samples))]


@register
class MSERule(RangeRule):
    """``mse``: the scale minimising the squared quantization error ``sum((x - Q(x))**2)``,
    with ``Q`` nearest rounding (ties to even) and saturation to the rule's symmetric codes.

    - ``scale="pow2"`` (default): the candidates are the fraction lengths
      ``f0 - 1 .. f0 + frac_span`` around min-max's ``f0`` (:func:`~fxsim.ranges.scale.pow2_frac`
      of ``max|x|``); ``f0 - 1`` covers the case where ``max|x|``, one LSB above ``f0``'s range,
      costs more than the coarser grid.
    - ``scale="real"``: the candidates are ``c = max|x| * i / grid`` for ``i = 1..grid``
      (default ``grid=100``), ``step = c / (2**(bits-1) - 1)`` (unsigned ``2**bits - 1``). A
      plain grid, no refinement.

    Both candidate sets contain min-max's scale, so the result is never worse than min-max by
    this error. Ties go to the largest clip (fewest saturated values). ``Scale.clip`` is
    ``min(max|x|, code_max * lsb)``.

    Large tensors: the error is measured on a deterministic strided subsample, every
    ``k``-th element in C order with ``k = ceil(size / max_samples)`` (default
    ``max_samples=2**16``), while ``max|x|`` (the candidates' range) is that of the whole
    tensor. The sample is first scaled by ``2**-ceil(log2(max|x|))`` so that tiny or huge
    tensors neither underflow nor overflow; a power-of-two scaling changes no rounding (bar
    elements more than ``2**1000`` times smaller than ``max|x|``), so the choice is the one
    the unscaled errors give.
    """

    name = "mse"
    PARAMS: ClassVar[dict[str, RuleParam]] = {
        "scale": scale_param("pow2"),
        "max_samples": int_param(1 << 16, 1),
        "grid": int_param(100, 1, 100_000),
        "frac_span": int_param(6, 0, 64),
    }

    def choose_nonzero(self, x: np.ndarray, largest: float, bits: int, signed: bool) -> Scale:
        code_min, code_max = self.code_limits(bits, signed)
        exponent = ceil_log2(largest)
        sample = np.ldexp(strided_sample(x, self.params["max_samples"]), -exponent)
        top = math.ldexp(largest, -exponent)  # in (0.5, 1]
        if self.params["scale"] == "pow2":
            # normalized: f0 = magnitude_bits; candidates in decreasing clip order
            fracs = np.arange(-1, self.params["frac_span"] + 1) + self.magnitude_bits(bits, signed)
            steps = np.ldexp(1.0, -fracs)
        else:
            clips = top * (np.arange(self.params["grid"], 0, -1) / self.params["grid"])
            steps = clips / self.step_divisor(bits, signed)  # >= 2**-1 / 1e5 / 2**61: normal
        best = int(np.argmin(squared_errors(sample, steps, code_min, code_max)))
        if self.params["scale"] == "pow2":
            clip = math.ldexp(min(top, code_max * float(steps[best])), exponent)  # <= max|x|
            return Scale(int(fracs[best]) - exponent, None, clip, code_min, code_max)
        chosen = math.ldexp(float(clips[best]), exponent)
        return Scale(None, real_step(chosen, self.step_divisor(bits, signed)), chosen,
                     code_min, code_max)
