"""Issue 12's checks on ResNet-20 at its training batch (128): array areas, arc8's extra area
itemised, stochastic rounding's cost, memory levels in every estimate, the node acting through
DRAM, the validation table and the sensitivity report."""

import math
import subprocess
import sys
import warnings

import pytest

import costmodel
from costmodel.sensitivity import KIND_RANGES, variations
from costmodel.tables import load_assumptions
from costmodel.units import Units
from costmodel.validation import validation_table

POLICIES = ("int8", "sr8", "arc8", "int4_interval", "int4_minmax")
ARC8_AREA_FACTOR = 1.05  # arc8's whole accelerator against int8's (docs/cost-model.md)


@pytest.fixture(scope="module")
def frames():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {p: costmodel.estimate("resnet20", p) for p in ("fp", *POLICIES)}


def test_training_batch_is_the_default(frames):
    assert {f.attrs["batch"] for f in frames.values()} == {128}


def test_int4_array_area_below_int8(frames):
    int8 = frames["int8"].attrs["area"]
    for policy in ("int4_interval", "int4_minmax"):
        area = frames[policy].attrs["area"]
        assert area.array_um2 < int8.array_um2
        lane = {i.unit: i.widths for i in area.items if i.part == "mac_lane"}
        assert lane["mac"].startswith("4x4")  # the 8-bit first and last layers in passes
    assert int8.array_um2 < frames["fp"].attrs["area"].array_um2


def test_arc8_area_within_a_small_factor_of_int8_and_itemised(frames):
    arc8, int8 = (frames[p].attrs["area"] for p in ("arc8", "int8"))
    assert arc8.array_um2 == pytest.approx(int8.array_um2)  # the same lanes
    assert 1 < arc8.total_um2 / int8.total_um2 < ARC8_AREA_FACTOR
    items = arc8.table().set_index(["part", "unit"])["total_um2"]
    base = int8.table().set_index(["part", "unit"])["total_um2"]
    extra = items.sub(base, fill_value=0)
    extra = extra[extra.abs() > 1e-6]
    # what arc8 adds: real-step rescale multipliers, z-score statistics units, its rounding
    assert ("shared", "rescale_real") in extra.index
    assert ("shared", "stats_zscore") in extra.index
    assert extra.sum() == pytest.approx(arc8.total_um2 - int8.total_um2)
    rescalers = next(i for i in arc8.items if i.unit == "rescale_real" and i.part == "shared")
    assert rescalers.count < arc8.lanes / 4  # shared by throughput, not one per lane


def test_stochastic_rounding_unit_is_a_small_multiple_of_nearest():
    units = Units()
    sr = units.rounding("stochastic_k", 32, 8, random_bits=8)
    nearest = units.rounding("nearest_even", 32, 8)
    # with its 8 random bits' share of a shared generator: about 3x nearest's energy and area
    assert 1 < sr.energy_pj / nearest.energy_pj < 4
    assert 1 < sr.area_um2 / nearest.area_um2 < 4
    rounder = units.rounder("stochastic_k", 32, 8, 8)  # the rounder alone: an 8-bit adder more
    assert 1 < rounder.area_um2 / nearest.area_um2 < 1.5
    # and a 62-bit "stochastic" policy is priced with the default 8 bits, not 24
    assert units.rounding("stochastic", 32, 8) == sr


def test_sr8_energy_close_to_int8(frames):
    sr8, int8 = (frames[p]["energy_pj"].sum() for p in ("sr8", "int8"))
    assert 1 <= sr8 / int8 < 1.01


def test_memory_levels_in_every_estimate(frames):
    for frame in frames.values():
        macs = frame[frame["kind"] == "mac"]
        for level in ("dram", "glb", "rf", "network", "reg"):
            assert (macs[f"{level}_bits"] > 0).all(), level
            assert f"energy_{level}_pj" in frame
        assert set(frame["kind"]) >= {"mac", "update", "batchnorm", "add", "avgpool", "loss",
                                      "input"}
        assert (macs["utilization"] > 0).all() and (macs["utilization"] <= 1).all()


def test_node_changes_the_saving_through_dram():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        savings = {node: costmodel.compare(["int8"], net="resnet20", node_nm=node)
                   for node in (45, 7)}
        dram = {node: costmodel.estimate("resnet20", "int8", node_nm=node)
                for node in (45, 7)}
    assert savings[45]["energy_saving"].iloc[1] != pytest.approx(
        savings[7]["energy_saving"].iloc[1], abs=1e-3)
    # DRAM energy per bit does not follow the node; logic does
    per_bit = {n: f.attrs["level_costs"].dram for n, f in dram.items()}
    assert per_bit[45] == per_bit[7]
    assert dram[7]["energy_mac_pj"].sum() < 0.2 * dram[45]["energy_mac_pj"].sum()


def test_validation_table_has_published_figures_and_errors():
    table = validation_table()
    assert len(table) >= 3 and table["source"].str.len().min() > 10
    assert table["error"].map(math.isfinite).all()
    assert (table["model"] > 0).all()
    # within a factor of four of every published figure (docs/cost-model.md discusses each)
    assert ((table["model"] / table["published"]).between(0.25, 4)).all()


def test_sensitivity_covers_every_assumption_and_flags_flips():
    report = costmodel.sensitivity(["int8", "int4_minmax"], net="digits_cnn")
    names = set(report["assumption"])
    assert {a for a in load_assumptions()} <= names
    assert {f"{k} cost" for k in KIND_RANGES} <= names
    assert {"register calibration", "range pass", "float_units",
            "random_bits_per_generator"} <= names
    assert len(report) == 2 * len(variations())
    for column in ("energy_sign_flips", "area_sign_flips", "energy_ranking_changes",
                   "area_ranking_changes"):
        assert report[column].dtype == bool
    nominal = costmodel.compare(["int8", "int4_minmax"], net="digits_cnn")
    int8 = report[report["policy"] == "int8"]
    assert int8["energy_saving_nominal"].to_numpy() == pytest.approx(
        [nominal["energy_saving"].iloc[1]] * len(int8))
    flips = costmodel.flips(report)
    assert list(flips.columns) == ["assumption", "setting", "flips"]


def test_importing_costmodel_compiles_nothing():
    code = "import sys, costmodel; sys.exit('numba' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_sr_bits_warning_and_override():
    with pytest.warns(UserWarning, match="simulate rounding 'stochastic_k'"):
        costmodel.estimate("digits_cnn", "sr8")
    policy = costmodel.policy.load_policy("sr8").to_dict()
    for role in ("act_grads", "weight_grads"):
        policy["defaults"][role].update(rounding="stochastic_k", random_bits=12)
    with pytest.warns(UserWarning, match="priced with 4"):
        low = costmodel.estimate("digits_cnn", policy, sr_bits=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        own = costmodel.estimate("digits_cnn", policy)  # priced with its own 12 bits
    assert low["energy_rng_pj"].sum() < own["energy_rng_pj"].sum()
