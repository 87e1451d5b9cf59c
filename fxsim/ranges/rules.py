"""The stateless range rules whose clip is one statistic of the current tensor: fixed, min-max,
percentile, CQAT's 8-bit-then-clip and DoReFa's gradient range."""

from __future__ import annotations

import math
import sys
from typing import ClassVar

import numpy as np

from fxsim.ranges.base import RangeRule, register, scale_param
from fxsim.ranges.params import REQUIRED, RuleParam, choice_param, int_param, real_param
from fxsim.ranges.scale import Scale


@register
class FixedRule(RangeRule):
    """``fixed``: the given fraction length ``frac`` (required), whatever the values.

    Codes are the symmetric ones of :func:`~fxsim.ranges.scale.symmetric_codes`; ``clip`` is
    the range top ``code_max * 2**-frac`` (capped at the largest float64). Only
    ``scale="pow2"`` exists for this rule.
    """

    name = "fixed"
    needs_values = False
    PARAMS: ClassVar[dict[str, RuleParam]] = {
        "frac": int_param(REQUIRED),
        "scale": choice_param("pow2", ("pow2",)),
    }

    def _fixed_scale(self, bits: int, signed: bool) -> Scale:
        code_min, code_max = self.code_limits(bits, signed)
        frac = self.params["frac"]
        try:
            top = math.ldexp(code_max, -frac)
        except OverflowError:
            top = sys.float_info.max
        return Scale(frac, None, top, code_min, code_max)

    def choose_zero(self, bits: int, signed: bool) -> Scale:
        return self._fixed_scale(bits, signed)

    def choose_nonzero(self, x: np.ndarray, largest: float, bits: int, signed: bool) -> Scale:
        return self._fixed_scale(bits, signed)


@register
class MinMaxRule(RangeRule):
    """``minmax``: ``c = max|x|`` of the current tensor (default ``scale="pow2"``)."""

    name = "minmax"
    needs_values = False
    clips = False
    PARAMS: ClassVar[dict[str, RuleParam]] = {"scale": scale_param("pow2")}


@register
class PercentileRule(RangeRule):
    """``percentile``: ``c = np.percentile(|x|, percentile)`` with numpy's default ``"linear"``
    method (linear interpolation between the two nearest order statistics). Default
    ``percentile=99.9``, ``scale="pow2"``. A clip of 0 (more than ``percentile`` % of the
    elements are zero) falls back to ``max|x|``.
    """

    name = "percentile"
    PARAMS: ClassVar[dict[str, RuleParam]] = {
        "percentile": real_param(99.9, 0.0, 100.0, low_open=True), "scale": scale_param("pow2")}

    def clip_value(self, x: np.ndarray, largest: float, bits: int, signed: bool) -> float:
        return float(np.percentile(np.abs(x), self.params["percentile"]))


@register
class CQATRule(RangeRule):
    """``cqat`` (CQAT, ISOCC 2022): an 8-bit quantizer whose interval comes from the range,
    ``step = c / (2**(base_bits-1) - 1)`` with ``c = max|x|`` (``c/127`` for the default
    ``base_bits=8``), then codes clamped so that only ``bits`` bits are used: signed codes in
    ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (weights, 5 bits in the paper: [-15, 15]),
    unsigned in ``[0, 2**bits - 1]`` (post-ReLU activations, 4 bits: [0, 15]), keeping the
    8-bit interval. The Scale's format has ``bits`` bits; ``bits <= base_bits``.

    The base step is ``c / 127`` for unsigned tensors too (the 8-bit signed quantizer's
    interval, as the project's brief reads the paper; an unsigned 8-bit base would be
    ``c / 255``). With ``scale="pow2"`` the fraction length is the one that fits ``c`` into
    ``base_bits - 1`` magnitude bits. ``Scale.clip`` is ``c``, the 8-bit quantizer's clip;
    the codes' own range ends at ``code_max * step``.
    """

    name = "cqat"
    PARAMS: ClassVar[dict[str, RuleParam]] = {
        "base_bits": int_param(8, 2, 62),
        "scale": scale_param("real"),
    }

    def check_bits(self, bits: int, signed: bool) -> tuple[int, bool]:
        bits, signed = super().check_bits(bits, signed)
        if bits > self.params["base_bits"]:
            raise ValueError(
                f"range rule 'cqat': bits must be <= base_bits={self.params['base_bits']} "
                f"(the codes are a clamp of the base quantizer's), got {bits}"
            )
        return bits, signed

    def magnitude_bits(self, bits: int, signed: bool) -> int:
        return self.params["base_bits"] - 1

    def step_divisor(self, bits: int, signed: bool) -> float:
        return float((1 << (self.params["base_bits"] - 1)) - 1)


@register
class DoReFaRule(RangeRule):
    """``dorefa`` (DoReFa-Net, Zhou et al. 2016, k-bit gradient quantizer):
    ``c = max|g|`` of the tensor and ``step = 2c / (2**bits - 1)`` (default ``scale="real"``),
    meant with stochastic rounding (chosen by the policy, not here).

    DoReFa maps ``[-c, c]`` onto ``2**k - 1`` intervals whose levels sit at
    ``-c + i * step``: half-integer multiples of ``step``. fxsim's formats have no zero point,
    so that half-level offset is not modelled: the levels here are integer multiples of
    ``step``, codes symmetric in ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (``c`` itself lies
    half a step above the largest level and saturates to it). DoReFa also takes the max per
    sample (over all axes but the batch axis); this rule takes it over the whole tensor.
    Unsigned tensors get ``step = c / (2**bits - 1)`` and codes ``[0, 2**bits - 1]``.
    """

    name = "dorefa"
    clips = False
    PARAMS: ClassVar[dict[str, RuleParam]] = {"scale": scale_param("real")}

    def step_divisor(self, bits: int, signed: bool) -> float:
        levels = float((1 << bits) - 1)
        return levels / 2 if signed else levels
