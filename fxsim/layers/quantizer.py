"""The quantizer of one tensor role at one place of a net: a range rule choosing the scale from
float statistics, then an integer conversion of the codes (or a float one for float inputs).

Per call: the rule of :mod:`fxsim.ranges` looks at the tensor's real values (float64 statistics:
the only thing floats do here) and returns a :class:`~fxsim.ranges.Scale`; an integer tensor (an
accumulator :class:`~fxsim.FxArray`) is then moved to that scale by :func:`fxsim.requantize`
(shift-and-round, or the fixed-point multiplier for a real step), a float tensor (the float
islands' outputs) by :func:`fxsim.quantize`, saturating to the scale's ``[code_min,
code_max]`` (symmetric formats, CQAT's code bits). Saturated elements are counted; an output
quantizer remembers exactly which elements it clamped, for the straight-through estimator's
mask (:meth:`TensorQuantizer.ste_mask`).

A deferred float tensor (a batch-norm gradient) whose ``max|x|`` nobody knows is rounded in one
pass with the scale of the quantizer's last call, the pass finding ``max|x|`` on the way
(:func:`fxsim.numeric.deferred.run_blocks`); if the scale that ``max|x|`` gives rounds alike
(the same format, step and code range) the codes are kept, else the tensor is rounded again
with it. The result is the same either way; a right guess saves a pass over the values.

Random numbers of stochastic rounding are keyed by the run's seed and a stream that the caller
derives from (step, site, class group): see :class:`fxsim.layers.base.Context`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fxsim.numeric import _code_kernels
from fxsim.numeric.arith import max_abs_code, multiplier_bits_for
from fxsim.numeric.convert import quantize, requantize
from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.formats import MAX_BITS, FxArray, QFormat
from fxsim.numeric.fused import OutputRounding
from fxsim.policy import RoleSpec
from fxsim.ranges import Scale
from fxsim.ranges.base import float_values
from fxsim.ranges.base import max_abs as rule_max_abs

HISTOGRAM_EDGES = np.arange(-40.0, 9.0)  # log2 |value| bins of the gradient histograms
HISTOGRAM_SAMPLES = 1 << 14


def max_abs(value: FxArray | np.ndarray | DeferredFloat) -> float:
    """``max |value|`` as float64 (0.0 for an empty tensor); on codes, computed on the integers,
    or taken from the codes' stats when the kernel that made them found it
    (:class:`fxsim.QuantStats`); on a deferred tensor, from what its producer knows
    (:meth:`~fxsim.numeric.deferred.DeferredFloat.max_abs`)."""
    if isinstance(value, FxArray):
        known = getattr(value.stats, "max_abs", None)
        return float(max_abs_code(value) if known is None else known) * value.lsb
    if isinstance(value, DeferredFloat):
        return value.max_abs()
    return float(_code_kernels.max_abs(np.asarray(value, dtype=np.float64)))


class NonFiniteError(FloatingPointError):
    """A quantizer met NaN or infinite values: the first place a diverging run shows it.
    ``layer`` and ``role`` name the quantizer, ``detail`` counts the values."""

    def __init__(self, layer: str, role: str, detail: str) -> None:
        super().__init__(f"layer {layer!r}, role {role!r}: {detail}")
        self.layer, self.role, self.detail = layer, role, detail


class TensorQuantizer:
    """Quantizes one role (``spec``) of one layer and class group, every time it is called.

    ``relu_output``: the tensor is the output of a fused ReLU; an activations role whose
    ``signed`` is left unset is then unsigned (all codes for the non-negative half), else
    signed. ``where`` names the place for messages and metrics (``layer.role[.group]``);
    ``layer`` and ``label`` (the role, or ``bias_grads``) its parts. ``keep_mask``: remember,
    after a training call, exactly which elements were clamped, for the straight-through
    estimator of this (output) quantizer (:meth:`ste_mask`). The quantizer keeps its range
    rule's state (adaptive rules) and per-epoch counters (:meth:`take_epoch_stats`).
    """

    def __init__(self, spec: RoleSpec, where: str, relu_output: bool = False,
                 histogram: bool = False, *, keep_mask: bool = False, layer: str | None = None,
                 label: str | None = None) -> None:
        self.spec = spec
        self.where = where
        self.layer = layer if layer is not None else where.split(".")[0]
        self.label = label if label is not None else spec.role
        self.signed = (not relu_output) if spec.signed is None else spec.signed
        self.rule = spec.make_rule()
        self.histogram = histogram
        self.keep_mask = keep_mask
        self.last_scale: Scale | None = None
        # True where the last training call passes the gradient (did not clamp); None: all pass
        self.last_mask: np.ndarray | None = None
        self.train_scale: Scale | None = None  # the scale of the last observed (training) call
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._saturated = 0
        self._size = 0
        self._calls = 0
        self._hist = np.zeros(len(HISTOGRAM_EDGES) - 1, dtype=np.int64)

    def __call__(self, value: FxArray | np.ndarray | DeferredFloat, seed: int, stream: int,
                 observe: bool = True, details: dict | None = None) -> FxArray:
        """The codes of ``value`` (an integer FxArray, a float array, or a deferred float
        tensor, read block by block unless the rule needs the values and does not declare
        ``reads_blocks``) in this role's format.

        ``observe=False`` (evaluation) leaves adaptive rules' state and the epoch counters
        unchanged. NaN or infinite float values raise :class:`NonFiniteError`. ``details``
        (a dict, for :mod:`fxsim.tracing`) receives the scale, the format, the saturation
        bounds and the multiplier bits used."""
        try:
            return self._convert(value, seed, stream, observe, details)
        except ValueError:
            if not isinstance(value, FxArray):
                _check_finite(value, self.layer, self.label)
            raise

    def _convert(self, value, seed, stream, observe, details) -> FxArray:
        spec = self.spec
        self.last_mask = None
        largest = None  # max|value|, when a deferred tensor finds it while materializing
        reads_blocks = self.rule.needs_values and self.rule.reads_blocks
        if isinstance(value, DeferredFloat) and self.rule.needs_values and not reads_blocks:
            value, largest = value.values(), value.max_abs()  # max|x| found materializing
        done = None
        if not self.rule.needs_values:
            # the rule needs only max|x|, taken straight from the codes: no float copy
            values = None
            if (isinstance(value, DeferredFloat) and not value.knows_max_abs()
                    and self.last_scale is not None):
                # one pass instead of two: round with the last call's scale while the pass
                # finds max|x|; keep the codes if max|x| gives a scale that rounds the same
                guess = self.last_scale
                try:
                    done = self._round(value, guess, seed, stream, observe)
                except ValueError:
                    done = None  # NaN or infinities: the ordinary path reports them
            scale = self.rule.choose(np.array([max_abs(value)]), spec.bits, self.signed)
            # kept if the scales convert alike: all but the clip value, which no conversion reads
            if done is not None and replace(scale, clip=guess.clip) != guess:
                done = None
        elif reads_blocks:
            # the rule takes its statistics (max|x| among them) from passes over the blocks,
            # on the threads (a deferred tensor's values computed once, in the first), and
            # known values are read in slices
            values = value if isinstance(value, DeferredFloat) else DeferredFloat.of_values(
                float_values(value.to_float() if isinstance(value, FxArray) else value))
            scale = self.rule.choose(values, spec.bits, self.signed)
        else:
            values = value.to_float() if isinstance(value, FxArray) else np.asarray(value)
            # max|x| once, as the rule takes it (same NaN check), for choose and observe
            largest = rule_max_abs(float_values(values), largest)
            scale = self.rule.choose(values, spec.bits, self.signed, largest=largest)
        out, mask, conversion = done or self._round(value, scale, seed, stream, observe)
        self.last_mask = mask
        saturated = out.stats.overflowed
        self.last_scale = scale
        if details is not None:
            details.update(scale=scale, **conversion)
        if observe:
            if values is not None:
                self.rule.observe(values, scale, largest=largest)
            if self.histogram:
                self._hist += log2_histogram(value)
            self._saturated += saturated
            self.train_scale = scale
            self._size += out.size
            self._calls += 1
        return out

    def _round(self, value, scale: Scale, seed: int, stream: int,
               observe: bool) -> tuple[FxArray, np.ndarray | None, dict]:
        """``value`` converted to ``scale``: the codes, the clamp mask for the straight-through
        estimator (None: nothing clamped, or not tracked) and what the conversion used (format,
        saturation bounds, multiplier bits, whether the mask was tracked)."""
        spec = self.spec
        fmt, low, high, track, target, clip = self._conversion(scale, observe)
        options = {**spec.rounding_options(), "overflow": spec.overflow, "seed": seed,
                   "stream": stream, "step": scale.step, "clip": clip}
        multiplier_bits = None
        if isinstance(value, FxArray):
            multiplier_bits = multiplier_bits_for(value)
            out = requantize(value, target, multiplier_bits=multiplier_bits, **options)
        else:
            out = quantize(value, target, **options)
        mask = None
        if track:
            codes, inside, clamped = _code_kernels.clamp_tracked(out.raw, low, high, fmt.dtype)
            out = FxArray(codes, fmt, check=False, step=out.step,
                          stats=replace(out.stats, saturated=clamped))
            if clamped:
                mask = inside
        return out, mask, {"fmt": fmt, "low": low, "high": high,
                           "multiplier_bits": multiplier_bits, "tracked": track}

    def _conversion(self, scale: Scale, observe: bool) -> tuple[QFormat, int, int, bool,
                                                                QFormat, tuple[int, int] | None]:
        """``(fmt, low, high, track, target, clip)`` of a conversion to ``scale``: the codes'
        format and saturation bounds, whether the clamp mask is tracked, the format converted
        to and the ``clip`` passed to it."""
        spec = self.spec
        fmt = scale.format(spec.bits, self.signed)
        low, high = max(fmt.min_code, scale.code_min), min(fmt.max_code, scale.code_max)
        # Exact clamp mask: convert to a format two bits wider (the same rounding and random
        # numbers; anything it saturates lies outside [low, high] too), note which codes fall
        # outside [low, high], then clamp.
        track = (self.keep_mask and observe and spec.overflow == "saturate"
                 and self.rule.clips)
        target = QFormat(min(MAX_BITS, fmt.bits + 2), fmt.frac) if track else fmt
        clip = None
        if not track and spec.overflow == "saturate" and (low, high) != (fmt.min_code,
                                                                         fmt.max_code):
            clip = (low, high)
        return fmt, low, high, track, target, clip

    def output_rounding(self, observe: bool) -> OutputRounding | None:
        """The conversion of the next call if it gets the last call's scale (the same
        ``observe``), for a product kernel to make in its output pass
        (:mod:`fxsim.numeric.fused`); None before the first call, for rules that read the
        values, for real steps and for wrapping (and stochastic rounding gets no output pass:
        :meth:`OutputRounding.target`). Only a hint:
        :func:`fxsim.requantize` takes the codes made with it only if the call's conversion is
        the same."""
        scale, spec = self.last_scale, self.spec
        if (scale is None or self.rule.needs_values or scale.step is not None
                or spec.overflow != "saturate"):
            return None
        _, _, _, _, target, clip = self._conversion(scale, observe)
        return OutputRounding(target, spec.rounding, clip)

    def ste_mask(self) -> np.ndarray | None:
        """Where the straight-through estimator passes the gradient of the last training
        call's output: False exactly at the elements that call clamped (their rounded code lay
        outside ``[code_min, code_max]``), as PyTorch's fake-quantize does; codes that rounded
        onto a bound without being clamped pass. None (pass everything) when nothing was
        clamped, under ``overflow="wrap"`` (nothing is clamped), for quantizers made without
        ``keep_mask``, and under rules that never clip below ``max|x|``
        (``RangeRule.clips`` False: ``minmax``, ``dorefa``; their saturation is a rounding
        matter of at most one LSB)."""
        return self.last_mask

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


def _check_finite(value: np.ndarray, layer: str, role: str) -> None:
    """Raise :class:`NonFiniteError` if ``value`` holds NaN or infinity (counted)."""
    value = np.asarray(value)
    if value.dtype.kind != "f":
        return
    nans = int(np.count_nonzero(np.isnan(value)))
    infs = int(np.count_nonzero(np.isinf(value)))
    if nans or infs:
        raise NonFiniteError(layer, role, f"{nans} NaN and {infs} infinite of {value.size} "
                                          "values")
