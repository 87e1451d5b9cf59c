"""``fxsim rtl size``: what each unit costs when synthesized, beside the textbook estimate.

:func:`size_unit` synthesizes a unit (:func:`fxsim.rtl.synth.synthesize`), measures its switching
activity on :func:`~fxsim.rtl.vectors.activity_inputs` and prices both with the calibration of
:mod:`fxsim.rtl.calibrate` (um^2 and pJ per operation at 45 nm). The textbook estimate is what
the cost model's unit definitions give for the same widths (:func:`fxsim.rtl.costunits.
cost_units`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pandas as pd

from fxsim.rtl.calibrate import Calibration, calibrate
from fxsim.rtl.costunits import cost_units
from fxsim.rtl.golden import golden
from fxsim.rtl.spec import UnitSpec, unit_text
from fxsim.rtl.synth import switching, synthesize
from fxsim.rtl.units import generate
from fxsim.rtl.vectors import activity_inputs

ACTIVITY_ROWS = 1000  # operations simulated for the switching activity, at most
ACTIVITY_BUDGET = 1_000_000  # cells x operations: large units simulate fewer (at least 200)
SIZE_COLUMNS = ("unit", "cells", "flip_flops", "transistors", "area_um2", "energy_pj",
                "textbook_area_um2", "textbook_energy_pj", "textbook")


@cache
def _textbook_units():
    """The cost model's textbook units at 45 nm, built once (its tables are read once)."""
    from costmodel.units import Units

    return Units()


def textbook(spec: UnitSpec) -> tuple[float, float, str]:
    """``(area um^2, energy pJ, which units)`` of the cost model's definitions at 45 nm; NaN
    where the cost model has none."""
    units = cost_units(spec)
    if not units:
        return float("nan"), float("nan"), ""
    table = _textbook_units()
    costs = [table.unit(name, **params) for name, params in units]
    what = " + ".join(f"{n}({', '.join(f'{k}={v}' for k, v in p.items())})" for n, p in units)
    return sum(c.area_um2 for c in costs), sum(c.energy_pj for c in costs), what


def activity_rows(cells: int, rows: int = ACTIVITY_ROWS) -> int:
    """Operations to simulate for a unit of ``cells`` cells: ``rows``, fewer for large units
    (:data:`ACTIVITY_BUDGET` / cells, at least 200)."""
    return max(min(rows, ACTIVITY_BUDGET // max(cells, 1)), min(rows, 200))


def size_unit(spec: UnitSpec, calibration: Calibration | None = None,
              rows: int = ACTIVITY_ROWS, seed: int = 0) -> dict:
    """One row of the size table for ``spec`` (columns :data:`SIZE_COLUMNS`)."""
    calibration = calibration or calibrate()
    module = generate(spec)
    with tempfile.TemporaryDirectory(prefix="fxsim-size-") as tmp:
        synthesis = synthesize(module, Path(tmp))
        inputs = activity_inputs(spec, activity_rows(synthesis.cells, rows), seed)
        expected = golden(spec, inputs, seed)
        inputs = {**inputs, **expected.derived}
        activity = switching(module, synthesis, inputs, Path(tmp))
    area, energy, what = textbook(spec)
    return {"unit": unit_text(spec), "cells": synthesis.cells,
            "flip_flops": synthesis.flip_flops, "transistors": synthesis.transistors,
            "area_um2": calibration.area(synthesis.transistors),
            "energy_pj": calibration.energy(activity), "textbook_area_um2": area,
            "textbook_energy_pj": energy, "textbook": what}


def size_units(specs: list[UnitSpec], rows: int = ACTIVITY_ROWS, seed: int = 0,
               callback: Callable[[dict], None] | None = None) -> pd.DataFrame:
    """The size table of ``specs``; ``callback`` gets each row as it is done."""
    calibration = calibrate()
    records = []
    for spec in specs:
        records.append(size_unit(spec, calibration, rows, seed))
        if callback:
            callback(records[-1])
    return pd.DataFrame(records, columns=list(SIZE_COLUMNS))
