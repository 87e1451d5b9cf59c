"""Queries: the energy, cycles and area of a scheme on a net and an architecture, a comparison
of schemes, one MAC, one rounding unit with its random source.

Energy of a step = the sum of its rows (:mod:`costmodel.pricing`): MAC rows (a layer, phase and
class group mapped onto the hierarchy), update rows and rows of the layers without MACs. Area =
``lanes`` x MAC lane + shared units + global buffer + update unit (:mod:`costmodel.area`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from costmodel.arch import Architecture, load_arch
from costmodel.area import Area, scheme_area
from costmodel.dataflow import MacSite, net_nodes, resolve_sites, training_batch
from costmodel.memory import MemorySystem, memory_system
from costmodel.policy import load_policy, read_policy
from costmodel.pricing import (
    COMPONENTS,
    LEVELS,
    Pricer,
    lane_mac,
    node_quantizers,
    producer_widths,
)
from costmodel.scaling import Cost, Technology
from costmodel.tables import PathLike, TablePaths, load_assumptions
from costmodel.units import Units
from costmodel.workload import Work, workload
from fxsim.numeric.formats import MULTIPLIER_BITS, check_int
from fxsim.numeric.shapes import LayerShape

AREA_COLUMNS = ("area_um2", "array_area_um2", "mac_lane_area_um2", "shared_area_um2",
                "buffer_area_um2", "update_area_um2")
FP32_BASELINE = "fp"  # the shipped float baseline, priced as float32 training
Net = str | Sequence[LayerShape] | Sequence[MacSite]


def _technology(node_nm: float, primitives: TablePaths, nodes: PathLike | None,
                scales: Mapping[str, float] | None, register_calibration: bool) -> Technology:
    return Technology(node_nm, primitives=primitives, nodes=nodes, scales=dict(scales or {}),
                      register_calibration=register_calibration)


def _memory(tech: Technology, design: Architecture, unit_costs: Units,
            lane: tuple[int, int] | None, works: list[Work]) -> MemorySystem:
    """The memory system beside a MAC lane of ``lane`` operand widths (the float32 MAC if
    None), at the SRAM array efficiency ``unit_costs`` assumes."""
    lane_logic = (unit_costs.mac(*lane, max(w.acc_bits for w in works)).area_um2
                  if lane else unit_costs.mac_fp32().area_um2)
    return memory_system(tech, design.glb_bytes, design.rf_bytes, design.dram, lane_logic,
                         design.lanes, unit_costs.assumptions["sram_array_efficiency"])


def estimate(net: Net, policy: Any, batch: int | None = None, *, node_nm: float = 45,
             arch: Architecture | PathLike | dict | None = None, memory: str | None = None,
             lfsr_share: int = 1, lanes: int | None = None,
             shares: Mapping[str, float] | None = None, input_grad_first_layer: bool = False,
             multiplier_bits: int = MULTIPLIER_BITS, sr_bits: int | None = None,
             primitives: TablePaths = None, nodes: PathLike | None = None,
             units: PathLike | None = None, assumptions: Mapping[str, float] | None = None,
             scales: Mapping[str, float] | None = None,
             register_calibration: bool = True, remap: bool = True) -> pd.DataFrame:
    """Energy (pJ, by component), bits per memory level and cycles of one training step of
    ``batch`` samples (default: the net's training batch), per layer, phase and group, and
    the area (um^2) of the accelerator that runs it.

    ``net``: a reference net name (``reference_nets.NETS``), a chain of LayerShape or a list of
    :class:`~costmodel.dataflow.MacSite`; ``policy``: a shipped policy name, a TOML path, a
    dict, an :class:`fxsim.policy.Policy` or an object with ``to_dict()`` (validated as
    training validates it); ``arch``: an architecture TOML path, dict or
    :class:`~costmodel.arch.Architecture` (default ``data/arch/eyeriss.toml``); ``lanes``:
    override its lane count; ``memory``: override its DRAM row (any sram_read/dram_read row
    as the backing store); ``shares``: fractions of samples per class group; ``sr_bits``:
    random bits every stochastic rounding unit is priced with (default: a ``stochastic_k``
    policy's own, else 8); ``multiplier_bits``: the real-step rescale multiplier;
    ``primitives``/``nodes``/``units``: your own tables; ``assumptions``: values for
    data/assumptions.csv names; ``scales``: factors per primitive kind (the sensitivity
    report's knobs); ``register_calibration``: calibrate the register bit to the adder table;
    ``remap=False`` keeps the mapping chosen with the default tables and assumptions (the same
    design, re-priced: what the sensitivity report does).
    ``lfsr_share`` is v1's and has no effect (generators are shared by throughput).

    One row per layer, phase and group: kind (mac, update, batchnorm, add, avgpool, maxpool,
    loss, input), macs, a_bits, b_bits, acc_bits, arith, mapping (order, spatial, GLB and RF
    tile factors), passes (of the lane multiplier per MAC), cycles, utilization,
    <level>_bits for dram, glb, network, rf, reg, traffic_bits (= dram_bits),
    energy_<component>_pj, energy_memory_pj (the levels) and energy_pj. ``attrs``: ``area``
    (:class:`~costmodel.area.Area`), ``arch``, ``warnings``, ``batch``, ``lfsr_banks`` (the
    generators of the policy's ``random = "lfsr"`` sources,
    :class:`~costmodel.random_bits.LfsrBank`); :func:`summarize` gives the totals.
    """
    check_int("multiplier_bits", multiplier_bits, 2, 53)
    check_int("lfsr_share", lfsr_share, 1)
    if sr_bits is not None:
        check_int("sr_bits", sr_bits, 1, 62)
    design = load_arch(arch)
    if lanes is not None:
        check_int("lanes", lanes, 1)
        design = design.with_lanes(lanes)
    if memory is not None:
        from dataclasses import replace

        design = replace(design, dram=memory)
    sites = resolve_sites(net)
    batch = training_batch(net) if batch is None else batch
    pol = read_policy(policy, shares)
    tech = _technology(node_nm, primitives, nodes, scales, register_calibration)
    known = load_assumptions()
    unknown = sorted(set(assumptions or {}) - set(known))
    if unknown:
        raise ValueError(f"unknown assumption(s) {', '.join(unknown)}; known: "
                         f"{', '.join(known)}")
    unit_costs = Units(tech, units, dict(assumptions or {}), design.random_bits_per_generator)
    unit_costs.sr_override = sr_bits
    pol.policy.check_net(_policy_places(net, sites))  # the simulator's own check, one path
    works = workload(sites, pol, batch, input_grad_first_layer)
    node_sites = net_nodes(net) if isinstance(net, str) else []
    lane = lane_mac(works, design.mac, unit_costs)
    memsys = _memory(tech, design, unit_costs, lane, works)
    map_costs = None
    if not remap:
        base = _technology(node_nm, primitives, nodes, None, True)
        base_units = Units(base, units, None, design.random_bits_per_generator)
        map_costs = _memory(base, design, base_units, lane, works).costs
    pricer = Pricer(design, unit_costs, memsys.costs, lane, multiplier_bits, map_costs)
    rows = []
    for work in works:
        priced = pricer.update_row(work) if work.phase == "update" else pricer.mac_row(work)
        rows.append({"layer": work.layer, "phase": work.phase, "group": work.group,
                     "share": work.share, "macs": work.macs, "a_bits": work.a_bits,
                     "b_bits": work.b_bits, "acc_bits": work.acc_bits,
                     "arith": "fp32" if work.is_float else "int", **priced})
    widths = producer_widths(node_sites, pol, sites)
    for node in node_sites:
        rows.extend(pricer.node_rows(node, pol, batch, widths))
    pricer.finish()  # the LFSR sources' random bits, their banks sized by the peak rates
    node_requants, node_stats = node_quantizers(node_sites, pol, widths)
    frame = pd.DataFrame([_flat(row) for row in rows])
    area = scheme_area(works, unit_costs, design, pricer, memsys, node_requants, node_stats,
                       floats=bool(node_sites), multiplier_bits=multiplier_bits)
    for message in sorted(pricer.warnings):
        warnings.warn(message, UserWarning, stacklevel=2)
    frame.attrs.update(policy=pol.name, node_nm=float(node_nm), batch=batch, arch=design,
                       memory=design.dram, area=area, warnings=sorted(pricer.warnings),
                       lane_mac=lane, level_costs=memsys.costs,
                       lfsr_banks=tuple(sorted(pricer.lfsr_banks().values(),
                                               key=lambda b: (b.part, b.width, b.lanes, b.k))))
    return frame


def _flat(row: dict) -> dict:
    energy = row.pop("energy")
    out = {**row, "traffic_bits": row.get("dram_bits", 0.0)}
    for k in COMPONENTS:
        out[f"energy_{k}_pj"] = energy[k]
    out["energy_memory_pj"] = sum(energy[k] for k in LEVELS)
    out["energy_pj"] = sum(energy.values())
    return out


def _policy_places(net: Net, sites: Sequence[MacSite]) -> list:
    """The layers of ``net`` as :meth:`fxsim.policy.Policy.check_net` sees them: a reference
    net's from its spec (as training builds it), else the MAC sites and their sources."""
    from fxsim.policy import NetPlace
    from reference_nets.specs import policy_places

    if isinstance(net, str):
        return policy_places(net)
    found = {}
    for site in sites:
        found.setdefault(site.source.name, NetPlace(site.source.name, site.source.kind))
        found.setdefault(site.shape.name, NetPlace(site.shape.name, site.shape.kind))
    return list(found.values())


def summarize(frame: pd.DataFrame) -> dict[str, float]:
    """Totals of an :func:`estimate` frame: energy_pj (per step), energy_per_image_pj,
    traffic_bits (DRAM), macs, cycles, time_s (cycles at the clock), utilization (MAC rows),
    and the area (um^2): area_um2 = array_area_um2 (lanes x mac_lane_area_um2) +
    shared_area_um2 + buffer_area_um2 + update_area_um2."""
    area = frame.attrs.get("area")
    if not isinstance(area, Area):
        raise ValueError("summarize takes the frame costmodel.estimate returns (its "
                         "attrs['area'] holds the area); this frame has none")
    arch = frame.attrs["arch"]
    macs = frame[frame["kind"] == "mac"]
    cycles = float(frame["cycles"].sum())
    busy = float((macs["utilization"] * macs["cycles"]).sum())
    return {
        "energy_pj": float(frame["energy_pj"].sum()),
        "energy_per_image_pj": float(frame["energy_pj"].sum()) / frame.attrs["batch"],
        "area_um2": area.total_um2,
        "array_area_um2": area.array_um2,
        "mac_lane_area_um2": area.part_um2("mac_lane"),
        "shared_area_um2": area.part_um2("shared"),
        "buffer_area_um2": area.part_um2("buffer"),
        "update_area_um2": area.part_um2("update"),
        "traffic_bits": float(frame["traffic_bits"].sum()),
        "macs": float(frame["macs"].sum()),
        "cycles": cycles,
        "time_s": cycles / (arch.clock_mhz * 1e6),
        "utilization": busy / float(macs["cycles"].sum()) if len(macs) else math.nan,
    }


def compare(policies: Mapping[str, Any] | Iterable[Any], baseline: Any = None, *,
            net: Net, batch: int | None = None, shares: Mapping[str, float] | None = None,
            **options: Any) -> pd.DataFrame:
    """Each policy against ``baseline`` (default: the ``fp`` float32 baseline) on ``net``.

    Columns: policy, energy_pj, area_um2 and its parts (:data:`AREA_COLUMNS`), traffic_bits
    (DRAM), cycles, energy_saving
    ``1 - E/E_base``, area_saving ``1 - A/A_base`` (total areas with the same ``lanes``) and
    compression_ratio ``traffic_base / traffic`` (bits moved per step, so class groups count by
    their share of samples). The baseline is the first row.
    ``shares`` go to each policy (the baseline included) that has those groups; a group of no
    policy is an error. ``options`` go to :func:`estimate`.
    """
    base = baseline if baseline is not None else FP32_BASELINE
    items = list(policies.items()) if isinstance(policies, Mapping) else [
        (None, p) for p in policies]
    loaded = [(label, load_policy(p)) for label, p in [(None, base), *items]]
    if shares:
        known = {g for _, p in loaded for g in p.groups}
        unknown = sorted(set(shares) - known)
        if unknown:
            raise ValueError(f"shares given for unknown group(s) {', '.join(unknown)}; the "
                             f"policies' groups: {', '.join(sorted(known)) or 'none'}")
    rows, ref = [], None
    for label, pol in loaded:
        own = {g: v for g, v in (shares or {}).items() if g in pol.groups}
        frame = estimate(net, pol, batch, shares=own or None, **options)
        tot = summarize(frame)
        ref = ref or tot
        if label is None:
            label = frame.attrs["policy"] + (" (baseline)" if len(rows) == 0 else "")
        rows.append({
            "policy": label,
            "energy_pj": tot["energy_pj"], **{c: tot[c] for c in AREA_COLUMNS},
            "traffic_bits": tot["traffic_bits"], "cycles": tot["cycles"],
            "energy_saving": 1 - tot["energy_pj"] / ref["energy_pj"],
            "area_saving": 1 - tot["area_um2"] / ref["area_um2"],
            "compression_ratio": ref["traffic_bits"] / tot["traffic_bits"],
        })
    return pd.DataFrame(rows)


def mac(a_bits: int, b_bits: int, acc_bits: int, node_nm: float = 45, *,
        primitives: TablePaths = None, nodes: PathLike | None = None,
        units: PathLike | None = None) -> Cost:
    """Energy (pJ per MAC) and area (um^2) of an integer ``a_bits x b_bits`` MAC into an
    ``acc_bits`` accumulator at ``node_nm``: multiplier + adder + accumulator register."""
    for label, value in (("a_bits", a_bits), ("b_bits", b_bits), ("acc_bits", acc_bits)):
        check_int(label, value, 1, 62)
    return Units(Technology(node_nm, primitives=primitives, nodes=nodes), units).mac(
        a_bits, b_bits, acc_bits)


def rounding_unit(mode: str, acc_bits: int = 32, out_bits: int = 8, random_bits: int | None = None,
             node_nm: float = 45, *, lfsr_width: int = 32, primitives: TablePaths = None,
             nodes: PathLike | None = None, units: PathLike | None = None) -> pd.DataFrame:
    """One rounding unit taking ``acc_bits`` to ``out_bits`` (a fixed shift by the difference),
    per element, beside ``nearest_even``'s: energy_pj, area_um2 and their ratios to
    nearest_even's (``energy_x``, ``area_x``).

    Rows: ``nearest_even``; ``mode``'s rounding unit alone; for a stochastic ``mode`` also with
    its random bits from the counter source (``random_bits`` for ``stochastic_k``, else the
    assumption ``sr_bits``, each bit a share of a shared leap-forward generator:
    :meth:`~costmodel.units.Units.random_bit`, what ``estimate`` prices for a policy without
    ``random``), and from an LFSR of its own (``random = "lfsr"``, ``lfsr_width`` bits, one
    word a clock: ``lfsr_lanes`` at least the requantizers' rate; leaping the simulated bits,
    62 for ``stochastic``). ``units``: a unit table, ``"synth"`` or ``"textbook"``.
    """
    from fxsim.numeric.lfsr import RandomSource
    from fxsim.numeric.rounding import STOCHASTIC_BITS, canonical_rounding

    for label, value in (("acc_bits", acc_bits), ("out_bits", out_bits)):
        check_int(label, value, 1, 62)
    mode = canonical_rounding(mode)
    u = Units(Technology(node_nm, primitives=primitives, nodes=nodes), units)
    ref = u.rounding("nearest_even", acc_bits, out_bits)
    used = u.random_bits_used(mode, acc_bits, out_bits, random_bits)
    rows = [("nearest_even", ref),
            (f"{mode}: rounding unit alone" + (f" (adds {used} random bits)" if used else ""),
             u.rounder(mode, acc_bits, out_bits, random_bits))]
    if mode in ("stochastic", "stochastic_k"):
        source = RandomSource("lfsr", lfsr_width, 1)
        simulated = STOCHASTIC_BITS if mode == "stochastic" else random_bits
        leap = u.priced_random_bits(simulated)
        source.check_bits(leap)
        rows += [(f"{mode} + {used} random bits of shared {u.generator_bits}-bit leap-forward "
                  "generators (counter source)",
                  u.rounding(mode, acc_bits, out_bits, random_bits)),
                 (f"{mode} + its own {lfsr_width}-bit LFSR leaping "
                  f"{leap} steps an element (random = \"lfsr\")",
                  u.rounding(mode, acc_bits, out_bits, simulated, source=source))]
    return pd.DataFrame([{"unit": name, "energy_pj": c.energy_pj, "area_um2": c.area_um2,
                          "energy_x": c.energy_pj / ref.energy_pj,
                          "area_x": c.area_um2 / ref.area_um2} for name, c in rows])
