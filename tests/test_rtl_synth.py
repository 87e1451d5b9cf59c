"""Synthesis with Yosys: transistor counts add up, the calibration stays close to Horowitz's
points, the shipped synthesized table is what the flow produces, and the cost model runs on it."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rtl_tools import yosys

import costmodel
from costmodel.synth_units import PARAMS, SYNTH_FILE, SynthUnits
from costmodel.units import Units
from fxsim.rtl.spec import parse_unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(SYNTH_FILE, comment="#")


@yosys
def test_synthesis_counts_add_up_and_the_netlist_computes_the_same(tmp_path):
    from fxsim.rtl.synth import CELL_TYPES, synthesize
    from fxsim.rtl.units import generate

    module = generate(parse_unit("mac:a=4,b=4,acc=10,overflow=saturate,counters=0"))
    result = synthesize(module, tmp_path)
    assert set(result.cell_types) <= set(CELL_TYPES)
    assert result.flip_flops == 10  # the accumulator register
    assert result.cells == sum(result.cell_types.values())
    assert result.transistors == sum(CELL_TYPES[t] * n for t, n in result.cell_types.items())
    assert f"module {module.name}" in result.netlist


@yosys
def test_calibration_is_within_its_stated_error():
    from fxsim.rtl.calibrate import calibrate

    cal = calibrate()
    points = cal.points.set_index("name")
    assert set(points.index) == {"int_add_8", "int_mult_8"}
    # one factor for two points: errors of opposite sign, area within 20%, energy within 40%
    assert (points.area_error.abs() < 0.2).all() and (points.energy_error.abs() < 0.4).all()
    assert math.prod(1 + points.area_error) == pytest.approx(1.0)
    assert math.prod(1 + points.energy_error) == pytest.approx(1.0)


@yosys
def test_size_rows_have_the_textbook_estimate_beside():
    from fxsim.rtl.size import size_units

    units = ["requant:in=12,out=4,shift=8,overflow=wrap,rounding=floor",
             "requant:in=12,out=4,shift=8,overflow=wrap,rounding=nearest_even",
             "requant:in=12,out=4,shift=8,overflow=wrap,rounding=stochastic_k,k=4"]
    frame = size_units([parse_unit(u) for u in units], rows=200).set_index("unit")
    floor, nearest, stochastic = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert floor.cells == 0 and floor.energy_pj == 0  # floor drops the bits: wires only
    assert nearest.transistors > 0 and stochastic.transistors > 0
    assert nearest.textbook == "round_nearest_even(out=4, drop=8)"
    assert stochastic.textbook_area_um2 > 0 and nearest.area_um2 > 0


def test_the_shipped_table_says_where_it_comes_from(table):
    header = [line for line in SYNTH_FILE.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "fxsim rtl size --table costmodel/data/synth_units.csv" in text
    assert "Yosys" in text and "Horowitz" in text and "error at those points" in text
    assert table.source.str.contains("Yosys").all()
    assert (table.node_nm == 45).all() and (table.area_um2 >= 0).all()
    expected = {"mac", "round_nearest_even", "round_toward_zero", "round_stochastic_k", "lfsr",
                "overflow_saturate", "rescale_real", "stats_minmax", "stats_zscore",
                "stats_large_grad_interval"}
    assert expected <= set(table.unit)


@yosys
def test_the_shipped_table_is_what_the_flow_produces(table):
    """Two small rows, re-synthesized now: the same cells and transistors (same Yosys)."""
    from fxsim.rtl.costunits import rtl_unit
    from fxsim.rtl.size import size_unit
    from fxsim.rtl.spec import unit_text
    from fxsim.rtl.synth import yosys_version

    if not table.source.iloc[0].startswith(yosys_version()):
        pytest.skip(f"the table was made by another Yosys than {yosys_version()}")
    for name, params in (("round_nearest_even", {"out": 8, "drop": 4}), ("lfsr", {"k": 4})):
        spec = rtl_unit(name, **params)
        row = table[table.rtl == unit_text(spec)].iloc[0]
        assert row.unit == name
        now = size_unit(spec)
        assert (now["cells"], now["transistors"]) == (row.cells, row.transistors)
        assert now["area_um2"] == pytest.approx(row.area_um2, rel=1e-3)
        assert now["energy_pj"] == pytest.approx(row.energy_pj, rel=1e-3)


def test_synthesized_units_are_exact_at_table_rows_and_fit_between(table):
    synth = SynthUnits()
    for row in table.sample(20, random_state=0).itertuples():
        params = {p: getattr(row, p) for p in PARAMS if not pd.isna(getattr(row, p))}
        cost = synth.cost(row.unit, **params)
        assert (cost.area_um2, cost.energy_pj) == (row.area_um2, row.energy_pj)
    assert synth.cost("mac_fp32") is None  # not synthesized: the textbook prices it
    between = synth.cost("round_nearest_even", out=6, drop=20)
    low, high = synth.cost("round_nearest_even", out=4, drop=12), \
        synth.cost("round_nearest_even", out=8, drop=24)
    assert low.area_um2 <= between.area_um2 <= high.area_um2
    assert max(synth.fit_errors().values()) < 0.5


def test_cost_model_runs_on_the_synthesized_units():
    textbook = Units()
    synth = Units(path="synth")
    assert synth.mac(8, 8, 32) != textbook.mac(8, 8, 32)
    assert synth.mac_fp32() == textbook.mac_fp32()  # no synthesized fp32 MAC
    node7 = Units(costmodel.Technology(node_nm=7), "synth").mac(8, 8, 32)
    assert node7.area_um2 < synth.mac(8, 8, 32).area_um2
    frame = costmodel.estimate("digits_cnn", "arc8", batch=4, units="synth")
    base = costmodel.estimate("digits_cnn", "arc8", batch=4)
    assert frame.energy_rounding_pj.sum() != base.energy_rounding_pj.sum()
    assert (frame.energy_pj > 0).all()


def test_fxsim_cost_units_synth_on_the_command_line():
    out = subprocess.run([sys.executable, "-m", "fxsim.cli", "cost", "--net", "digits_cnn",
                          "--policy", "arc8", "--units", "synth"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "energy" in out.stdout
