"""Queries: the energy and area of a scheme on a net, a comparison of schemes, one MAC.

Energy of a row = MACs x MAC energy + traffic bits x memory energy per bit + requantized
elements x (rounding + saturation unit energy) + observed elements x statistics unit energy.
Area of a row = the area of one lane that runs it: MAC + rounding + saturation + statistics units
(memory arrays are not in the area: the source tables give none). A scheme's area is the largest
lane over its rows (one lane design that runs every layer and phase).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from costmodel.policy import read_policy
from costmodel.scaling import Cost, Technology
from costmodel.tables import PathLike, TablePaths
from costmodel.units import Units
from costmodel.workload import Work, workload
from fxsim.shapes import LayerShape

ENERGY_COMPONENTS = ("mac", "memory", "rounding", "saturation", "stats")
FP32_BASELINE = {"name": "fp32", "quantize": False}


def resolve_net(net: str | Sequence[LayerShape]) -> list[LayerShape]:
    """A list of LayerShape, or the shapes of a reference net named ``net``."""
    if isinstance(net, str):
        try:
            from reference_nets import layer_shapes
        except ImportError:
            raise ValueError(
                f"net {net!r}: reference_nets.layer_shapes is not available in this install; "
                "pass a list of fxsim.shapes.LayerShape instead"
            ) from None
        return list(layer_shapes(net))
    return list(net)


def _row_costs(work: Work, units: Units, memory_pj_per_bit: float, lfsr_share: int) -> dict:
    mac = units.mac_fp32() if work.is_float else units.mac(work.a_bits, work.b_bits,
                                                           work.acc_bits)
    energy = dict.fromkeys(ENERGY_COMPONENTS, 0.0)
    energy["mac"] = work.macs * mac.energy_pj
    energy["memory"] = work.traffic_bits * memory_pj_per_bit
    area = mac.area_um2
    for r in work.requants:
        rnd = units.rounding(r.spec.rounding, r.acc_bits, r.spec.bits, r.spec.random_bits,
                             lfsr_share)
        sat = units.overflow(r.spec.overflow, r.acc_bits, r.spec.bits)
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


def estimate(net: str | Sequence[LayerShape], policy: Any, batch: int = 1, *,
             node_nm: float = 45, memory: str = "sram_32KB", lfsr_share: int = 1,
             shares: Mapping[str, float] | None = None, input_grad_first_layer: bool = True,
             primitives: TablePaths = None, nodes: PathLike | None = None,
             units: PathLike | None = None) -> pd.DataFrame:
    """Energy (pJ, by component) and lane area (um^2) of one training step of ``batch`` samples.

    ``net``: a list of LayerShape or a reference net name; ``policy``: a policy dict, TOML path,
    object with ``to_dict()``; ``memory``: the table row pricing memory traffic (``sram_8KB``,
    ``sram_32KB``, ``sram_1MB``, ``dram``); ``lfsr_share``: lanes sharing one LFSR;
    ``shares``: fractions of samples per class group; ``primitives``/``nodes``/``units``: your
    own table files. One row per layer, phase and group, with macs, operand and accumulator
    widths (bits), traffic_bits, energy_<component>_pj, energy_pj and area_um2.
    """
    pol = read_policy(policy, dict(shares) if shares is not None else None)
    tech = Technology(node_nm, primitives=primitives, nodes=nodes)
    unit_costs = Units(tech, units)
    per_bit = tech.memory_per_bit(memory)
    rows = []
    for work in workload(resolve_net(net), pol, batch, input_grad_first_layer):
        rows.append({
            "layer": work.layer, "phase": work.phase, "group": work.group,
            "share": work.share, "macs": work.macs, "a_bits": work.a_bits,
            "b_bits": work.b_bits, "acc_bits": work.acc_bits,
            "arith": "fp32" if work.is_float else "int", "traffic_bits": work.traffic_bits,
            **_row_costs(work, unit_costs, per_bit, lfsr_share),
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
            net: str | Sequence[LayerShape], batch: int = 1, **options: Any) -> pd.DataFrame:
    """Each policy against ``baseline`` (default: the float32 baseline) on ``net``.

    Columns: policy, energy_pj, area_um2, traffic_bits, energy_saving ``1 - E/E_base``,
    area_saving ``1 - A/A_base`` and compression_ratio ``traffic_base / traffic`` (bits moved per
    step, so class groups count by their share of samples). The baseline is the first row.
    ``options`` go to :func:`estimate`.
    """
    base = baseline if baseline is not None else FP32_BASELINE
    items = list(policies.items()) if isinstance(policies, Mapping) else [
        (None, p) for p in policies]
    shapes = resolve_net(net)
    base_frame = estimate(shapes, base, batch, **options)
    ref = summarize(base_frame)
    rows = []
    for label, pol in [(base_frame.attrs["policy"] + " (baseline)", base), *items]:
        frame = base_frame if pol is base else estimate(shapes, pol, batch, **options)
        tot = summarize(frame)
        rows.append({
            "policy": label if label is not None else frame.attrs["policy"],
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
    from fxsim.formats import check_int

    for label, value in (("a_bits", a_bits), ("b_bits", b_bits), ("acc_bits", acc_bits)):
        check_int(label, value, 1, 62)
    return Units(Technology(node_nm, primitives=primitives, nodes=nodes), units).mac(
        a_bits, b_bits, acc_bits)
