"""The quantizer of one tensor role at one place of a net: a range rule choosing the scale from
float statistics, then an integer conversion of the codes (or a float one for float inputs).

Per call: the rule of :mod:`fxsim.ranges` looks at the tensor's real values (float64 statistics:
the only thing floats do here) and returns a :class:`~fxsim.ranges.Scale`; an integer tensor (an
accumulator :class:`~fxsim.FxArray`) is then moved to that scale by :func:`fxsim.requantize`
(shift-and-round, or the fixed-point multiplier for a real step), a float tensor (the float
islands' outputs) by :func:`fxsim.quantize`, saturating to the scale's ``[code_min,
code_max]`` (symmetric formats, CQAT's code bits). Saturated elements are counted; whether any
were is remembered for the straight-through estimator's mask (:meth:`ste_mask`).

Random numbers of stochastic rounding are keyed by the run's seed and a stream that the caller
derives from (step, site, class group): see :class:`fxsim.layers.base.Context`.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric import _code_kernels
from fxsim.numeric.arith import max_abs_code, multiplier_bits_for
from fxsim.numeric.convert import quantize, requantize
from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.formats import FxArray
from fxsim.policy import RoleSpec
from fxsim.ranges import Scale

HISTOGRAM_EDGES = np.arange(-40.0, 9.0)  # log2 |value| bins of the gradient histograms
HISTOGRAM_SAMPLES = 1 << 14


def max_abs(value: FxArray | np.ndarray | DeferredFloat) -> float:
    """``max |value|`` as float64 (0.0 for an empty tensor); on codes, computed on the integers,
    or taken from the codes' stats when the kernel that made them found it
    (:class:`fxsim.ops.AccStats`); on a deferred tensor, from what its producer knows
    (:meth:`~fxsim.numeric.deferred.DeferredFloat.max_abs`)."""
    if isinstance(value, FxArray):
        known = getattr(value.stats, "max_abs", None)
        return float(max_abs_code(value) if known is None else known) * value.lsb
    if isinstance(value, DeferredFloat):
        return value.max_abs()
    return float(_code_kernels.max_abs(np.asarray(value, dtype=np.float64)))


class TensorQuantizer:
    """Quantizes one role (``spec``) of one layer and class group, every time it is called.

    ``relu_output``: the tensor is the output of a fused ReLU; an activations role whose
    ``signed`` is left unset is then unsigned (all codes for the non-negative half), else
    signed. ``where`` names the place for messages and metrics (``layer.role[.group]``).
    The quantizer keeps its range rule's state (adaptive rules) and per-epoch counters
    (:meth:`take_epoch_stats`).
    """

    def __init__(self, spec: RoleSpec, where: str, relu_output: bool = False,
                 histogram: bool = False) -> None:
        self.spec = spec
        self.where = where
        self.signed = (not relu_output) if spec.signed is None else spec.signed
        self.rule = spec.make_rule()
        self.histogram = histogram
        self.last_scale: Scale | None = None
        self.train_scale: Scale | None = None  # the scale of the last observed (training) call
        self.last_clamped = 0
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._saturated = 0
        self._size = 0
        self._calls = 0
        self._hist = np.zeros(len(HISTOGRAM_EDGES) - 1, dtype=np.int64)

    def __call__(self, value: FxArray | np.ndarray | DeferredFloat, seed: int, stream: int,
                 observe: bool = True) -> FxArray:
        """The codes of ``value`` (an integer FxArray, a float array, or a deferred float
        tensor, read block by block unless the rule needs the values) in this role's format.

        ``observe=False`` (evaluation) leaves adaptive rules' state and the epoch counters
        unchanged."""
        spec = self.spec
        if isinstance(value, DeferredFloat) and self.rule.needs_values:
            value = value.values()
        if not self.rule.needs_values:
            # the rule needs only max|x|, taken straight from the codes: no float copy
            values = None
            scale = self.rule.choose(np.array([max_abs(value)]), spec.bits, self.signed)
        else:
            values = value.to_float() if isinstance(value, FxArray) else np.asarray(value)
            scale = self.rule.choose(values, spec.bits, self.signed)
        fmt = scale.format(spec.bits, self.signed)
        extra = {"random_bits": spec.random_bits} if spec.random_bits else {}
        if spec.overflow == "saturate" and (scale.code_min > fmt.min_code
                                            or scale.code_max < fmt.max_code):
            extra["clip"] = (scale.code_min, scale.code_max)
        if isinstance(value, FxArray):
            out = requantize(value, fmt, spec.rounding, spec.overflow, seed, stream=stream,
                             step=scale.step, multiplier_bits=multiplier_bits_for(value), **extra)
        else:
            out = quantize(value, fmt, spec.rounding, spec.overflow, seed, step=scale.step,
                           stream=stream, **extra)
        saturated = out.stats.overflowed
        self.last_scale = scale
        self.last_clamped = saturated
        if observe:
            if values is not None:
                self.rule.observe(values, scale)
            if self.histogram:
                self._hist += log2_histogram(value)
            self._saturated += saturated
            self.train_scale = scale
            self._size += out.size
            self._calls += 1
        return out

    def ste_mask(self, codes: FxArray) -> np.ndarray | None:
        """Where the straight-through estimator passes the gradient of the last call's output:
        False at codes on a clamp bound (``code_max``; also ``code_min`` when signed) after a
        call that clamped anything, None (pass everything) after one that clamped nothing or
        under a rule that never clips below ``max|x|`` (``RangeRule.clips``: ``minmax``,
        ``dorefa``; saturation there is a rounding matter of at most one LSB).
        Codes exactly at a bound without having been clamped are masked too (as PyTorch's
        fake-quantize does at its bounds)."""
        if not self.last_clamped or self.last_scale is None or not self.rule.clips:
            return None
        raw = codes.raw
        mask = raw < self.last_scale.code_max
        if self.signed:
            mask &= raw > self.last_scale.code_min
        return mask

    def take_epoch_stats(self) -> dict[str, float]:
        """This epoch's saturation rate and the scale (frac or step) of its last training call,
        then reset."""
        scale = self.train_scale
        stats = {
            "sat_rate": self._saturated / self._size if self._size else 0.0,
            "frac": float(scale.frac) if scale is not None and scale.frac is not None else np.nan,
            "step": float(scale.step) if scale is not None and scale.step is not None else np.nan,
        }
        hist = self._hist.copy()
        self._reset_epoch()
        return {"stats": stats, "histogram": hist}

    def state_dict(self) -> dict:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rule.load_state_dict(state["rule"])


def log2_histogram(values: FxArray | np.ndarray | DeferredFloat) -> np.ndarray:
    """Counts of ``log2 |v|`` over :data:`HISTOGRAM_EDGES` for the nonzero values of a fixed
    deterministic subsample (every k-th element) of at most :data:`HISTOGRAM_SAMPLES` (of codes,
    or of a deferred tensor: only the sample is turned into values)."""
    stride = max(1, values.size // HISTOGRAM_SAMPLES)
    if isinstance(values, DeferredFloat):
        sample = values.strided(stride)
    else:
        flat = values.raw.reshape(-1) if isinstance(values, FxArray) else values.reshape(-1)
        sample = flat[::stride]
    if isinstance(values, FxArray):
        sample = values.with_raw(sample).to_float()
    sample = np.abs(sample)
    sample = sample[sample > 0]
    logs = np.clip(np.log2(sample), HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[-1])
    # np.histogram's bins on these unit-spaced integer edges, without its sort: bin
    # floor(v) - first edge, the last edge falling in the last bin (closed on the right)
    bins = len(HISTOGRAM_EDGES) - 1
    index = np.minimum(np.floor(logs - HISTOGRAM_EDGES[0]).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins).astype(np.int64)
