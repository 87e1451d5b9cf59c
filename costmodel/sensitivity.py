"""Which source numbers and assumptions can flip a verdict.

:func:`sensitivity` prices the same schemes on the same design (mapping kept: ``remap=False``)
with one number or assumption changed at a time, over the ranges of :func:`variations`:

* each primitive kind's energy and area x0.5 and x2 (``int_add``, ``int_mult``, the float
  units, SRAM, registers, SRAM cell area), DRAM x2 (Horowitz gives 1.3-2.6 nJ per 64-bit
  access; 1.3 is the default), the wire x0.5 and x4 (the default is a low-swing link);
* each assumption of ``data/assumptions.csv`` at its low and high end;
* the architecture file's assumptions: ``float_units`` 4..64, ``random_bits_per_generator``
  16..64;
* the register calibration off (raw Aladdin flip-flops, about 2.4x heavier);
* ``range_pass = "delayed"`` (no second pass for current-tensor ranges).

A verdict is a policy's energy or area saving against the baseline (its sign) and the order of
two schemes by energy or by area when they are more than 1% apart (closer ones are tied); a row
flags each that the variation changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from costmodel.arch import load_arch
from costmodel.queries import compare
from costmodel.tables import load_assumptions

KIND_RANGES = {
    "int_add": (0.5, 2.0), "int_mult": (0.5, 2.0), "float": (0.5, 2.0),
    "sram_read": (0.5, 2.0), "register": (0.5, 2.0), "sram_cell": (0.5, 2.0),
    "dram_read": (1.0, 2.0), "wire": (0.5, 4.0),
}
FLOAT_KINDS = ("fp_add", "fp_mult")
# the architecture file's assumptions (data/arch/eyeriss.toml marks them), over these ranges
ARCH_RANGES = {"float_units": (4, 64), "random_bits_per_generator": (16, 64)}


def variations() -> list[tuple[str, str, dict]]:
    """``(name, setting, estimate options)`` of every variation (see the module docstring)."""
    out = []
    for kind, (low, high) in KIND_RANGES.items():
        kinds = FLOAT_KINDS if kind == "float" else (kind,)
        for factor in (low, high):
            if factor != 1.0:
                out.append((f"{kind} cost", f"x{factor:g}",
                            {"scales": dict.fromkeys(kinds, factor)}))
    for a in load_assumptions().values():
        for value in (a.low, a.high):
            if a.name == "sr_bits":
                out.append((a.name, f"{value:g} {a.unit}", {"sr_bits": int(value)}))
            else:
                out.append((a.name, f"{value:g} {a.unit}", {"assumptions": {a.name: value}}))
    for key, (low, high) in ARCH_RANGES.items():
        for value in (low, high):
            out.append((key, f"{value:g}", {"arch_change": {key: value}}))
    out.append(("register calibration", "off (raw Aladdin)", {"register_calibration": False}))
    out.append(("range pass", "delayed", {"arch_change": {"range_pass": "delayed"}}))
    return out


TIE = 0.01  # two schemes within 1% of each other are tied: their order is no verdict


def _savings(table: pd.DataFrame) -> tuple[dict, dict]:
    rest = table.iloc[1:]
    return (dict(zip(rest["policy"], rest["energy_saving"], strict=True)),
            dict(zip(rest["policy"], rest["area_saving"], strict=True)))


def _reversed_pairs(nominal: pd.DataFrame, varied: pd.DataFrame, column: str,
                    tie: float) -> list[str]:
    """Pairs of schemes more than ``tie`` apart in ``column`` whose order the variation
    reverses (by more than ``tie`` again), as ``"a < b"`` in the nominal order."""
    v0 = dict(zip(nominal["policy"], nominal[column], strict=True))
    v1 = dict(zip(varied["policy"], varied[column], strict=True))
    names, out = list(v0), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            lo, hi = (a, b) if v0[a] < v0[b] else (b, a)
            if (v0[hi] / v0[lo] - 1 > tie) and (v1[lo] / v1[hi] - 1 > tie):
                out.append(f"{lo} < {hi}")
    return out


def sensitivity(policies: Mapping[str, Any] | Iterable[Any], baseline: Any = None, *,
                net: Any, batch: int | None = None, **options: Any) -> pd.DataFrame:
    """Each variation's savings and whether it flips a verdict (see the module docstring).

    Columns: assumption, setting, policy, energy_saving, area_saving, energy_saving_nominal,
    area_saving_nominal, energy_sign_flips, area_sign_flips, energy_ranking_changes,
    area_ranking_changes, energy_pairs_reversed, area_pairs_reversed (the last four the same
    for every policy of a variation: pairs of schemes, baseline included, more than ``tie``
    (default 1%) apart whose order the variation reverses by more than ``tie``).
    ``options`` go to :func:`costmodel.estimate` (``arch``, ``node_nm``, ...).
    """
    options = dict(options)
    tie = options.pop("tie", TIE)
    nominal = compare(policies, baseline, net=net, batch=batch, **options)
    e0, a0 = _savings(nominal)
    rows = []
    for name, setting, change in variations():
        opts = {**options, "remap": False}
        if "arch_change" in change:
            opts["arch"] = replace(load_arch(options.get("arch")), **change["arch_change"])
        else:
            opts.update(change)
        table = compare(policies, baseline, net=net, batch=batch, **opts)
        e1, a1 = _savings(table)
        energy_pairs = _reversed_pairs(nominal, table, "energy_pj", tie)
        area_pairs = _reversed_pairs(nominal, table, "area_um2", tie)
        for policy in e1:
            rows.append({
                "assumption": name, "setting": setting, "policy": policy,
                "energy_saving": e1[policy], "area_saving": a1[policy],
                "energy_saving_nominal": e0[policy], "area_saving_nominal": a0[policy],
                "energy_sign_flips": (e1[policy] > 0) != (e0[policy] > 0),
                "area_sign_flips": (a1[policy] > 0) != (a0[policy] > 0),
                "energy_ranking_changes": bool(energy_pairs),
                "area_ranking_changes": bool(area_pairs),
                "energy_pairs_reversed": "; ".join(energy_pairs),
                "area_pairs_reversed": "; ".join(area_pairs),
            })
    return pd.DataFrame(rows)


def flips(report: pd.DataFrame) -> pd.DataFrame:
    """The variations of a :func:`sensitivity` report that flip any verdict, one row each:
    assumption, setting, and what flips (saving signs by policy, rankings)."""
    out = []
    for (name, setting), part in report.groupby(["assumption", "setting"], sort=False):
        what = [f"energy saving of {p}" for p in part.loc[part["energy_sign_flips"], "policy"]]
        what += [f"area saving of {p}" for p in part.loc[part["area_sign_flips"], "policy"]]
        first = part.iloc[0]
        if first["energy_ranking_changes"]:
            what.append(f"energy order of {first['energy_pairs_reversed']}")
        if first["area_ranking_changes"]:
            what.append(f"area order of {first['area_pairs_reversed']}")
        if what:
            out.append({"assumption": name, "setting": setting, "flips": ", ".join(what)})
    return pd.DataFrame(out, columns=["assumption", "setting", "flips"])
