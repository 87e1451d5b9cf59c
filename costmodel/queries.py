"""Queries: the energy and area of a scheme on a net, a comparison of schemes, one MAC.

Energy of a row = MACs x MAC energy + traffic bits x memory energy per bit + requantized
elements x (rescale, for real steps + rounding + saturation unit energy) + observed elements x
statistics unit energy. What the rows hold: :mod:`costmodel.workload`. Area of a scheme =
``lanes`` x MAC lane + shared units + update unit, each sized for every row it runs
(:mod:`costmodel.area`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from costmodel.area import DEFAULT_LANES, Area, scheme_area
from costmodel.dataflow import MacSite, resolve_sites
from costmodel.policy import load_policy, read_policy
from costmodel.scaling import Cost, Technology
from costmodel.tables import PathLike, TablePaths
from costmodel.units import Units
from costmodel.workload import Work, workload
from fxsim.numeric.formats import MULTIPLIER_BITS, check_int
from fxsim.numeric.shapes import LayerShape

ENERGY_COMPONENTS = ("mac", "memory", "rescale", "rounding", "saturation", "stats")
AREA_COLUMNS = ("area_um2", "mac_lane_area_um2", "shared_area_um2", "update_area_um2")
FP32_BASELINE = "fp"  # the shipped float baseline, priced as float32 training
Net = str | Sequence[LayerShape] | Sequence[MacSite]


def _row_energy(work: Work, units: Units, memory_pj_per_bit: float, lfsr_share: int,
                multiplier_bits: int) -> dict:
    mac = units.mac_fp32() if work.is_float else units.mac(work.a_bits, work.b_bits,
                                                           work.acc_bits)
    energy = dict.fromkeys(ENERGY_COMPONENTS, 0.0)
    energy["mac"] = work.macs * mac.energy_pj
    energy["memory"] = work.traffic_bits * memory_pj_per_bit
    for r in work.requants:
        spec = r.spec
        if r.real:
            energy["rescale"] += r.elements * units.rescale(r.in_bits,
                                                            multiplier_bits).energy_pj
        rnd = units.rounding(spec.rounding, r.rounded_bits(multiplier_bits), spec.bits,
                             spec.random_bits, lfsr_share)
        sat = units.overflow(spec.overflow, r.in_bits, spec.bits)
        energy["rounding"] += r.elements * rnd.energy_pj
        energy["saturation"] += r.elements * sat.energy_pj
    for s in work.stats:
        energy["stats"] += s.elements * units.stats(s.rule, s.width).energy_pj
    row = {f"energy_{k}_pj": v for k, v in energy.items()}
    row["energy_pj"] = sum(energy.values())
    return row


def estimate(net: Net, policy: Any, batch: int = 1, *, node_nm: float = 45,
             memory: str = "sram_32KB", lfsr_share: int = 1, lanes: int = DEFAULT_LANES,
             shares: Mapping[str, float] | None = None, input_grad_first_layer: bool = False,
             multiplier_bits: int = MULTIPLIER_BITS, primitives: TablePaths = None,
             nodes: PathLike | None = None, units: PathLike | None = None) -> pd.DataFrame:
    """Energy (pJ, by component) of one training step of ``batch`` samples, per layer, phase
    and group, and the area (um^2) of the hardware that runs it.

    ``net``: a reference net name (``reference_nets.NETS``), a chain of LayerShape or a list of
    :class:`~costmodel.dataflow.MacSite`; ``policy``: a shipped policy name, a TOML path, a
    dict, an :class:`fxsim.policy.Policy` or an object with ``to_dict()``; ``shares``:
    fractions of samples per class group (override the groups' ``share``; a measured one:
    :func:`costmodel.shares_from_run`); ``memory``: the table row pricing memory traffic
    (``sram_8KB``, ``sram_32KB``, ``sram_1MB``, ``dram``); ``lfsr_share``: lanes sharing one LFSR;
    ``lanes``: MAC lanes of the array (default 256, 16 x 16); ``input_grad_first_layer``: also
    price the first layer's backward_input (the simulator skips it); ``multiplier_bits``: width
    of the fixed-point multiplier of real-step rescales (fxsim's, by default);
    ``primitives``/``nodes``/``units``: your own table files.
    One row per layer, phase and group, with macs, operand and accumulator widths (bits),
    traffic_bits, energy_<component>_pj and energy_pj. ``attrs["area"]`` is the
    :class:`~costmodel.area.Area` (``lanes x`` MAC lane + shared units + update unit, item by
    item); :func:`summarize` gives the totals.
    """
    check_int("multiplier_bits", multiplier_bits, 2, 53)
    check_int("lanes", lanes, 1)
    check_int("lfsr_share", lfsr_share, 1)
    pol = read_policy(policy, shares)
    tech = Technology(node_nm, primitives=primitives, nodes=nodes)
    unit_costs = Units(tech, units)
    per_bit = tech.memory_per_bit(memory)
    works = workload(resolve_sites(net), pol, batch, input_grad_first_layer)
    rows = []
    for work in works:
        rows.append({
            "layer": work.layer, "phase": work.phase, "group": work.group,
            "share": work.share, "macs": work.macs, "a_bits": work.a_bits,
            "b_bits": work.b_bits, "acc_bits": work.acc_bits,
            "arith": "fp32" if work.is_float else "int", "traffic_bits": work.traffic_bits,
            **_row_energy(work, unit_costs, per_bit, lfsr_share, multiplier_bits),
        })
    frame = pd.DataFrame(rows)
    frame.attrs.update(policy=pol.name, node_nm=float(node_nm), memory=memory, batch=batch,
                       area=scheme_area(works, unit_costs, lanes, lfsr_share, multiplier_bits))
    return frame


def summarize(frame: pd.DataFrame) -> dict[str, float]:
    """Totals of an :func:`estimate` frame: energy_pj, traffic_bits, macs, and the area (um^2):
    area_um2 = lanes x mac_lane_area_um2 + shared_area_um2 + update_area_um2."""
    area = frame.attrs.get("area")
    if not isinstance(area, Area):
        raise ValueError("summarize takes the frame costmodel.estimate returns (its "
                         "attrs['area'] holds the area); this frame has none")
    return {
        "energy_pj": float(frame["energy_pj"].sum()),
        "area_um2": area.total_um2,
        "mac_lane_area_um2": area.part_um2("mac_lane"),
        "shared_area_um2": area.part_um2("shared"),
        "update_area_um2": area.part_um2("update"),
        "traffic_bits": float(frame["traffic_bits"].sum()),
        "macs": float(frame["macs"].sum()),
    }


def compare(policies: Mapping[str, Any] | Iterable[Any], baseline: Any = None, *,
            net: Net, batch: int = 1, shares: Mapping[str, float] | None = None,
            **options: Any) -> pd.DataFrame:
    """Each policy against ``baseline`` (default: the ``fp`` float32 baseline) on ``net``.

    Columns: policy, energy_pj, area_um2 (``lanes x`` MAC lane + shared + update) and its parts
    mac_lane_area_um2 (one lane), shared_area_um2, update_area_um2, traffic_bits, energy_saving
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
            "energy_pj": tot["energy_pj"], **{c: tot[c] for c in AREA_COLUMNS},
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
