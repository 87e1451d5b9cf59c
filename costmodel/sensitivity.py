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

A verdict is a policy's energy or area saving against the baseline (its sign) and the ranking
of the policies by energy and by area; a row flags each that differs from the nominal one.
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


def _verdicts(table: pd.DataFrame) -> tuple[dict, dict, list, list]:
    rest = table.iloc[1:]
    return (dict(zip(rest["policy"], rest["energy_saving"], strict=True)),
            dict(zip(rest["policy"], rest["area_saving"], strict=True)),
            list(table.sort_values("energy_pj", kind="stable")["policy"]),
            list(table.sort_values("area_um2", kind="stable")["policy"]))


def sensitivity(policies: Mapping[str, Any] | Iterable[Any], baseline: Any = None, *,
                net: Any, batch: int | None = None, **options: Any) -> pd.DataFrame:
    """Each variation's savings and whether it flips a verdict (see the module docstring).

    Columns: assumption, setting, policy, energy_saving, area_saving, energy_saving_nominal,
    area_saving_nominal, energy_sign_flips, area_sign_flips, energy_ranking_changes,
    area_ranking_changes (the last two the same for every policy of a variation).
    ``options`` go to :func:`costmodel.estimate` (``arch``, ``node_nm``, ...).
    """
    options = dict(options)
    nominal = compare(policies, baseline, net=net, batch=batch, **options)
    e0, a0, rank_e0, rank_a0 = _verdicts(nominal)
    rows = []
    for name, setting, change in variations():
        opts = {**options, "remap": False}
        if "arch_change" in change:
            opts["arch"] = replace(load_arch(options.get("arch")), **change["arch_change"])
        else:
            opts.update(change)
        table = compare(policies, baseline, net=net, batch=batch, **opts)
        e1, a1, rank_e1, rank_a1 = _verdicts(table)
        for policy in e1:
            rows.append({
                "assumption": name, "setting": setting, "policy": policy,
                "energy_saving": e1[policy], "area_saving": a1[policy],
                "energy_saving_nominal": e0[policy], "area_saving_nominal": a0[policy],
                "energy_sign_flips": (e1[policy] > 0) != (e0[policy] > 0),
                "area_sign_flips": (a1[policy] > 0) != (a0[policy] > 0),
                "energy_ranking_changes": rank_e1 != rank_e0,
                "area_ranking_changes": rank_a1 != rank_a0,
            })
    return pd.DataFrame(rows)


def flips(report: pd.DataFrame) -> pd.DataFrame:
    """The variations of a :func:`sensitivity` report that flip any verdict, one row each:
    assumption, setting, and what flips (saving signs by policy, rankings)."""
    out = []
    for (name, setting), part in report.groupby(["assumption", "setting"], sort=False):
        what = [f"energy saving of {p}" for p in part.loc[part["energy_sign_flips"], "policy"]]
        what += [f"area saving of {p}" for p in part.loc[part["area_sign_flips"], "policy"]]
        if part["energy_ranking_changes"].any():
            what.append("energy ranking")
        if part["area_ranking_changes"].any():
            what.append("area ranking")
        if what:
            out.append({"assumption": name, "setting": setting, "flips": ", ".join(what)})
    return pd.DataFrame(out, columns=["assumption", "setting", "flips"])
