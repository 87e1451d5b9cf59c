"""Workload of one training step: per layer, phase and class group, what the hardware does.

For a layer with ``M`` forward MACs per sample (:attr:`fxsim.shapes.LayerShape.macs`) and ``n``
samples of a group (``batch * share``):

* forward: ``n * M`` MACs of activations x weights; ``n * outputs`` elements requantized to the
  activations format, observed by the activations' range rule;
* backward_input: ``n * M`` MACs of act_grads x weights; ``n * inputs`` elements requantized to
  the act_grads format, observed by the act_grads' rule;
* backward_weight: ``n * M`` MACs of activations x act_grads; ``share * W`` elements requantized
  to the weight_grads format, observed by the weight_grads' rule;
* update: ``2 * W`` multiply-adds at the master width; the master copy requantized twice per
  weight and the weights once, observed by the weights' rule.

(``W`` = weight count; the update, SGD with momentum ``v = m*v + g; w = w - lr*v``, is two
multiply-adds per weight, once per step, priced with the default formats.) A layer's
``activations`` role is the format of the activations it reads and writes. An accumulator without
``bits`` is wide: ``a + b + ceil(log2(terms))`` bits, where ``terms`` is the reduction length of
the phase (forward ``Cin/groups*kh*kw``, backward_input ``Cout/groups*kh*kw``, backward_weight
``batch*Hout*Wout``), so it never overflows.

Memory traffic counts every operand once per step (perfect on-chip reuse, a lower bound): inputs,
outputs and gradients per sample, weights once per step (split between groups by share).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from costmodel.policy import DEFAULT_GROUP, CostPolicy, RoleSpec
from fxsim.shapes import LayerShape

PHASES = ("forward", "backward_input", "backward_weight", "update")


@dataclass(frozen=True)
class Requant:
    """``elements`` values requantized from ``acc_bits`` to ``spec.bits`` with spec's rounding and
    overflow."""

    elements: float
    acc_bits: int
    spec: RoleSpec


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


def wide_accumulator(a_bits: int, b_bits: int, terms: int) -> int:
    """Bits of an accumulator that never overflows summing ``terms`` products of signed
    ``a_bits x b_bits`` codes: ``a + b + ceil(log2(terms))``."""
    return a_bits + b_bits + math.ceil(math.log2(max(terms, 1)))


def _acc(policy: CostPolicy, layer: str, group: str, a: int, b: int, terms: int) -> int:
    spec = policy.role(layer, "accumulator", group)
    if spec.is_float:
        return 32
    return spec.bits if spec.bits is not None else wide_accumulator(a, b, terms)


def layer_work(shape: LayerShape, policy: CostPolicy, batch: int,
               input_grad: bool = True) -> list[Work]:
    """Workload rows of one layer; ``input_grad=False`` drops the backward_input phase (the
    first layer needs no gradient with respect to the input image)."""
    rows: list[Work] = []
    name = shape.name
    kh, kw = shape.kernel
    hout, wout = shape.out_hw
    bw_terms = shape.out_channels // shape.groups * kh * kw
    for group, share in policy.group_shares().items():
        if share == 0:
            continue
        n = batch * share
        role = {r: policy.role(name, r, group) for r in
                ("weights", "activations", "act_grads", "weight_grads")}
        w, a, g, wg = (role[r] for r in ("weights", "activations", "act_grads", "weight_grads"))
        weights_bits = shape.weight_count * w.bits * share

        def work(phase, x, y, terms, traffic, elements, out_spec, _g=group, _s=share, _n=n):
            return _phase_work(policy, name, phase, _g, _s, _n * shape.macs, x, y, terms,
                               traffic, elements, out_spec)

        rows.append(work("forward", a, w, shape.reduction,
                         n * (shape.input_count + shape.output_count) * a.bits + weights_bits,
                         n * shape.output_count, a))
        if input_grad:
            rows.append(work("backward_input", g, w, bw_terms,
                             n * (shape.output_count + shape.input_count) * g.bits + weights_bits,
                             n * shape.input_count, g))
        rows.append(work("backward_weight", a, g, batch * hout * wout,
                         n * (shape.input_count * a.bits + shape.output_count * g.bits)
                         + shape.weight_count * wg.bits * share,
                         shape.weight_count * share, wg))
    rows.append(_update_work(shape, policy))
    return rows


def _phase_work(policy: CostPolicy, layer: str, phase: str, group: str, share: float,
                macs: float, x: RoleSpec, y: RoleSpec, terms: int, traffic: float,
                elements: float, out: RoleSpec) -> Work:
    """One MAC phase: ``x`` and ``y`` operands, ``elements`` results requantized to ``out`` and
    observed (at the accumulator's width) by ``out``'s range rule; nothing of that in float."""
    acc = _acc(policy, layer, group, x.bits, y.bits, terms)
    fl = x.is_float
    req = () if fl else (Requant(elements, acc, out),)
    st = () if fl else (Stats(elements, out.range, acc),)
    return Work(layer, phase, group, share, macs, x.bits, y.bits, acc, fl, traffic, req, st)


def _update_work(shape: LayerShape, policy: CostPolicy) -> Work:
    name, count = shape.name, shape.weight_count
    master = policy.role(name, "master")
    weights = policy.role(name, "weights")
    wgrads = policy.role(name, "weight_grads")
    if master.is_float or weights.is_float:
        traffic = count * (4 * 32 + (32 if wgrads.is_float else wgrads.bits) + (
            32 if weights.is_float else weights.bits))
        requants: tuple[Requant, ...] = ()
        stats: tuple[Stats, ...] = ()
        if not weights.is_float:
            requants = (Requant(count, 32, weights),)
            stats = (Stats(count, weights.range, 32),)
        return Work(name, "update", DEFAULT_GROUP, 1.0, 2 * count, 32, 32, 32, True, traffic,
                    requants, stats)
    m = master.bits
    traffic = count * (4 * m + wgrads.bits + weights.bits)
    requants = (Requant(2 * count, 2 * m, master), Requant(count, m, weights))
    stats = (Stats(count, weights.range, m),)
    return Work(name, "update", DEFAULT_GROUP, 1.0, 2 * count, m, m, m, False, traffic,
                requants, stats)


def workload(shapes: Sequence[LayerShape], policy: CostPolicy, batch: int,
             input_grad_first_layer: bool = True) -> list[Work]:
    """Workload rows of a net, layer by layer in order."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    rows: list[Work] = []
    for i, shape in enumerate(shapes):
        if not isinstance(shape, LayerShape):
            raise TypeError(f"net entry {i} must be a LayerShape, got {type(shape).__name__}")
        rows.extend(layer_work(shape, policy, batch, input_grad=i > 0 or input_grad_first_layer))
    return rows
