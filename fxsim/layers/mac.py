"""Conv2d and Linear: the layers whose multiply-accumulates run as exact integer products
(:mod:`fxsim.ops`), following DESIGN.md's dataflow for one layer and one step:

1. forward: the master weights are quantized by the ``weights`` quantizer; each part's
   activation codes times the weight codes give an exact accumulator (of the policy's
   ``accumulator`` width and overflow), requantized by the ``activations`` quantizer of this
   layer's output.
2. backward: the incoming gradient (an exact accumulator from the layer above, or a float from a
   float island) passes the straight-through estimator of the output quantizer and is
   quantized by the ``act_grads`` quantizer (format G: rounding and range rule from the
   policy); then ``grad_input = backward_input(g, W)`` (returned unquantized: the layer below
   quantizes it as its incoming gradient) and ``grad_weight = backward_weight(a, g)``, summed
   exactly over class groups and quantized by the ``weight_grads`` quantizer.
3. the optimizer (:mod:`fxsim.training.optim`) updates the master weights from that gradient.

The first MAC layer of a net does not compute ``grad_input`` (no one needs the gradient of the
input image).
"""

from __future__ import annotations

import math

import numpy as np

from fxsim import ops
from fxsim.layers import tracing
from fxsim.layers.base import Binder, Context, Layer, Param, apply, ste
from fxsim.numeric import arith
from fxsim.numeric.convert import quantize, requantize
from fxsim.numeric.formats import FxArray, QFormat
from fxsim.numeric.fused import OutputRounding
from fxsim.numeric.shapes import LayerShape
from fxsim.ops.geometry import as_pair

PHASES = ("forward", "backward_input", "backward_weight")


class MacLayer(Layer):
    """What Conv2d and Linear share: weights, their quantizers, the three products and the
    count of their accumulator overflows.

    With a narrow accumulator (the policy's ``accumulator = { bits = B }``), every training
    product adds to per-phase counters: sums computed, sums that saturated or wrapped, and
    overflow events (:class:`fxsim.ops.AccStats`); :meth:`take_accumulator_stats` hands them
    out per epoch."""

    input_grad = True
    weight: Param
    geometry: dict
    ops_names: tuple[str, str, str]  # the fxsim.ops names of forward, backward_input, _weight

    def bind(self, binder: Binder) -> None:
        super().bind(binder)
        name = self.name
        self.weight = binder.master(name, "weight", self.init_weight(binder.rng(name)),
                                    self.kind)
        self.q_weights = binder.quantizers_for(name, "weights", self.kind, per_group=False)
        self.q_out = binder.quantizers_for(name, "activations", self.kind)
        self.q_grad = binder.quantizers_for(name, "act_grads", self.kind, histogram=True)
        self.q_wgrad = binder.quantizers_for(name, "weight_grads", self.kind,
                                               per_group=False)
        self.acc = None
        self._acc_counts: dict[str, list[int]] | None = None
        if binder.quantized:
            spec = binder.spec(name, "accumulator", self.kind)
            self.acc = ops.Accumulator(spec.bits, spec.overflow)
            if spec.bits is not None:
                self._acc_counts = {phase: [0, 0, 0] for phase in PHASES}

    @property
    def takes_deferred_grads(self) -> bool:
        return getattr(self, "q_grad", None) is not None

    def params(self) -> list[Param]:
        return [self.weight]

    def init_weight(self, rng: np.random.Generator) -> np.ndarray:
        """He (Kaiming) normal initialisation, fan-in mode: std = sqrt(2 / fan_in)."""
        shape = self.weight_shape
        fan_in = math.prod(shape[1:])
        return rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)

    def quantized_weight(self, ctx: Context):
        """The weight codes of this step (float master values under ``fp``)."""
        if self.q_weights is None:
            return self.weight.master
        return self.q_weights(self.weight.master, ctx, 0)

    def _rounding(self, ctx: Context, part: int) -> OutputRounding | None:
        """The output quantizer's likely conversion of ``part``'s accumulators, for the
        product's output pass (:mod:`fxsim.numeric.fused`; it changes no result)."""
        if self.q_out is None:
            return None
        return self.q_out.pick(ctx, part).output_rounding(ctx.training)

    # the three products; subclasses bind them to fxsim.ops
    def product(self, x, w, rounding: OutputRounding | None = None):
        """The forward product; ``rounding``: a requantization hint (ignored by default)."""
        raise NotImplementedError

    def product_input(self, g, w, x_shape):
        raise NotImplementedError

    def product_weight(self, x, g):
        raise NotImplementedError

    def preload(self, acc, ctx: Context, part: int):
        """The forward accumulator with what the layer adds before requantizing (Linear's
        bias); unchanged by default."""
        return acc

    def _counted(self, phase: str, acc, a, b, ctx: Context, part: int):
        """``acc``, the result of the ``phase`` product of ``a`` and ``b``, after adding its
        overflow counts (training passes) and reporting it to an active trace."""
        stats = getattr(acc, "stats", None)
        if self._acc_counts is not None and ctx.training and stats is not None:
            counts = self._acc_counts[phase]
            counts[0] += stats.size
            counts[1] += stats.overflowed
            counts[2] += stats.events
        if tracing.RECORDER is None:
            return acc
        rec = tracing.recorder_for("mac", self.name, "accumulator", ctx.step, ctx.training)
        if rec is not None and isinstance(acc, FxArray):
            rec.add(tracing.TraceEvent(
                "mac", self.name, "accumulator", phase, ctx.step, ctx.training, part,
                ctx.part_groups[part],
                {"op": self.ops_names[PHASES.index(phase)],
                 "geometry": {k: list(v) if isinstance(v, tuple) else v
                              for k, v in getattr(self, "geometry", {}).items()},
                 "acc_bits": self.acc.bits, "acc_overflow": self.acc.overflow,
                 "saturated": stats.saturated, "wrapped": stats.wrapped,
                 "events": stats.events},
                {"a": tracing.codes(a), "b": tracing.codes(b), "acc": tracing.codes(acc)}))
        return acc

    def take_accumulator_stats(self) -> dict[str, tuple[int, int, int]]:
        """Per phase this epoch: (sums, sums that saturated or wrapped, overflow events);
        then reset. Empty for a wide accumulator (it never overflows)."""
        if self._acc_counts is None:
            return {}
        taken = {phase: tuple(c) for phase, c in self._acc_counts.items()
                 if phase != "backward_input" or self.input_grad}
        self._acc_counts = {phase: [0, 0, 0] for phase in PHASES}
        return taken

    def forward(self, xs, ctx):
        w = self.quantized_weight(ctx)
        accs = [self.preload(self._counted("forward", self.product(x, w, self._rounding(ctx, p)),
                                           x, w, ctx, p), ctx, p)
                for p, x in enumerate(xs)]
        outs = apply(self.q_out, accs, ctx)
        if ctx.training:
            self._saved = (xs, w)
        return outs

    def backward(self, grads, ctx):
        xs, w = self._saved
        del self._saved
        gs = apply(self.q_grad, ste(self.q_out, grads, ctx), ctx)
        wgrad = arith.total([self._counted("backward_weight", self.product_weight(x, g), x, g,
                                           ctx, p)
                             for p, (x, g) in enumerate(zip(xs, gs, strict=True))])
        self.weight.grad = wgrad if self.q_wgrad is None else self.q_wgrad(wgrad, ctx, 0)
        self.backward_extra(gs, ctx)
        if not self.input_grad:
            return None
        return [self._counted("backward_input", self.product_input(g, w, x.shape), g, w, ctx, p)
                for p, (x, g) in enumerate(zip(xs, gs, strict=True))]

    def backward_extra(self, gs, ctx) -> None:
        """Gradients of further parameters (Linear's bias)."""


class Conv2d(MacLayer):
    """2-D convolution, NCHW, weights ``(out, in / groups, kh, kw)``, no bias (a batch norm
    follows in the reference nets)."""

    op = "conv2d"
    ops_names = ("conv2d", "conv2d_backward_input", "conv2d_backward_weight")

    def __init__(self, name: str, in_channels: int, out_channels: int, kernel=3, stride=1,
                 padding=0, dilation=1, groups: int = 1) -> None:
        self.name = name
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        kh, kw = as_pair("kernel", kernel, 1)
        self.weight_shape = (out_channels, in_channels // groups, kh, kw)
        self.geometry = {"stride": as_pair("stride", stride, 1),
                         "padding": as_pair("padding", padding, 0),
                         "dilation": as_pair("dilation", dilation, 1), "groups": groups}
        LayerShape(name, "conv2d", in_channels, out_channels, groups=groups)  # validates groups

    def product(self, x, w, rounding=None):
        return ops.conv2d(x, w, acc=self.acc, output_rounding=rounding, **self.geometry)

    def product_input(self, g, w, x_shape):
        return ops.conv2d_backward_input(g, w, x_shape, acc=self.acc, **self.geometry)

    def product_weight(self, x, g):
        return ops.conv2d_backward_weight(x, g, self.weight_shape, acc=self.acc, **self.geometry)

    def shapes(self, in_shape):
        c, h, w = in_shape
        if c != self.in_channels:
            raise ValueError(f"layer {self.name!r}: expects {self.in_channels} input channels, "
                             f"the net gives {c}")
        g = self.geometry
        shape = LayerShape(self.name, "conv2d", c, self.out_channels, self.weight_shape[2:],
                           g["stride"], g["padding"], g["dilation"], self.groups, (h, w))
        out_hw = shape.out_hw
        if min(out_hw) < 1:
            raise ValueError(f"layer {self.name!r}: input {h}x{w} is too small for its kernel")
        return [shape], (self.out_channels, *out_hw)


class Linear(MacLayer):
    """Fully connected layer ``y = x @ W.T + b``, ``W`` of shape ``(out, in)``. The bias is
    added to the exact accumulator at the accumulator's scale (its master value requantized
    there, nearest_even), as a bias preloaded into the accumulator; its gradient is the exact
    sum of the gradient codes over the batch, quantized by the ``weight_grads`` quantizer."""

    op = "linear"
    ops_names = ("linear", "linear_backward_input", "linear_backward_weight")

    def __init__(self, name: str, in_features: int, out_features: int, bias: bool = True) -> None:
        self.name = name
        self.in_features, self.out_features = in_features, out_features
        self.weight_shape = (out_features, in_features)
        self.has_bias = bias

    def bind(self, binder: Binder) -> None:
        super().bind(binder)
        self.bias = None
        if self.has_bias:
            self.bias = binder.master(self.name, "bias", np.zeros(self.out_features), self.kind,
                                      decay=False)
            self.q_bgrad = binder.quantizers_for(self.name, "weight_grads", self.kind,
                                                 per_group=False, label="bias_grads")

    def params(self) -> list[Param]:
        return [self.weight] + ([self.bias] if self.bias is not None else [])

    def product(self, x, w, rounding=None):  # ops.linear takes no output_rounding
        return ops.linear(x, w, acc=self.acc)

    def preload(self, acc, ctx, part):
        if self.bias is None:
            return acc
        out, codes = _add_bias(acc, self.bias.master)
        if tracing.RECORDER is None:
            return out
        rec = tracing.recorder_for("bias", self.name, "bias", ctx.step, ctx.training)
        if rec is not None and codes is not None:
            rec.add(tracing.TraceEvent(
                "bias", self.name, "bias", "forward", ctx.step, ctx.training, part,
                ctx.part_groups[part], {"rounding": "nearest_even"},
                {"acc": tracing.codes(acc), "bias": tracing.codes(codes),
                 "out": tracing.codes(out)}))
        return out

    def product_input(self, g, w, x_shape):
        return ops.linear_backward_input(g, w, acc=self.acc)

    def product_weight(self, x, g):
        return ops.linear_backward_weight(x, g, acc=self.acc)

    def backward_extra(self, gs, ctx) -> None:
        if self.bias is None:
            return
        sums = arith.total([_batch_sum(g) for g in gs])
        self.bias.grad = sums if self.q_bgrad is None else self.q_bgrad(sums, ctx, 0)

    def shapes(self, in_shape):
        if math.prod(in_shape) != self.in_features:
            raise ValueError(f"layer {self.name!r}: expects {self.in_features} inputs, the net "
                             f"gives {in_shape}")
        return [LayerShape(self.name, "linear", self.in_features, self.out_features)], (
            self.out_features,)


def _add_bias(acc, bias):
    """``(acc + bias, bias codes)``: the accumulator plus the bias at the accumulator's scale
    (the master requantized there, nearest_even; then an exact integer add). Floats under
    ``fp``: ``(acc + bias, None)``."""
    if not isinstance(acc, FxArray):
        return acc + np.asarray(bias, dtype=np.float64), None
    fmt = QFormat(min(62, acc.fmt.bits + 1), acc.fmt.frac)
    if isinstance(bias, FxArray):
        codes = requantize(bias, fmt, "nearest_even", step=acc.step)
    else:
        codes = quantize(np.asarray(bias, dtype=np.float64), fmt, step=acc.step)
    out = FxArray(acc.raw + codes.raw.astype(np.int64), fmt, check=False, step=acc.step)
    return out, codes


def _batch_sum(g):
    """Sum of a gradient over the batch axis: exact on codes."""
    if not isinstance(g, FxArray):
        return g.sum(axis=0)
    n = max(1, g.shape[0])
    bits = min(62, g.fmt.bits + (0 if g.fmt.signed else 1) + math.ceil(math.log2(n)) + 1)
    return FxArray(g.raw.astype(np.int64).sum(axis=0), QFormat(bits, g.fmt.frac), check=False,
                   step=g.step)
