"""Range rules with state carried across training steps: ARC's z-score clip (with an optional
moving average) and the INT4 paper's large-gradient interval with its adaptive clip ratio."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from fxsim.numeric.pairwise import array_mean_and_std
from fxsim.ranges.base import (
    BlockTensor,
    RangeRule,
    float_or_none,
    float_tensor,
    float_values,
    hex_or_none,
    is_block_tensor,
    max_abs,
    register,
    scale_param,
)
from fxsim.ranges.params import RuleParam, bool_param, real_param
from fxsim.ranges.scale import Scale, ceil_log2


@register
class ZScoreRule(RangeRule):
    """``zscore`` (ARC, ISCAS 2024; only the abstract is public, so this is a
    reconstruction): ``c = min(max|x|, |mean| + z * std)`` over the current tensor, with the
    population standard deviation (``np.std``, ddof 0); default ``z=3``, ``scale="real"``
    with ``step = c / (2**(bits-1) - 1)``. With ``toward_zero`` rounding (set by the policy,
    not here) it is ARC's gradient quantizer.

    ``ema`` in [0, 1) (0, the default, turns it off) smooths mean and std across steps: the
    step uses ``m = ema * m_prev + (1 - ema) * mean(x)`` and likewise ``s`` for std, and
    :meth:`observe` (called with the same values) stores ``m, s`` as the new state. The first
    step, with no state yet, uses the tensor's own mean and std.

    Reads blocks: given a :class:`~fxsim.ranges.base.BlockTensor`, it takes mean and std (and
    ``max|x|``, found in the same pass as the mean) from it, which keeps them for
    :meth:`observe`.
    """

    name = "zscore"
    reads_blocks = True
    PARAMS: ClassVar[dict[str, RuleParam]] = {
        "z": real_param(3.0, 0.0, 1e6, low_open=True),
        "ema": real_param(0.0, 0.0, 1.0, high_open=True),
        "scale": scale_param("real"),
    }

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.mean: float | None = None
        self.std: float | None = None

    def choose(self, values: np.ndarray | BlockTensor, bits: int, signed: bool,
               largest: float | None = None) -> Scale:
        """:meth:`RangeRule.choose`; a block tensor's mean is taken first, its pass finding
        ``max|x|`` on the way (which ``choose`` then reads instead of making a pass of its
        own)."""
        if is_block_tensor(values) and largest is None:
            values.mean_and_std()
        return super().choose(values, bits, signed, largest)

    def _smoothed_stats(self, x: np.ndarray | BlockTensor,
                        largest: float) -> tuple[float, float]:
        mean, std = _mean_and_std(x, largest)
        ema = self.params["ema"]
        if ema == 0.0 or self.mean is None:
            return mean, std
        return ema * self.mean + (1 - ema) * mean, ema * self.std + (1 - ema) * std

    def clip_value(self, x: np.ndarray | BlockTensor, largest: float, bits: int,
                   signed: bool) -> float:
        mean, std = self._smoothed_stats(x, largest)
        return min(largest, abs(mean) + self.params["z"] * std)

    def observe(self, values: np.ndarray, scale: Scale, largest: float | None = None) -> None:
        """With ``ema > 0``: the smoothed mean and std of this step become the state."""
        x = float_tensor(values)
        if self.params["ema"] == 0.0 or not x.size:
            return
        self.mean, self.std = self._smoothed_stats(x, max_abs(x, largest))

    def _state(self) -> dict:
        return {"mean": hex_or_none(self.mean), "std": hex_or_none(self.std)}

    def _load_state(self, state: Mapping) -> None:
        _check_keys(self.name, state, {"mean", "std"})
        self.mean = float_or_none(state["mean"], "mean")
        self.std = float_or_none(state["std"], "std")


def _mean_and_std(x: np.ndarray | BlockTensor, largest: float) -> tuple[float, float]:
    """``np.mean(x), np.std(x)`` (float64, pairwise sums; bit for bit by
    :func:`fxsim.numeric.pairwise.array_mean_and_std` on contiguous arrays, by the tensor's
    own method on a block tensor); where their sums overflow (values near float64's maximum)
    they are taken on ``x * 2**-ceil(log2(largest))`` and scaled back, exactly by a power of
    two (a block tensor materialized for it: this is rare)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if is_block_tensor(x):
            mean, std = x.mean_and_std()
        elif x.flags.c_contiguous and x.dtype == np.float64:
            mean, std = array_mean_and_std(x)
        else:
            mean, std = float(x.mean()), float(x.std())
    if math.isfinite(mean) and math.isfinite(std):
        return mean, std
    exponent = ceil_log2(largest)
    scaled = np.ldexp(float_values(x), -exponent)
    return math.ldexp(float(scaled.mean()), exponent), math.ldexp(float(scaled.std()), exponent)


GAMMA_MIN, GAMMA_MAX = 0.001, 1.0  # LBT's clamp of the clip ratio


def _count_beyond(x: np.ndarray, threshold: float) -> int:
    """``np.count_nonzero(np.abs(x) > threshold)`` for ``threshold >= 0``, in one compiled pass
    (:func:`fxsim.ranges._beyond_kernel.count_beyond`; no temporary). The kernel loads on
    first use: the cost model reads the rules without it."""
    from fxsim.ranges._beyond_kernel import count_beyond

    return count_beyond(x, threshold)


@register
class LargeGradIntervalRule(RangeRule):
    """``large_grad_interval`` (Kim et al., ECCV 2024, "Toward INT4 fixed-point training via
    exploring quantization error for gradients"; written from the paper's public code,
    cvlab-yonsei/LBT, ``models/modules.py`` and ``train.py``).

    Symmetric, ``2**b - 1`` levels: clip ``c = gamma * max|g|`` of the current tensor,
    interval ``2c / (2**b - 2) = c / (2**(b-1) - 1)`` (default ``scale="real"``), codes in
    ``[-(2**(b-1) - 1), 2**(b-1) - 1]``. LBT rounds ``g / interval + u`` (``u`` uniform in
    [-0.5, 0.5)): stochastic rounding, chosen by the policy.

    After each iteration, :meth:`observe` is given the same step's unquantized gradient ``g``
    (LBT measures it on ``output_buff.grad``, the gradient entering its quantizer) and
    updates ``gamma <- clamp(gamma + lr_gamma * sign(mean(|g| > gamma * max|g|) -
    eps / (2**b - 1)), 0.001, 1)`` with the ``gamma`` this step used, which drives the
    fraction of clipped gradients toward ``eps / (2**b - 1)`` (as a sign update, it is the
    fraction's median over steps that settles there). ``b`` is the width of the Scale's
    format. Defaults as in LBT: ``gamma=1`` (the start), ``lr_gamma=1e-3`` (LBT's
    ``1 - moment`` with ``moment = 0.999``), ``eps=1e-3`` (LBT's ``max_ratio_constant``). An
    all-zero gradient leaves ``gamma`` unchanged (LBT skips the update when ``max|g| = 0``).

    Differences from LBT: LBT's first iteration does not apply the update but searches an
    initial ratio: starting from ``gamma = 1`` and a moving average ``m = 0``, it repeats
    ``m <- (1 - lr_gamma) m + lr_gamma * clipped(gamma)``,
    ``gamma <- gamma + lr_gamma * sign(m - eps / (2**b - 1))`` until that sign is positive,
    then clamps (and sets ``gamma = 0.001`` outright when ``eps >= 0.999``). That search is
    here as ``init_search=True``; it is off by default so that ``gamma`` starts at the given
    value. LBT computes in float32, this rule in float64.

    The rule does not read blocks (``reads_blocks`` False): from a batch-norm gradient that
    would be three passes of its fill (``max|g|``, rounding, clipped count), measured slower on
    ResNet-20 than computing the values once and reading them twice.
    """

    name = "large_grad_interval"
    PARAMS: ClassVar[dict[str, RuleParam]] = {
        "gamma": real_param(1.0, GAMMA_MIN, GAMMA_MAX),
        "lr_gamma": real_param(1e-3, 1e-6, 1.0),
        "eps": real_param(1e-3, 0.0, 1.0, low_open=True, high_open=True),
        "init_search": bool_param(False),
        "scale": scale_param("real"),
    }

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.gamma: float = self.params["gamma"]
        self.observed = 0  # observe() calls with a nonzero gradient

    def clip_value(self, x: np.ndarray, largest: float, bits: int, signed: bool) -> float:
        return self.gamma * largest

    def target_fraction(self, scale: Scale) -> float:
        """``eps / (2**b - 1)`` with ``b`` the width of ``scale``'s format."""
        return self.params["eps"] / ((1 << scale.format().bits) - 1)

    def observe(self, values: np.ndarray, scale: Scale, largest: float | None = None) -> None:
        """Update ``gamma`` from this step's unquantized gradient ``values``."""
        x = float_values(values)
        largest = max_abs(x, largest)
        if largest == 0.0:
            return
        target = self.target_fraction(scale)
        if self.params["init_search"] and self.observed == 0:
            gamma = self._searched_gamma(x, largest, target)
        else:
            clipped = _count_beyond(x, self.gamma * largest) / x.size
            gamma = self.gamma + self.params["lr_gamma"] * _sign(clipped - target)
        self.gamma = min(max(gamma, GAMMA_MIN), GAMMA_MAX)
        self.observed += 1

    def _searched_gamma(self, x: np.ndarray, largest: float, target: float) -> float:
        """LBT's first-iteration search (see the class docstring), before the clamp."""
        if self.params["eps"] >= 0.999:
            return GAMMA_MIN
        magnitudes = np.sort(np.abs(x), axis=None)
        rate = self.params["lr_gamma"]
        gamma, average = self.gamma, 0.0
        # gamma falls by rate per pass until the average rises past the target; once gamma <
        # 0 every element is clipped, so the loop ends well within this bound
        for _ in range(math.ceil(10 / rate) + 10):
            above = magnitudes.size - np.searchsorted(magnitudes, gamma * largest, side="right")
            average = (1 - rate) * average + rate * (above / magnitudes.size)
            direction = _sign(average - target)
            gamma += rate * direction
            if direction > 0:
                break
        return gamma

    def _state(self) -> dict:
        return {"gamma": hex_or_none(self.gamma), "observed": self.observed}

    def _load_state(self, state: Mapping) -> None:
        _check_keys(self.name, state, {"gamma", "observed"})
        gamma = float_or_none(state["gamma"], "gamma")
        if gamma is None or not GAMMA_MIN <= gamma <= GAMMA_MAX:
            raise ValueError(f"state entry gamma must be in [0.001, 1], got {state['gamma']!r}")
        observed = state["observed"]
        if not isinstance(observed, int) or isinstance(observed, bool) or observed < 0:
            raise ValueError(f"state entry observed must be an integer >= 0, got {observed!r}")
        self.gamma, self.observed = gamma, observed


def _sign(value: float) -> int:
    value = float(value)
    return (value > 0) - (value < 0)


def _check_keys(rule: str, state: Mapping, keys: set[str]) -> None:
    if not isinstance(state, Mapping) or set(state) != keys:
        raise ValueError(f"range rule {rule!r}: state must have keys {sorted(keys)}, got {state!r}")
