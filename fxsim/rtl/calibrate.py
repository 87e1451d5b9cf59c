"""From transistors and switching activity to um^2 and pJ: calibration on Horowitz's points.

The same flow (:data:`fxsim.rtl.synth.YOSYS_FLOW`) synthesizes an 8-bit adder and an 8 x 8
multiplier (signed), the two integer units whose area and energy the cost model already holds
(``costmodel/data/horowitz_45nm.csv``: 36 um^2 and 0.03 pJ, 282 um^2 and 0.2 pJ at 45 nm).

* area: ``um^2 = transistors x a``, one factor ``a`` for both points, their geometric mean
  (the least-squares fit in log space): each point is off by the same factor in opposite
  directions, which :attr:`Calibration.points` reports;
* energy: ``pJ per operation = switching activity x e`` (activity from
  :func:`fxsim.rtl.synth.switching`: toggles of every net weighted by the transistor gates it
  drives, per operation, in a zero-delay simulation of the netlist on uniform random operands),
  ``e`` fitted the same way.

Both are 45 nm numbers, like every row the cost model reads; it scales them to other nodes.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from fxsim.rtl.hdl import Module, Port
from fxsim.rtl.synth import switching, synthesize

CALIBRATION_ROWS = 2000
_ADD = """module cal_add8 (input wire [7:0] a, input wire [7:0] b, output wire [8:0] y);
    assign y = a + b;  // 8-bit adder with carry out
endmodule
"""
_MUL = """module cal_mul8 (input wire [7:0] a, input wire [7:0] b, output wire [15:0] y);
    assign y = $signed(a) * $signed(b);  // 8 x 8 two's complement multiplier
endmodule
"""


def calibration_modules() -> dict[str, Module]:
    """The calibration circuits by the name of the Horowitz row they stand for."""
    ports = (Port("a", 8, "input"), Port("b", 8, "input"))
    return {"int_add_8": Module("cal_add8", (*ports, Port("y", 9, "output")), _ADD),
            "int_mult_8": Module("cal_mul8", (*ports, Port("y", 16, "output")), _MUL)}


@dataclass(frozen=True)
class Calibration:
    """``um2_per_transistor`` and ``pj_per_activity`` at 45 nm, and the calibration points
    (a DataFrame: Horowitz's area and energy beside the fitted ones, relative errors)."""

    um2_per_transistor: float
    pj_per_activity: float
    points: pd.DataFrame

    def area(self, transistors: float) -> float:
        return transistors * self.um2_per_transistor

    def energy(self, activity: float) -> float:
        return activity * self.pj_per_activity

    def describe(self) -> str:
        rows = [f"{r.name}: {r.transistors} transistors, activity {r.activity:.1f} -> "
                f"{r.fit_area_um2:.1f} um^2 (Horowitz {r.area_um2:g}, {r.area_error:+.0%}), "
                f"{r.fit_energy_pj:.4f} pJ (Horowitz {r.energy_pj:g}, {r.energy_error:+.0%})"
                for r in self.points.itertuples()]
        return (f"{self.um2_per_transistor:.5f} um^2 per transistor, "
                f"{self.pj_per_activity:.3e} pJ per weighted toggle; " + "; ".join(rows))


def _horowitz() -> dict[str, tuple[float, float]]:
    from costmodel.tables import load_primitives

    rows = {p.name: p for p in load_primitives()}
    return {name: (rows[name].area_um2, rows[name].energy_pj)
            for name in ("int_add_8", "int_mult_8")}


def _geometric_fit(targets: list[float], measures: list[float]) -> float:
    return math.exp(np.mean([math.log(t / m) for t, m in zip(targets, measures, strict=True)]))


@cache
def calibrate() -> Calibration:
    """Synthesize and simulate the calibration circuits (once per process)."""
    rng = np.random.default_rng(2014)
    reference = _horowitz()
    records = []
    with tempfile.TemporaryDirectory(prefix="fxsim-cal-") as tmp:
        for name, module in calibration_modules().items():
            workdir = Path(tmp) / module.name
            synthesis = synthesize(module, workdir)
            inputs = {p.name: rng.integers(0, 256, CALIBRATION_ROWS) for p in module.inputs}
            activity = switching(module, synthesis, inputs, workdir)
            area, energy = reference[name]
            records.append({"name": name, "transistors": synthesis.transistors,
                            "activity": activity, "area_um2": area, "energy_pj": energy})
    points = pd.DataFrame(records)
    a = _geometric_fit(points.area_um2.tolist(), points.transistors.tolist())
    e = _geometric_fit(points.energy_pj.tolist(), points.activity.tolist())
    points["fit_area_um2"] = points.transistors * a
    points["fit_energy_pj"] = points.activity * e
    points["area_error"] = points.fit_area_um2 / points.area_um2 - 1
    points["energy_error"] = points.fit_energy_pj / points.energy_pj - 1
    return Calibration(a, e, points)
