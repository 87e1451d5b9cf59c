"""Energy and cycles of every row of a training step on an architecture.

A MAC row (layer, phase, group) is mapped onto the hierarchy (:mod:`costmodel.mapper`) and
priced as: MACs on the lane multiplier (a product wider than the lane runs in
``ceil(a/A) * ceil(b/B)`` passes) + bits at DRAM, GLB, the array network, the RFs and the
operand pipeline registers + its requantizers, rescalers, random bits and statistics units
(shared, per element) + the second pass of a range rule that reads the tensor it quantizes
(``range_pass = "second_pass"``: the unquantized result is written and read back at its own
width, from the GLB when the whole tensor fits there, else through DRAM). An update row is the
weight-update unit and the master weights' DRAM traffic; a node row (batch norm, residual add,
pooling, loss, the input quantizer) its float or integer units per element, its traffic and
its output quantizer.

Cycles: a MAC row takes the mapping's array steps times the passes; a node row its elements
over the float units; with a fixed number of shared units a row also waits for them. The
lanes' utilisation is MACs (times passes) over cycles times lanes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from costmodel.arch import AUTO, Architecture
from costmodel.dataflow import NodeSite
from costmodel.mapper import LevelCosts, map_phase
from costmodel.memory import BITS_PER_BYTE
from costmodel.policy import CostPolicy
from costmodel.problems import phase_problem, phase_widths
from costmodel.random_bits import LfsrBank, bank_key, lfsr_of, simulated_random_bits, size_bank
from costmodel.units import Units
from costmodel.workload import FLOAT_BITS, Requant, Stats, Work, quantized, width
from fxsim.numeric.rounding import canonical_rounding
from fxsim.policy import DEFAULT_GROUP

LEVELS = ("dram", "glb", "network", "rf", "reg")
COMPONENTS = ("mac", "dram", "glb", "network", "rf", "reg", "rescale", "rounding", "rng",
              "saturation", "stats", "float", "elementwise")
ISLAND_KINDS = ("batchnorm", "input")  # layers without MACs whose values are float32


@dataclass
class Pricer:
    """Prices rows on ``arch`` with ``units`` (see the module docstring); collects the
    peak rates that size the shared units and the warnings of the policy."""

    arch: Architecture
    units: Units
    costs: LevelCosts
    lane_mac: tuple[int, int] | None  # (A, B), A >= B; None: no integer MAC
    multiplier_bits: int
    map_costs: LevelCosts | None = None  # per-bit costs the mapper minimises (default: costs)
    peaks: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    warnings: set[str] = field(default_factory=set)
    # (row energy, LFSR bank key, elements) awaiting finish(); the banks seen
    lfsr_draws: list[tuple[dict, tuple, float]] = field(default_factory=list)
    lfsr_keys: set[tuple] = field(default_factory=set)

    @property
    def glb_bits(self) -> float:
        return self.arch.glb_bytes * BITS_PER_BYTE

    # --- pieces --------------------------------------------------------------------------------
    def passes(self, a: int, b: int) -> int:
        if self.lane_mac is None:
            return 1
        big, small = max(a, b), min(a, b)
        return math.ceil(big / self.lane_mac[0]) * math.ceil(small / self.lane_mac[1])

    def mac_pj(self, work: Work) -> float:
        if work.is_float:
            return self.units.mac_fp32().energy_pj
        passes = self.passes(work.a_bits, work.b_bits)
        if passes == 1:
            return self.units.mac(work.a_bits, work.b_bits, work.acc_bits).energy_pj
        a, b = self.lane_mac
        return passes * self.units.mac(a, b, work.acc_bits).energy_pj

    def staging_pj_per_bit(self, tensor_bits: float) -> float:
        """A tensor written and read whole: from the GLB when it fits, else through DRAM."""
        glb = self.costs.glb
        return glb if tensor_bits <= self.glb_bits else self.costs.dram + glb

    def requant_energy(self, requants: tuple[Requant, ...], energy: dict,
                       part: str = "shared") -> None:
        """Adds the requantizers' energy (and their second passes) to ``energy``; the random
        bits of LFSR sources are added by :meth:`finish`. ``part``: ``"shared"`` (the array's
        requantizers) or ``"update"`` (the update unit's)."""
        units = self.units
        for r in requants:
            spec = r.spec
            rounded = r.rounded_bits(self.multiplier_bits)
            if r.real:
                energy["rescale"] += r.elements * units.rescale(
                    r.in_bits, self.multiplier_bits).energy_pj
            mode = canonical_rounding(spec.rounding)
            bits = units.role_random_bits(spec)
            k = units.random_bits_used(mode, rounded, spec.bits, bits)
            if k:
                self._check_random_bits(spec, bits)
            energy["rounding"] += r.elements * units.rounder(
                mode, rounded, spec.bits, bits).energy_pj
            source = lfsr_of(spec)
            if source is None:
                energy["rng"] += r.elements * k * units.random_bit().energy_pj
            elif k:  # priced by finish(), once the bank's rate is known
                self.lfsr_draws.append((energy, bank_key(part, source, bits), r.elements))
            energy["saturation"] += r.elements * units.overflow(
                spec.overflow, r.in_bits, spec.bits).energy_pj
            if r.current and self.arch.range_pass == "second_pass":
                # written whole at its own width, read back to quantize; values a float island
                # already wrote are read back and their codes written
                bits = (FLOAT_BITS if r.island else r.in_bits) * r.elements
                moved = bits + (r.elements * spec.bits if r.stored else bits)
                energy["dram" if bits > self.glb_bits else "glb"] += (
                    moved * self.staging_pj_per_bit(bits))

    def finish(self) -> None:
        """Adds the energy of the LFSR sources' random bits to the rows priced so far, with
        their banks sized by the peak rates (:meth:`lfsr_banks`)."""
        banks = self.lfsr_banks()
        for energy, key, elements in self.lfsr_draws:
            energy["rng"] += elements * banks[key].energy_per_element(self.units)
        self.lfsr_draws.clear()

    def lfsr_banks(self) -> dict[tuple, LfsrBank]:
        """The generator banks of the LFSR sources drawn from, sized by their peak rates (at
        most the architecture's requantizers when it fixes their count; the update unit's
        one element a clock)."""
        keys = {key for _, key, _ in self.lfsr_draws} | set(self.lfsr_keys)
        banks = {}
        for key in keys:
            rate = self.peaks.get(f"lfsr {key}", 0.0) if key[0] == "shared" else 1.0
            if self.arch.requantizers != AUTO:
                rate = min(rate, self.arch.requantizers)
            banks[key] = size_bank(key, rate)
        self.lfsr_keys.update(keys)
        return banks

    def _check_random_bits(self, spec, priced: int) -> None:
        """Warns when the simulator draws more random bits per element than are priced."""
        simulated = simulated_random_bits(spec)
        if simulated <= priced:
            return
        if canonical_rounding(spec.rounding) == "stochastic":
            self.warnings.add(
                f"rounding 'stochastic' ({spec.role}) uses 62 random bits per element in the "
                f"simulator but is priced with {priced} random bits: simulate rounding "
                f"'stochastic_k' with random_bits = {priced} to train with what is priced")
        else:
            self.warnings.add(
                f"{spec.role} rounds with {simulated} random bits in the simulator but is "
                f"priced with {priced} (--sr-bits): simulate stochastic_k with random_bits = "
                f"{priced} to train with what is priced")

    def stats_energy(self, stats: tuple[Stats, ...], energy: dict) -> None:
        for s in stats:
            energy["stats"] += s.elements * self.units.stats(s.rule, s.width).energy_pj

    def _peak(self, key: str, amount: float, cycles: float) -> None:
        if cycles > 0:
            self.peaks[key] = max(self.peaks[key], amount / cycles)

    def _rates(self, requants: tuple[Requant, ...], stats: tuple[Stats, ...],
               cycles: float) -> float:
        """Records what the shared units must do per cycle; returns the cycles a row waits
        for shared units of fixed counts."""
        units, need = self.units, {}
        need["requantizers"] = sum(r.elements for r in requants)
        need["rescalers"] = sum(r.elements for r in requants if r.real)
        counter_bits = 0.0
        for r in requants:
            bits = units.role_random_bits(r.spec)
            k = units.random_bits_used(r.spec.rounding, r.rounded_bits(self.multiplier_bits),
                                       r.spec.bits, bits)
            source = lfsr_of(r.spec)
            if source is None:
                counter_bits += r.elements * k
            elif k:
                key = f"lfsr {bank_key('shared', source, bits)}"
                need[key] = need.get(key, 0.0) + r.elements
        need["generators"] = counter_bits / self.arch.random_bits_per_generator
        for s in stats:
            need[f"stats_{s.rule}"] = need.get(f"stats_{s.rule}", 0.0) + s.elements
        longest = cycles
        for key, amount in need.items():
            self._peak(key, amount, cycles)
            count = {"requantizers": self.arch.requantizers,
                     "rescalers": self.arch.rescalers}.get(
                key, self.arch.statistics if key.startswith("stats_") else AUTO)
            if count != AUTO and amount:
                longest = max(longest, amount / count)
        return longest

    # --- rows ----------------------------------------------------------------------------------
    def mac_row(self, work: Work) -> dict:
        energy = dict.fromkeys(COMPONENTS, 0.0)
        passes = 1 if work.is_float else self.passes(work.a_bits, work.b_bits)
        energy["mac"] = work.macs * self.mac_pj(work)
        samples = max(1, round(work.samples))
        problem, copies = phase_problem(work.shape, work.phase, samples)
        widths = phase_widths(work.phase, work.a_bits, work.b_bits, work.acc_bits,
                              work.final_bits)
        mapped = map_phase(problem, widths, self.map_costs or self.costs, self.arch.rows,
                           self.arch.cols,
                           self.glb_bits, self.arch.rf_bytes * BITS_PER_BYTE)
        scale = copies * work.samples / samples
        bits = {lv: getattr(mapped.bits, lv) * scale for lv in LEVELS}
        for lv in LEVELS:
            energy[lv] += bits[lv] * getattr(self.costs, lv)
        self.requant_energy(work.requants, energy)
        self.stats_energy(work.stats, energy)
        cycles = mapped.steps * passes * scale
        cycles = self._rates(work.requants, work.stats, cycles)
        return {"kind": "mac", "mapping": mapped.describe(), "passes": passes, "cycles": cycles,
                "utilization": work.macs * passes / (cycles * self.arch.lanes),
                **{f"{lv}_bits": bits[lv] for lv in LEVELS}, "energy": energy}

    def update_row(self, work: Work) -> dict:
        energy = dict.fromkeys(COMPONENTS, 0.0)
        energy["mac"] = work.macs * (self.units.mac_fp32().energy_pj if work.is_float else
                                     self.units.mac(work.a_bits, work.b_bits,
                                                    work.acc_bits).energy_pj)
        per_bit = self.staging_pj_per_bit(work.traffic_bits)
        level = "dram" if per_bit > self.costs.glb else "glb"
        bits = dict.fromkeys(LEVELS, 0.0)
        bits[level] = work.traffic_bits
        energy[level] = work.traffic_bits * per_bit
        self.requant_energy(work.requants, energy, "update")
        self.stats_energy(work.stats, energy)
        return {"kind": "update", "mapping": "update unit", "passes": 1, "cycles": work.macs,
                "utilization": 0.0, **{f"{lv}_bits": bits[lv] for lv in LEVELS},
                "energy": energy}

    def node_rows(self, node: NodeSite, policy: CostPolicy, batch: int,
                  producer_bits: dict[str, int]) -> list[dict]:
        """Forward and backward rows of a layer without MACs, per class group."""
        rows = []
        for group, share in policy.group_shares().items():
            if share == 0:
                continue
            n = batch * share
            for phase in ("forward", "backward"):
                row = self._node_phase(node, policy, group, n, phase, producer_bits)
                if row is not None:
                    rows.append({"layer": node.name, "phase": phase, "group": group,
                                 "share": share, **row})
        return rows

    def _node_phase(self, node: NodeSite, policy: CostPolicy, group: str, n: float,
                    phase: str, producer_bits: dict[str, int]) -> dict | None:
        units, energy = self.units, dict.fromkeys(COMPONENTS, 0.0)
        quantize = policy.quantize
        spec = policy.spec(node.place, "activations", group) if node.quantizes else None
        in_bits = _input_bits(node, producer_bits) if quantize else FLOAT_BITS
        out_bits = width(spec) if spec is not None and quantize else FLOAT_BITS
        elems_in, elems_out = n * node.in_elements, n * node.out_elements
        requants, stats = (), ()
        if phase == "forward":
            reads = {"input": 0, "batchnorm": 2, "add": 2, "avgpool": 1, "maxpool": 1,
                     "loss": 1}[node.kind]
            traffic = reads * elems_in * in_bits + elems_out * out_bits
            if node.kind == "input":
                traffic = elems_in * FLOAT_BITS + elems_out * out_bits
            wide = _sum_bits(node, in_bits)
            if node.kind == "batchnorm":
                energy["float"] += elems_in * units.node("bn_forward").energy_pj
            elif node.kind == "loss":
                energy["float"] += elems_in * units.node("loss_per_class").energy_pj
            elif node.kind in ("add", "avgpool", "maxpool"):
                name = {"add": "residual_add", "avgpool": "pool_sum", "maxpool": "pool_max"}[
                    node.kind] if quantize else (
                    "residual_add_fp32" if node.kind == "add" else "pool_fp32")
                energy["elementwise"] += elems_in * units.node(name, wide).energy_pj
            if spec is not None and quantize:
                requants, stats = quantized(elems_out, _node_source_bits(node, producer_bits),
                                            spec, island=node.kind in ISLAND_KINDS)
        else:
            if node.kind == "input":
                return None
            # gradients between layers without MACs are float32 (float islands)
            reads = {"batchnorm": 3, "add": 1, "avgpool": 1, "maxpool": 1, "loss": 1}[node.kind]
            traffic = reads * elems_out * FLOAT_BITS + elems_in * FLOAT_BITS
            if node.kind == "batchnorm":
                energy["float"] += elems_in * units.node("bn_backward").energy_pj
        per_bit = self.staging_pj_per_bit(max(elems_in, elems_out) * FLOAT_BITS)
        level = "dram" if per_bit > self.costs.glb else "glb"
        energy[level] += traffic * per_bit
        self.requant_energy(requants, energy)
        self.stats_energy(stats, energy)
        cycles = max(elems_in, elems_out) / self.arch.float_units
        cycles = self._rates(requants, stats, cycles)
        bits = dict.fromkeys(LEVELS, 0.0)
        bits[level] = traffic
        return {"kind": node.kind, "macs": 0.0, "a_bits": in_bits, "b_bits": 0,
                "acc_bits": 0, "arith": "fp32" if not quantize or node.kind in (
                    "batchnorm", "loss") else "int", "mapping": "float units", "passes": 0,
                "cycles": cycles, "utilization": 0.0,
                **{f"{lv}_bits": bits[lv] for lv in LEVELS}, "energy": energy}


def lane_mac(works: list[Work], given: tuple[int, int] | None,
             units: Units) -> tuple[int, int] | None:
    """The lane multiplier: ``given``, or among the (larger, smaller) operand widths of the
    integer MAC rows the one with the least area x time for the workload: the MAC's area
    times the lane steps (a product wider than the lane takes several passes). None when
    every MAC is float."""
    if given is not None:
        return given
    macs: dict[tuple[int, int], float] = defaultdict(float)
    for w in works:
        if w.phase != "update" and not w.is_float:
            macs[(max(w.a_bits, w.b_bits), min(w.a_bits, w.b_bits))] += w.macs
    if not macs:
        return None
    acc = max(w.acc_bits for w in works if w.phase != "update" and not w.is_float)

    def area_time(lane: tuple[int, int]) -> tuple[float, tuple[int, int]]:
        steps = sum(m * math.ceil(a / lane[0]) * math.ceil(b / lane[1])
                    for (a, b), m in macs.items())
        return steps * units.mac(*lane, acc).area_um2, lane

    return min(macs, key=area_time)


def _input_bits(node: NodeSite, widths: dict[str, int]) -> int:
    """Width of the widest input of a layer without MACs (32 for a float one, and for none)."""
    return max((widths.get(p.name, FLOAT_BITS) for p in node.inputs), default=FLOAT_BITS)


def _sum_bits(node: NodeSite, in_bits: int) -> int:
    """Width of the integer sum of an add (one carry bit) or a pool (log2 of its window)."""
    return in_bits + (1 if node.kind == "add" else math.ceil(math.log2(node.window)))


def _node_source_bits(node: NodeSite, widths: dict[str, int]) -> int:
    """Width a quantizing layer without MACs rounds from, given its producers' ``widths``:
    32-bit island values for batch norm and the input, else the integer sum of its inputs."""
    if node.kind in ISLAND_KINDS:
        return FLOAT_BITS
    return _sum_bits(node, _input_bits(node, widths))


def node_quantizers(nodes: list[NodeSite], policy: CostPolicy, widths: dict[str, int]
                    ) -> tuple[list[Requant], list[Stats]]:
    """One requantization and statistics use per quantizing layer without MACs, at the widths
    it takes (batch norm and the input: 32-bit island values; adds and pools: the integer sum),
    for sizing the shared units (:func:`costmodel.area.scheme_area`)."""
    requants: list[Requant] = []
    stats: list[Stats] = []
    if not policy.quantize:
        return requants, stats
    for node in nodes:
        if not node.quantizes:
            continue
        req, st = quantized(1.0, _node_source_bits(node, widths),
                            policy.spec(node.place, "activations"), node.kind in ISLAND_KINDS)
        requants += req
        stats += st
    return requants, stats


def producer_widths(nodes: list[NodeSite], policy: CostPolicy,
                    sites) -> dict[str, int]:
    """Width of each layer's output (its ``activations`` format; 32 for float)."""
    out = {}
    for site in sites:
        out[site.shape.name] = width(policy.spec(site.place, "activations", DEFAULT_GROUP))
    for node in nodes:
        if node.quantizes:
            out[node.name] = width(policy.spec(node.place, "activations", DEFAULT_GROUP))
        else:
            out[node.name] = max((out.get(p.name, FLOAT_BITS) for p in node.inputs),
                                 default=FLOAT_BITS)
    if not policy.quantize:
        out = dict.fromkeys(out, FLOAT_BITS)
    return out
