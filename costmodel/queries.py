"""Queries: the energy and area of a scheme on a net, a comparison of schemes, one MAC.

Energy of a row = MACs x MAC energy + traffic bits x memory energy per bit + requantized
elements x (rescale, for real steps + rounding + saturation unit energy) + observed elements x
statistics unit energy. Area of a row = the area of one lane that runs it: MAC + rescale +
rounding + saturation + statistics units (memory arrays are not in the area: the source tables
give none). A scheme's area is the largest lane over its rows (one lane design that runs every
layer and phase). What the rows hold: :mod:`costmodel.workload`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from costmodel.dataflow import MacSite, resolve_sites
from costmodel.policy import load_policy, read_policy
from costmodel.scaling import Cost, Technology
from costmodel.tables import PathLike, TablePaths
from costmodel.units import Units
from costmodel.workload import Work, workload
from fxsim.formats import check_int
from fxsim.quantize import MULTIPLIER_BITS
from fxsim.shapes import LayerShape

ENERGY_COMPONENTS = ("mac", "memory", "rescale", "rounding", "saturation", "stats")
FP32_BASELINE = "fp"  # the shipped float baseline, priced as float32 training
Net = str | Sequence[LayerShape] | Sequence[MacSite]


def _row_costs(work: Work, units: Units, memory_pj_per_bit: float, lfsr_share: int,
               multiplier_bits: int) -> dict:
    mac = units.mac_fp32() if work.is_float else units.mac(work.a_bits, work.b_bits,
                                                           work.acc_bits)
    energy = dict.fromkeys(ENERGY_COMPONENTS, 0.0)
    energy["mac"] = work.macs * mac.energy_pj
    energy["memory"] = work.traffic_bits * memory_pj_per_bit
    area = mac.area_um2
    for r in work.requants:
        spec, rounded_from = r.spec, r.in_bits
        if r.real:
            rescale = units.rescale(r.in_bits, multiplier_bits)
            energy["rescale"] += r.elements * rescale.energy_pj
            area += rescale.area_um2
            rounded_from += multiplier_bits
        rnd = units.rounding(spec.rounding, rounded_from, spec.bits, spec.random_bits,
                             lfsr_share)
        sat = units.overflow(spec.overflow, r.in_bits, spec.bits)
        energy["rounding"] += r.elements * rnd.energy_pj
        energy["saturation"] += r.elements * sat.energy_pj
        area += rnd.area_um2 + sat.area_um2
    for s in work.stats:
        unit = units.stats(s.rule, s.width)
        energy["stats"] += s.elements * unit.energy_pj
        area += unit.area_um2
    row = {f"energy_{k}_pj": v for k, v in energy.items()}
    row["energy_pj"] = sum(energy.values())
    row["area_um2"] = area
    return row


def estimate(net: Net, policy: Any, batch: int = 1, *, node_nm: float = 45,
             memory: str = "sram_32KB", lfsr_share: int = 1,
             shares: Mapping[str, float] | None = None, input_grad_first_layer: bool = False,
             multiplier_bits: int = MULTIPLIER_BITS, primitives: TablePaths = None,
             nodes: PathLike | None = None, units: PathLike | None = None) -> pd.DataFrame:
    """Energy (pJ, by component) and lane area (um^2) of one training step of ``batch`` samples.

    ``net``: a reference net name (``reference_nets.NETS``), a chain of LayerShape or a list of
    :class:`~costmodel.dataflow.MacSite`; ``policy``: a shipped policy name, a TOML path, a
    dict, an :class:`fxsim.policy.Policy` or an object with ``to_dict()``; ``shares``:
    fractions of samples per class group (override the groups' ``share``; a measured one:
    :func:`costmodel.shares_from_run`); ``memory``: the table row pricing memory traffic
    (``sram_8KB``, ``sram_32KB``, ``sram_1MB``, ``dram``); ``lfsr_share``: lanes sharing one LFSR;
    ``input_grad_first_layer``: also price the first layer's backward_input (the simulator
    skips it); ``multiplier_bits``: width of the fixed-point multiplier of real-step rescales
    (fxsim's, by default); ``primitives``/``nodes``/``units``: your own table files.
    One row per layer, phase and group, with macs, operand and accumulator widths (bits),
    traffic_bits, energy_<component>_pj, energy_pj and area_um2.
    """
    check_int("multiplier_bits", multiplier_bits, 2, 53)
    pol = read_policy(policy, shares)
    tech = Technology(node_nm, primitives=primitives, nodes=nodes)
    unit_costs = Units(tech, units)
    per_bit = tech.memory_per_bit(memory)
    rows = []
    for work in workload(resolve_sites(net), pol, batch, input_grad_first_layer):
        rows.append({
            "layer": work.layer, "phase": work.phase, "group": work.group,
            "share": work.share, "macs": work.macs, "a_bits": work.a_bits,
            "b_bits": work.b_bits, "acc_bits": work.acc_bits,
            "arith": "fp32" if work.is_float else "int", "traffic_bits": work.traffic_bits,
            **_row_costs(work, unit_costs, per_bit, lfsr_share, multiplier_bits),
        })
    frame = pd.DataFrame(rows)
    frame.attrs.update(policy=pol.name, node_nm=float(node_nm), memory=memory, batch=batch)
    return frame


def summarize(frame: pd.DataFrame) -> dict[str, float]:
    """Totals of an :func:`estimate` frame: energy_pj, traffic_bits, macs, and the area (um^2)
    of the largest lane."""
    return {
        "energy_pj": float(frame["energy_pj"].sum()),
        "area_um2": float(frame["area_um2"].max()),
        "traffic_bits": float(frame["traffic_bits"].sum()),
        "macs": float(frame["macs"].sum()),
    }


def compare(policies: Mapping[str, Any] | Iterable[Any], baseline: Any = None, *,
            net: Net, batch: int = 1, shares: Mapping[str, float] | None = None,
            **options: Any) -> pd.DataFrame:
    """Each policy against ``baseline`` (default: the ``fp`` float32 baseline) on ``net``.

    Columns: policy, energy_pj, area_um2, traffic_bits, energy_saving ``1 - E/E_base``,
    area_saving ``1 - A/A_base`` and compression_ratio ``traffic_base / traffic`` (bits moved per
    step, so class groups count by their share of samples). The baseline is the first row.
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
    sites = resolve_sites(net)
    rows, ref = [], None
    for label, pol in loaded:
        own = {g: v for g, v in (shares or {}).items() if g in pol.groups}
        frame = estimate(sites, pol, batch, shares=own or None, **options)
        tot = summarize(frame)
        ref = ref or tot
        if label is None:
            label = frame.attrs["policy"] + (" (baseline)" if len(rows) == 0 else "")
        rows.append({
            "policy": label,
            "energy_pj": tot["energy_pj"], "area_um2": tot["area_um2"],
            "traffic_bits": tot["traffic_bits"],
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
