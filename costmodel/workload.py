"""Workload of one training step: per MAC layer, phase and class group, what the hardware does,
following the simulator's dataflow (:mod:`fxsim.layers.mac`, :mod:`fxsim.training.optim`).

Notation for a MAC layer: ``M`` forward MACs per sample
(:attr:`fxsim.numeric.shapes.LayerShape.macs`),
``In``/``Out`` input/output elements per sample, ``W`` weights; a group of share ``s`` runs
``n = batch * s`` samples. Roles are resolved by the policy at the layer (its kind, aliases and
name) for the group, except ``x``: the ``activations`` role of the layer that produced the
input (its :class:`~costmodel.dataflow.MacSite` source). ``o`` is this layer's own
``activations`` (its output), ``g`` its ``act_grads``, ``w`` ``weights``, ``wg``
``weight_grads``.

=================  ==========  ====================================================================
phase              MACs        requantized (and observed by the role's range rule)
=================  ==========  ====================================================================
forward            n M, x x w  ``n Out`` accumulators to ``o``
backward_input     n M, g x w  nothing: the exact result goes on to the layer below, which
                               quantizes it as its incoming gradient
backward_weight    n M, x x g  ``n Out`` incoming gradients to ``g`` (both backward products read
                               them); ``s W`` weight-gradient accumulators to ``wg`` (the sum over
                               groups is quantized once; it is split here by share)
update             3 W         ``2 W`` to the master format (``v`` and ``w``), ``W`` master
                               weights to ``w`` (the weights quantizer of the next forward)
=================  ==========  ====================================================================

The update is :mod:`fxsim.training.optim`'s SGD with momentum and weight decay, once per step with
the default group's formats: three multiply-adds per weight (``momentum * v``, ``decay * w``,
``lr * v``) of a ``B``-bit master by a ``const_frac``-bit constant into a ``B + const_frac + 2``
bit sum, or float32 with ``master = { float = true }``.

Widths. An accumulator without ``bits`` is wide: ``a + b + ceil(log2(terms))``, ``terms`` the
reduction of the phase (forward ``Cin/groups*kh*kw``, backward_input ``Cout/groups*kh*kw``,
backward_weight ``batch*Hout*Wout``). The incoming gradient a layer quantizes is the
backward_input accumulator of the MAC layer that reads its output (``grad_from``) or, from a
float island (batch norm, the loss), a 32-bit word. Under ``quantize = false`` (the ``fp``
policy) everything is float32: fp32 MACs, 32-bit traffic, no requantization.

Memory traffic counts what each phase reads and writes, once per step (perfect on-chip reuse, a
lower bound): forward ``n In x + s W w + n Out o``; backward_input ``n Out g + s W w + n In acc``
(the unquantized result at the accumulator's width); backward_weight ``n In x + n Out g +
s W wg``; update ``W (4 B + wg + w)`` (read and write master and momentum, read the gradient,
write the weight codes).

Not priced: layers without MACs (batch norm and the loss, float islands; residual adds; pooling)
with their own quantizers, the linear layers' bias, the straight-through masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from costmodel.dataflow import MacSite
from costmodel.policy import CostPolicy, real_scale
from fxsim.numeric.formats import check_int
from fxsim.numeric.shapes import LayerShape
from fxsim.policy import DEFAULT_GROUP, RoleSpec

PHASES = ("forward", "backward_input", "backward_weight", "update")
FLOAT_BITS = 32  # float32: the fp baseline, float masters, values from float islands
UPDATE_PRODUCTS = 3  # momentum * v, weight_decay * w, lr * v per weight and step
UPDATE_GUARD_BITS = 2  # carries of the three-term sum v_acc = m*v + g + wd*w


@dataclass(frozen=True)
class Requant:
    """``elements`` values of ``in_bits`` bits moved to ``spec``'s format with its rounding and
    overflow; ``real`` says the move needs a fixed-point multiplier (a real step); ``island``
    that the values come from a float island (batch norm, the loss), not from a MAC."""

    elements: float
    in_bits: int
    spec: RoleSpec
    real: bool = False
    island: bool = False
    current: bool = False  # the range rule reads the tensor being quantized (all but fixed)
    stored: bool = False  # the unquantized values are already in memory (a float island
    # wrote them: batch norm's backward writes the gradient a MAC layer quantizes)

    def rounded_bits(self, multiplier_bits: int) -> int:
        """Width of what the rounding unit takes: the value, or its product with the
        ``multiplier_bits``-bit fixed-point multiplier of a real step."""
        return self.in_bits + (multiplier_bits if self.real else 0)


@dataclass(frozen=True)
class Stats:
    """``elements`` values of ``width`` bits observed by the statistics unit of ``rule``."""

    elements: float
    rule: str
    width: int


@dataclass(frozen=True)
class Work:
    """One row of the workload: a layer, a phase, a class group."""

    layer: str
    phase: str
    group: str
    share: float
    macs: float
    a_bits: int
    b_bits: int
    acc_bits: int
    is_float: bool
    traffic_bits: float
    requants: tuple[Requant, ...] = field(default=())
    stats: tuple[Stats, ...] = field(default=())
    shape: LayerShape | None = None  # the MAC layer (None for the update)
    samples: float = 0.0  # samples the phase runs (batch * share)
    final_bits: int = 0  # width of the phase's result as it leaves the array


def wide_accumulator(a_bits: int, b_bits: int, terms: int) -> int:
    """Bits of an accumulator that never overflows summing ``terms`` products of signed
    ``a_bits x b_bits`` codes: ``a + b + ceil(log2(terms))``."""
    return a_bits + b_bits + math.ceil(math.log2(max(terms, 1)))


def width(spec: RoleSpec) -> int:
    """Bits of a role's values: its word length, 32 for a float role."""
    return FLOAT_BITS if spec.is_float else spec.bits


def quantized(elements: float, in_bits: int, spec: RoleSpec,
              island: bool = False, stored: bool = False) -> tuple[tuple, tuple]:
    """(requants, stats) of quantizing ``elements`` values of ``in_bits`` bits to ``spec``
    (``island``: values from a float island); nothing for a float role."""
    if spec.is_float:
        return (), ()
    current = spec.range != "fixed"  # every rule but fixed reads the tensor it quantizes
    return ((Requant(elements, in_bits, spec, real_scale(spec), island, current, stored),),
            (Stats(elements, spec.range, in_bits),))


@dataclass(frozen=True)
class Operands:
    """The resolved roles of one MAC layer for one class group (see the module docstring)."""

    x: RoleSpec
    w: RoleSpec
    o: RoleSpec
    g: RoleSpec
    wg: RoleSpec
    acc: RoleSpec

    @classmethod
    def of(cls, site: MacSite, policy: CostPolicy, group: str) -> Operands:
        here = site.place
        return cls(policy.spec(site.source, "activations", group),
                   *(policy.spec(here, role, group) for role in
                     ("weights", "activations", "act_grads", "weight_grads", "accumulator")))

    def acc_bits(self, a: RoleSpec, b: RoleSpec, terms: int) -> int:
        """Accumulator width of an ``a x b`` phase summing ``terms`` products."""
        if a.is_float:
            return FLOAT_BITS
        return self.acc.bits if self.acc.bits is not None else wide_accumulator(
            a.bits, b.bits, terms)

    def backward_input_bits(self, shape: LayerShape) -> int:
        """Accumulator width of the backward_input phase (``g x w``) of layer ``shape``: the
        width of the exact input gradient it sends to the layer below."""
        return self.acc_bits(self.g, self.w, backward_input_terms(shape))


def backward_input_terms(shape: LayerShape) -> int:
    """Terms summed into one backward_input output: ``Cout / groups * kh * kw``."""
    kh, kw = shape.kernel
    return shape.out_channels // shape.groups * kh * kw


def layer_work(site: MacSite, policy: CostPolicy, batch: int,
               incoming: dict[str, int], from_island: bool = True) -> list[Work]:
    """Workload rows of one MAC layer; ``incoming[group]`` is the width of the gradient it
    receives, ``from_island`` whether it comes from a float island (see the module
    docstring)."""
    shape, rows = site.shape, []
    name, count = shape.name, shape.weight_count
    inputs, outputs = shape.input_count, shape.output_count
    hout, wout = shape.out_hw
    for group, share in policy.group_shares().items():
        if share == 0:
            continue
        n = batch * share
        ops = Operands.of(site, policy, group)
        x, w, o, g, wg = ops.x, ops.w, ops.o, ops.g, ops.wg
        weights_read = share * count * width(w)
        phase = _PhaseRow(name, group, share, n * shape.macs, shape, n)
        acc = ops.acc_bits(x, w, shape.reduction)
        rows.append(phase("forward", x, w, acc,
                          n * inputs * width(x) + weights_read + n * outputs * width(o),
                          quantized(n * outputs, acc, o), width(o)))
        if site.input_grad:
            acc = ops.backward_input_bits(shape)
            rows.append(phase("backward_input", g, w, acc,
                              n * outputs * width(g) + weights_read + n * inputs * acc,
                              final=acc))
        acc = ops.acc_bits(x, g, batch * hout * wout)
        rows.append(phase("backward_weight", x, g, acc,
                          n * inputs * width(x) + n * outputs * width(g)
                          + share * count * width(wg),
                          _merge(quantized(n * outputs, incoming[group], g, from_island,
                                           from_island),
                                 quantized(share * count, acc, wg)), width(wg)))
    rows.append(update_work(site, policy))
    return rows


@dataclass(frozen=True)
class _PhaseRow:
    """Builds the :class:`Work` rows of one layer and group: ``macs`` MACs per MAC phase."""

    layer: str
    group: str
    share: float
    macs: float
    shape: LayerShape
    samples: float

    def __call__(self, phase: str, a: RoleSpec, b: RoleSpec, acc: int, traffic: float,
                 done: tuple[tuple, tuple] = ((), ()), final: int = 0) -> Work:
        return Work(self.layer, phase, self.group, self.share, self.macs, width(a), width(b),
                    acc, a.is_float, traffic, *done, shape=self.shape, samples=self.samples,
                    final_bits=final or acc)


def _merge(*parts: tuple[tuple, tuple]) -> tuple[tuple, tuple]:
    return (sum((p[0] for p in parts), ()), sum((p[1] for p in parts), ()))


def update_work(site: MacSite, policy: CostPolicy) -> Work:
    """The update row of one layer (see the module docstring)."""
    here, count = site.place, site.shape.weight_count
    master = policy.spec(here, "master")
    weights = policy.spec(here, "weights")
    wgrads = policy.spec(here, "weight_grads")
    b = width(master)
    traffic = count * (4 * b + width(wgrads) + (0 if weights.is_float else width(weights)))
    requants, stats = quantized(count, b, weights)
    if master.is_float:
        return Work(here.name, "update", DEFAULT_GROUP, 1.0, UPDATE_PRODUCTS * count, b, b, b,
                    True, traffic, requants, stats)
    acc = b + master.const_frac + UPDATE_GUARD_BITS
    requants = (Requant(2 * count, acc, master), *requants)
    return Work(here.name, "update", DEFAULT_GROUP, 1.0, UPDATE_PRODUCTS * count, b,
                master.const_frac, acc, False, traffic, requants, stats)


def workload(sites: Sequence[MacSite], policy: CostPolicy, batch: int,
             input_grad_first_layer: bool = False) -> list[Work]:
    """Workload rows of a net, layer by layer in order. ``input_grad_first_layer=True`` prices
    the first layer's backward_input too (the simulator skips it: no one needs the gradient of
    the input image)."""
    check_int("batch", batch, 1)
    by_name = {site.shape.name: site for site in sites}
    rows: list[Work] = []
    for i, site in enumerate(sites):
        if i == 0 and input_grad_first_layer:
            site = replace(site, input_grad=True)
        sender = by_name.get(site.grad_from) if site.grad_from else None
        from_island = sender is None or not policy.quantize
        incoming = {group: FLOAT_BITS if from_island else
                    Operands.of(sender, policy, group).backward_input_bits(sender.shape)
                    for group in policy.group_shares()}
        rows.extend(layer_work(site, policy, batch, incoming, from_island))
    return rows
