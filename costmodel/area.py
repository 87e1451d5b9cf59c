"""Area of the hardware that trains a net under a scheme: ``lanes`` MAC lanes, the units they
share, and one weight-update unit.

``area = lanes * mac_lane + shared + update`` (um^2; memory arrays excluded: the source tables
give no SRAM area). Phases and layers run one after another on the same hardware, so each unit
is sized for the widest use among the rows it serves (operands, accumulator, output and dropped
bits, random bits, observed width).

* MAC lane, replicated ``lanes`` times: an output-stationary array, each lane owns an
  accumulator and requantizes what it produces.

  - MAC: an ``a x b`` multiplier, an accumulator adder and register for the widest forward,
    backward_input and backward_weight product of every layer and group (a multiplier takes its
    operands either way round: ``a`` is the widest larger operand, ``b`` the widest smaller
    one); an fp32 MAC when a phase multiplies float32 (both when both occur).
  - Requantizer of the lane's results (forward outputs to ``o``, weight gradients to ``wg``,
    incoming gradients to ``g`` when a MAC layer's backward_input sends them): one rounding unit
    per rounding mode, one saturation unit. Per lane, because every lane finishes outputs and
    stores them as low-bit codes.
  - The rescale multiplier of a real step, per lane as well: it is the first stage of that same
    per-element requantization (each value times the fixed-point ``M`` before the rounding
    shift); only ``M`` is per tensor, a register (not priced).

* Shared, once per array:

  - statistics units, one per range rule, for the widest tensor it observes: they reduce a
    tensor to a few numbers (min, max, sums) that set a range, so one unit watches the values
    the array writes back;
  - the float-island converter: incoming gradients from batch norm or the loss (float islands,
    priced as 32-bit words) are quantized where the island writes them, not by a MAC lane; one
    rescale multiplier, rounding and saturation unit (and its LFSR);
  - the LFSRs of the lanes' stochastic rounding, one per ``lfsr_share`` lanes, of the most
    random bits a lane uses.

* Update unit, one: the optimizer's multiply-add (``B x const_frac`` into ``B + const_frac + 2``
  bits; fp32 with a float master), its requantizer to the master format and of the master to the
  weight codes (a rescale multiplier for real-step weights), the weights' statistics unit, its
  LFSR.

Throughput is not modelled: a lane finishes one output per reduction (``R`` MACs; 27 to 576 in
resnet20's forward pass), so its requantizer is busy ``1/R`` of the time and a design sharing it
between lanes is smaller (the per-lane requantizers are an upper bound), while a single
statistics unit or converter may have to stall an array writing back more than one value per
cycle (a lower bound). A lane runs every layer at full width: a design that runs the wider first
and last layers in several passes of a narrower multiplier is smaller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from costmodel.units import Units
from costmodel.workload import Requant, Stats, Work
from fxsim.numeric.formats import MULTIPLIER_BITS
from fxsim.numeric.rounding import canonical_rounding

DEFAULT_LANES = 256  # a 16 x 16 MAC array
PARTS = ("mac_lane", "shared", "update")


@dataclass(frozen=True)
class AreaItem:
    """``count`` units in ``part`` (one of :data:`PARTS`), each of ``area_um2``: ``what`` it
    does (MAC, requantizer, float-island converter, statistics, LFSR), ``unit`` names a unit of
    the units table, ``widths`` gives the widths it is sized for, in bits, named as the units
    table names them (``a``x``b`` and ``acc`` of a MAC, ``out``, ``drop``, ``high``, ``k``,
    ``w``)."""

    part: str
    what: str
    unit: str
    widths: str
    count: int
    area_um2: float


@dataclass(frozen=True)
class Area:
    """The area of a scheme's hardware, item by item (see the module docstring)."""

    lanes: int
    items: tuple[AreaItem, ...]

    def part_um2(self, part: str) -> float:
        """Area of ``part`` in um^2; ``mac_lane``: of one lane."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        total = sum(item.count * item.area_um2 for item in self.items if item.part == part)
        return total / self.lanes if part == "mac_lane" else total

    @property
    def total_um2(self) -> float:
        """``lanes * mac_lane + shared + update`` (um^2)."""
        return sum(item.count * item.area_um2 for item in self.items)

    def table(self) -> pd.DataFrame:
        """One row per item: part, what, unit, widths, count, area_um2 (of one), total_um2."""
        columns = ["part", "what", "unit", "widths", "count", "area_um2"]
        frame = pd.DataFrame([[getattr(i, c) for c in columns] for i in self.items],
                             columns=columns)
        frame["total_um2"] = frame["count"] * frame["area_um2"]
        return frame


@dataclass
class _Design:
    """The widest use of each unit by the rows added to it, priced by ``units``."""

    units: Units
    multiplier_bits: int
    mac: tuple[int, int, int] = (0, 0, 0)  # (A, B, acc) of the integer MAC, A >= B; 0: none
    fp32_mac: bool = False
    rescale: int = 0  # widest value a real step multiplies; 0: no real step
    rounding: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # (out, drop, k)
    overflow: dict[str, tuple[int, int]] = field(default_factory=dict)  # (out, high)
    stats: dict[str, int] = field(default_factory=dict)  # rule -> widest observed tensor

    def add_mac(self, work: Work) -> None:
        if work.is_float:
            self.fp32_mac = True
            return
        big, small = max(work.a_bits, work.b_bits), min(work.a_bits, work.b_bits)
        a, b, acc = self.mac
        self.mac = (max(a, big), max(b, small), max(acc, work.acc_bits))

    def add_requant(self, r: Requant) -> None:
        spec, rounded = r.spec, r.rounded_bits(self.multiplier_bits)
        if r.real:
            self.rescale = max(self.rescale, r.in_bits)
        k = self.units.random_bits_used(spec.rounding, rounded, spec.bits, spec.random_bits)
        mode = "stochastic_k" if k else canonical_rounding(spec.rounding)
        out, drop, bits = self.rounding.get(mode, (0, 0, 0))
        self.rounding[mode] = (max(out, spec.bits), max(drop, rounded - spec.bits),
                               max(bits, k))
        out, high = self.overflow.get(spec.overflow, (0, 0))
        self.overflow[spec.overflow] = (max(out, spec.bits), max(high, r.in_bits - spec.bits))

    def add_stats(self, s: Stats) -> None:
        self.stats[s.rule] = max(self.stats.get(s.rule, 0), s.width)

    def macs(self, part: str, count: int) -> list[AreaItem]:
        """The integer and fp32 MACs."""
        u, items = self.units, []
        a, b, acc = self.mac
        if a:
            items.append(AreaItem(part, "MAC", "mac", f"{a}x{b}, acc {acc}", count,
                                  u.mac(a, b, acc).area_um2))
        if self.fp32_mac:
            items.append(AreaItem(part, "MAC", "mac_fp32", "float32", count,
                                  u.mac_fp32().area_um2))
        return items

    def requantizer(self, part: str, what: str, count: int) -> list[AreaItem]:
        """The rescale multiplier, one rounding unit per mode, one saturation unit per
        overflow mode."""
        u, items = self.units, []
        if self.rescale:
            items.append(AreaItem(part, what, "rescale_real",
                                  f"{self.rescale}x{self.multiplier_bits}", count,
                                  u.rescale(self.rescale, self.multiplier_bits).area_um2))
        for mode, (out, drop, k) in self.rounding.items():
            widths = f"out {out}, drop {drop}" + (f", k {k}" if k else "")
            items.append(AreaItem(part, what, f"round_{mode}", widths, count,
                                  u.rounder(mode, out + drop, out, k or None).area_um2))
        for mode, (out, high) in self.overflow.items():
            items.append(AreaItem(part, what, f"overflow_{mode}", f"out {out}, high {high}",
                                  count, u.overflow(mode, out + high, out).area_um2))
        return items

    def statistics(self, part: str) -> list[AreaItem]:
        """One statistics unit per range rule."""
        return [AreaItem(part, "statistics", f"stats_{rule}", f"w {width}", 1,
                         self.units.stats(rule, width).area_um2)
                for rule, width in self.stats.items()]

    def lfsrs(self, part: str, count: int) -> list[AreaItem]:
        """``count`` LFSRs of the most random bits a stochastic rounding unit uses."""
        k = self.rounding.get("stochastic_k", (0, 0, 0))[2]
        return [AreaItem(part, "LFSR", "lfsr", f"k {k}", count, self.units.lfsr(k).area_um2)
                ] if k else []


def scheme_area(works: Sequence[Work], units: Units, lanes: int = DEFAULT_LANES,
                lfsr_share: int = 1, multiplier_bits: int = MULTIPLIER_BITS) -> Area:
    """The :class:`Area` of the hardware that runs the workload ``works`` (see the module
    docstring); ``lfsr_share`` lanes share one LFSR; items of zero area are left out."""
    lane, island, update = (_Design(units, multiplier_bits) for _ in range(3))
    for work in works:
        if work.phase == "update":
            update.add_mac(work)
            for r in work.requants:
                update.add_requant(r)
            for s in work.stats:
                update.add_stats(s)
            continue
        lane.add_mac(work)
        for r in work.requants:
            (island if r.island else lane).add_requant(r)
        for s in work.stats:
            lane.add_stats(s)
    items = [*lane.macs("mac_lane", lanes), *lane.requantizer("mac_lane", "requantizer", lanes),
             *lane.statistics("shared"), *lane.lfsrs("shared", math.ceil(lanes / lfsr_share)),
             *island.requantizer("shared", "float-island converter", 1),
             *island.lfsrs("shared", 1),
             *update.macs("update", 1), *update.requantizer("update", "requantizer", 1),
             *update.statistics("update"), *update.lfsrs("update", 1)]
    return Area(lanes, tuple(item for item in items if item.area_um2 > 0))
