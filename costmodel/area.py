"""Area of the accelerator that trains a net under a scheme: the lanes, the units they share,
the global buffer and the weight-update unit.

``area = lanes * mac_lane + shared + buffer + update`` (um^2). Phases and layers run one after
another on the same hardware, so each unit is sized for the widest use among the rows it
serves (operands, accumulator, output and dropped bits, observed widths).

* MAC lane, replicated ``lanes`` times: the lane multiplier ``A x B`` (the operand widths of
  most MACs, or the architecture's ``mac``; wider products run in passes), the accumulator
  adder and register (the widest accumulator), the operand pipeline registers (``A + B``
  bits), the register file (SRAM of ``[rf] bytes``); an fp32 MAC when a phase multiplies
  float32.
* Shared, sized by throughput (``"auto"``: as many as the busiest row needs per cycle, the
  row's elements over its cycles; or the architecture's count): requantizers (one rounding
  unit per mode used and a saturation unit each), rescale multipliers of real steps,
  statistics units per range rule, leap-forward random-bit generators (random bits per
  cycle / bits per generator) for the counter source, the generators of a policy's LFSR
  sources (``random = "lfsr"``: ``lfsr_lanes`` generators of ``lfsr_width`` bits and as many
  registers per lane as the rate needs, :mod:`costmodel.random_bits`), and the float units of
  the float islands (batch norm, loss: ``float_units`` fp32 multiply-adds).
* Buffer: the global buffer's SRAM.
* Update unit, one: the optimizer's multiply-add (``B x const_frac`` into
  ``B + const_frac + 2`` bits; fp32 with a float master), its requantizers to the master
  format and to the weight codes (a rescale multiplier for real-step weights), the weights'
  statistics unit, a generator when it rounds stochastically (the master's LFSR source's
  ``lfsr_lanes`` generators when it has one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from costmodel.random_bits import lfsr_of
from costmodel.units import MULTIPLIER_BITS, Units
from costmodel.workload import Requant, Stats, Work
from fxsim.numeric.rounding import canonical_rounding

DEFAULT_LANES = 168  # the default architecture's 12 x 14 lanes (data/arch/eyeriss.toml)
PARTS = ("mac_lane", "shared", "buffer", "update")


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
        """Area of ``part`` in um^2 (one of :data:`PARTS`); ``mac_lane``: of one lane."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        total = sum(item.count * item.area_um2 for item in self.items if item.part == part)
        return total / self.lanes if part == "mac_lane" else total

    @property
    def array_um2(self) -> float:
        """``lanes * mac_lane`` (um^2): the lanes with their register files."""
        return self.part_um2("mac_lane") * self.lanes

    @property
    def total_um2(self) -> float:
        """``lanes * mac_lane + shared + buffer + update`` (um^2)."""
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
    random: bool = False  # a stochastic rounding unit draws bits from the counter source

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
        k = self.units.random_bits_used(spec.rounding, rounded, spec.bits,
                                        self.units.role_random_bits(spec))
        self.random = self.random or (k > 0 and lfsr_of(spec) is None)
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

    def requantizer(self, part: str, what: str, count: int,
                    rescalers: int | None = None) -> list[AreaItem]:
        """``rescalers`` rescale multipliers (default ``count``), and ``count`` times one
        rounding unit per mode and one saturation unit per overflow mode."""
        u, items = self.units, []
        if self.rescale:
            items.append(AreaItem(part, what, "rescale_real",
                                  f"{self.rescale}x{self.multiplier_bits}",
                                  count if rescalers is None else rescalers,
                                  u.rescale(self.rescale, self.multiplier_bits).area_um2))
        for mode, (out, drop, k) in self.rounding.items():
            widths = f"out {out}, drop {drop}" + (f", k {k}" if k else "")
            items.append(AreaItem(part, what, f"round_{mode}", widths, count,
                                  u.rounder(mode, out + drop, out, k or None).area_um2))
        for mode, (out, high) in self.overflow.items():
            items.append(AreaItem(part, what, f"overflow_{mode}", f"out {out}, high {high}",
                                  count, u.overflow(mode, out + high, out).area_um2))
        return items

    def statistics(self, part: str, counts: dict[str, int] | None = None) -> list[AreaItem]:
        """Statistics units per range rule (``counts[rule]``, default one)."""
        return [AreaItem(part, "statistics", f"stats_{rule}", f"w {width}",
                         (counts or {}).get(rule, 1), self.units.stats(rule, width).area_um2)
                for rule, width in self.stats.items()]


def _count(given: int | str, peak: float) -> int:
    """A shared unit's count: the architecture's, or (``"auto"``) the peak rate rounded up."""
    if given != "auto":
        return int(given)
    return max(1, math.ceil(peak - 1e-9)) if peak > 0 else 0


def scheme_area(works: Sequence[Work], units: Units, arch, pricer, memsys,
                node_requants: Sequence[Requant] = (), node_stats: Sequence[Stats] = (),
                floats: bool = True, multiplier_bits: int = MULTIPLIER_BITS) -> Area:
    """The :class:`Area` of the hardware that runs ``works`` (and the nodes' requantizers and
    statistics) on ``arch`` (see the module docstring); items of zero area are left out."""
    lane, shared, update = (_Design(units, multiplier_bits) for _ in range(3))
    for work in works:
        is_update = work.phase == "update"
        side = update if is_update else shared  # where its requantizers and statistics go
        if is_update:
            update.add_mac(work)
        for r in work.requants:
            side.add_requant(r)
        for s in work.stats:
            side.add_stats(s)
        if not is_update:
            lane.add_mac(work)
    for r in node_requants:
        shared.add_requant(r)
    for s in node_stats:
        shared.add_stats(s)
    peaks = pricer.peaks
    if pricer.lane_mac is not None and lane.mac[0]:
        lane.mac = (*pricer.lane_mac, lane.mac[2])
    a, b, _ = lane.mac
    reg_bits = (a + b if a else 0) + (2 * 32 if lane.fp32_mac else 0)
    items = [*lane.macs("mac_lane", arch.lanes),
             AreaItem("mac_lane", "pipeline registers", "register", f"{reg_bits} bits",
                      arch.lanes, units.tech.register(reg_bits).area_um2),
             AreaItem("mac_lane", "register file", "sram", f"{arch.rf_bytes} B", arch.lanes,
                      memsys.rf_area_um2)]
    requantizers = _count(arch.requantizers, peaks.get("requantizers", 0))
    items += shared.requantizer("shared", "requantizer", requantizers,
                                _count(arch.rescalers, peaks.get("rescalers", 0)))
    items += shared.statistics("shared", {rule: _count(arch.statistics,
                                                       peaks.get(f"stats_{rule}", 0))
                                          for rule in shared.stats})
    generators = _count("auto", peaks.get("generators", 0))
    if generators:
        items.append(_generator_item("shared", generators, units))
    items += lfsr_items(pricer, units)
    if floats:
        items.append(AreaItem("shared", "float unit", "mac_fp32", "float32",
                              arch.float_units, units.mac_fp32().area_um2))
    items.append(AreaItem("buffer", "global buffer", "sram", f"{arch.glb_bytes} B", 1,
                          memsys.glb_area_um2))
    items += [*update.macs("update", 1), *update.requantizer("update", "requantizer", 1),
              *update.statistics("update")]
    if update.random:
        items.append(_generator_item("update", 1, units))
    items += lfsr_items(pricer, units, "update")
    return Area(arch.lanes, tuple(item for item in items if item.area_um2 > 0 and item.count))


def _generator_item(part: str, count: int, units: Units) -> AreaItem:
    """``count`` shared leap-forward random-bit generators in ``part``."""
    return AreaItem(part, "random-bit generator", "rng_leap_forward",
                    f"n {units.generator_bits}", count, units.generator().area_um2)


def lfsr_items(pricer, units: Units, part: str = "shared") -> list[AreaItem]:
    """The generators of the policy's LFSR sources in ``part`` (:mod:`costmodel.random_bits`):
    ``lfsr_lanes x`` registers per lane, each an ``lfsr_width``-bit LFSR with its leap."""
    banks = sorted((b for b in pricer.lfsr_banks().values() if b.part == part),
                   key=lambda b: (b.width, b.lanes, b.k))
    return [AreaItem(part, "LFSR source generator", "lfsr_leap", bank.widths(), bank.registers,
                     bank.generator(units).area_um2) for bank in banks]
