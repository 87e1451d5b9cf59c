"""fxsim sweep grids: the path syntax, parsing, refusals naming the problem, points and keys,
the presets, the table's axis and scheme columns and the break-point analysis (no Dask)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fxsim.cli import main
from fxsim.policy import Policy
from fxsim.sweep import load_grid, plan_points, preset_names
from fxsim.sweep.analysis import break_points, configurations, pareto
from fxsim.sweep.grid import parse_grid
from fxsim.sweep.paths import UNSET, PolicyPath, flatten, parse_path
from fxsim.sweep.points import unique_runs
from fxsim.sweep.table import axis_value, scheme_label

BASE = {"net": "digits_cnn", "policy": "int8", "epochs": 1, "limit": 64}


def grid(**extra):
    return parse_grid({"name": "g", "base": dict(BASE), **extra})


def block_points(g):
    """The grid's points without the reference runs."""
    return [p for p in plan_points(g) if p.block != "reference"]


def test_paths_parse_and_set_exactly_their_table():
    path = parse_path("layers.last.act_grads.bits", "here")
    assert path == PolicyPath("layers.last.act_grads.bits", ("layers", "last"), "act_grads",
                              "bits")
    policy = Policy.load("int8").to_dict()
    changed = path.apply(policy, 3)
    assert changed["layers"]["last"]["act_grads"] == {"bits": 3}
    assert changed["defaults"] == policy["defaults"] and "layers" not in policy
    assert path.lookup(changed) == 3 and path.lookup(policy) == UNSET
    acc = parse_path("defaults.accumulator.bits", "here")
    wide = acc.apply(acc.apply(policy, 12), UNSET)
    assert acc.lookup(wide) == UNSET and wide["defaults"]["accumulator"] == {}
    role = parse_path("defaults.master", "here")
    assert role.key is None
    assert role.apply(policy, {"bits": 16, "frac": 12})["defaults"]["master"] == {
        "bits": 16, "frac": 12}
    assert parse_path("lr", "here") == "lr"


@pytest.mark.parametrize(("path", "message"), [
    ("defaults.act_grad.bits", "expected a role.*got 'act_grad'"),
    ("defaults.act_grads.bitz", "unknown key 'bitz' of role 'act_grads'"),
    ("kinds.conv3d.weights.bits", "unknown layer kind 'conv3d'"),
    ("groups.easy.weights.bits", "activations and act_grads only"),
    ("learning_rate", "unknown path 'learning_rate'"),
    ("defaults.master.z", "unknown key 'z' of role 'master'"),
])
def test_unknown_paths_are_refused_naming_them(path, message):
    with pytest.raises(ValueError, match=message):
        grid(axes={path: [1, 2]})


def test_dotted_keys_and_quoted_paths_flatten_alike():
    nested = {"defaults": {"act_grads": {"bits": [3, 4]}}, "lr": [0.1]}
    assert flatten(nested, stop_at_role=False) == {"defaults.act_grads.bits": [3, 4],
                                                   "lr": [0.1]}
    sets = {"defaults": {"master": {"bits": 16, "frac": 12}}}
    assert flatten(sets, stop_at_role=True) == {"defaults.master": {"bits": 16, "frac": 12}}


@pytest.mark.parametrize(("axes", "message"), [
    ({"defaults.act_grads.bits": []}, "axis 'defaults.act_grads.bits'.*empty"),
    ({"defaults.act_grads.bits": 4}, "a list of values"),
    ({"defaults.act_grads.bits": [4, 4]}, "value '4' is given twice"),
    ({"defaults.act_grads.bits": [4, 99]}, r"defaults.act_grads.bits = 99.*bits must be"),
    ({"defaults.act_grads.rounding": ["nearest_even", "sideways"]},
     "rounding = sideways.*rounding must be one of.*got 'sideways'"),
    ({"defaults.master.bits": [16, 41]}, "master.bits = 41.*role 'master'.*bits"),
    ({"lr": [0.1, -1.0]}, "lr = -1.0.*lr must be a positive number"),
    ({"net": ["digits_cnn", "alexnet"]}, "net = alexnet.*net must be one of"),
])
def test_bad_axes_and_values_are_refused_naming_them(axes, message):
    with pytest.raises(ValueError, match=message):
        plan_points(grid(axes=axes))


def test_grid_level_errors_name_the_key():
    with pytest.raises(ValueError, match="unknown key 'axis'"):
        parse_grid({"axis": {}})
    with pytest.raises(ValueError, match="seeds must be"):
        grid(seeds=0)
    with pytest.raises(ValueError, match="tolerance must be"):
        grid(tolerance=5)
    with pytest.raises(ValueError, match="scheme names 'colour'"):
        grid(axes={"lr": [0.1]}, scheme=["colour"])
    with pytest.raises(ValueError, match=r"put it in \[base.set\]"):
        parse_grid({"base": {"defaults": {"act_grads": {"bits": 4}}}})
    with pytest.raises(ValueError, match="either \\[axes\\]"):
        grid(axes={"lr": [0.1]}, block=[{"axes": {"lr": [0.2]}}])


def test_points_cover_each_block_times_seeds_plus_references():
    g = grid(seeds=2, block=[
        {"name": "gbits", "axes": {"defaults.act_grads.bits": [4, 8]}},
        {"name": "lr", "axes": {"lr": [0.05, 0.1]}},
    ])
    points = plan_points(g)
    blocks = [p.block for p in points]
    assert blocks.count("gbits") == 4 and blocks.count("lr") == 4
    # one fp reference per seed and per distinct run settings (two learning rates)
    assert blocks.count("reference") == 4
    # seed by seed, each seed's reference runs first
    assert [p.seed for p in points[:6]] == [0] * 6 and points[0].block == "reference"
    # the int8 point at lr 0.05 has 8-bit gradients: the same run as gbits at 8 bits
    assert len(unique_runs(points)) == len(points) - 2
    g8 = next(p for p in points if p.values.get("defaults.act_grads.bits") == "8")
    assert g8.policy["defaults"]["act_grads"]["bits"] == 8 and g8.policy["name"] == "int8"
    g4 = next(p for p in points if p.values.get("defaults.act_grads.bits") == "4")
    assert g4.policy["name"].startswith("int8-") and g4.key != g8.key
    assert g4.config_key == next(p for p in points if p.seed == 1 and p.values == g4.values
                                 ).config_key


def test_keys_follow_settings_and_policy_contents_not_names(tmp_path):
    g = grid(axes={"defaults.act_grads.bits": [4]})
    (a,) = block_points(g)
    again = block_points(grid(axes={"defaults.act_grads.bits": [4]}, name="other"))[0]
    assert a.key == again.key
    other_seed = block_points(grid(axes={"defaults.act_grads.bits": [4]}, seeds=[5]))[0]
    assert other_seed.key != a.key and other_seed.config_key == a.config_key
    config = a.config(tmp_path)
    a.write_policy(tmp_path)
    assert Policy.load(config.policy).to_dict() == a.policy and config.seed == 0
    assert a.run_dir(tmp_path) == tmp_path / "runs" / a.key


def test_linked_axes_set_several_paths_and_keep_their_label():
    rounding = [{"label": "sr", "set": {"defaults.act_grads.rounding": "stochastic",
                                        "defaults.master": {"bits": 16, "frac": 12,
                                                            "rounding": "stochastic"}}}]
    g = grid(axes={"rounding": rounding}, reference="")
    (point,) = plan_points(g)
    assert point.values == {"rounding": "sr"}
    assert point.policy["defaults"]["master"] == {"bits": 16, "frac": 12,
                                                  "rounding": "stochastic"}
    with pytest.raises(ValueError, match="mixes linked values"):
        grid(axes={"rounding": [*rounding, "nearest_even"]})


def test_axis_and_scheme_columns_read_the_base_where_not_varied():
    g = grid(block=[{"name": "a", "axes": {"defaults.act_grads.bits": [4]}},
                    {"name": "b", "axes": {"defaults.act_grads.rounding": ["stochastic"]}}],
             scheme=["policy", "defaults.act_grads.rounding"])
    a, b = block_points(g)
    assert axis_value(g, a, "defaults.act_grads.rounding") == "nearest_even"
    assert axis_value(g, b, "defaults.act_grads.bits") == "8"
    assert scheme_label(g, b, {"defaults.act_grads.rounding": "stochastic"}) == (
        "int8/stochastic")
    k4 = grid(axes={"defaults.act_grads": [{"bits": 4, "rounding": "stochastic_k",
                                            "random_bits": 4}]},
              scheme=["defaults.act_grads.rounding"])
    point = block_points(k4)[0]
    assert scheme_label(k4, point, {}) == "stochastic_k4"


@pytest.mark.parametrize("name", ["breakpoints", "quick"])
def test_presets_parse_and_plan(name):
    assert name in preset_names()
    g = load_grid(name)
    points = plan_points(g)
    assert {p.block for p in points} == {b.name for b in g.blocks} | {"reference"}
    assert len(g.seeds) == (3 if name == "breakpoints" else 1)
    rounding = {p.values.get("rounding") for p in points} - {None}
    assert rounding == {"nearest_even", "toward_zero", "stochastic", "stochastic_k4"}
    k4 = next(p for p in points if p.values.get("rounding") == "stochastic_k4")
    assert k4.policy["defaults"]["act_grads"]["random_bits"] == 4


def test_cli_refuses_a_bad_grid_naming_the_axis(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[base]\nnet = "digits_cnn"\n[axes]\ndefaults.act_grads.bits = []\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    assert "axis 'defaults.act_grads.bits': the axis is empty" in capsys.readouterr().err
    path.write_text('[axes]\ndefaults.act_grads.rounding = ["nearest_even", "sideways"]\n')
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "defaults.act_grads.rounding = sideways" in err and "sideways" in err
    assert main(["sweep", "--preset", "quick", "--dry-run"]) == 0
    assert "grid 'quick':" in capsys.readouterr().out


def _frame(rows):
    base = {"sweep": "g", "policy": "int8", "net": "digits_cnn", "data": "digits",
            "epochs": 1, "batch": 32, "lr": 0.05, "limit": None, "status": "trained",
            "wall_time_s": 1.0, "area_um2": 1.0}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_break_points_need_every_wider_width_within_tolerance():
    rows = [{"block": "reference", "scheme": "fp", "bits": "-", "config": "ref",
             "seed": s, "test_acc": 0.95, "energy_pj": 100.0} for s in (0, 1)]
    accs = {"2": 0.50, "3": 0.946, "4": 0.90, "6": 0.945, "8": 0.95, "unset": 0.951}
    for bits, acc in accs.items():
        rows += [{"block": "b", "scheme": "s", "bits": bits, "config": bits, "seed": s,
                  "test_acc": acc + (0.002 if s else -0.002), "energy_pj": 10.0 + len(bits)}
                 for s in (0, 1)]
    frame = configurations(_frame(rows), tolerance=0.01)
    point = break_points(frame, {"b": {"bits": list(accs)}}).iloc[0]
    # 3 bits is within tolerance but 4 is not: the break point is 6, failing at 4
    assert point["break_bits"] == 6 and point["fails_at"] == 4
    assert point["break_point"] == "6" and math.isclose(point["ref_acc"], 0.95)
    assert point["tested"] == "2 3 4 6 8 wide"
    # every one-character width costs 11 pJ, 'unset' 15 pJ, the reference 100 pJ: 8 bits
    # dominates the other 11 pJ points and the reference (same accuracy, less energy); 'unset'
    # is more accurate than 8 bits
    front = frame[pareto(frame, "energy_pj")]["config"].tolist()
    assert sorted(front) == ["8", "unset"]


def test_main_job_and_sweep_checks_need_no_sweep_extra(tmp_path):
    """Without dask, optuna and pyarrow: the command line (and so the main job,
    `fxsim` = `fxsim train`) builds, `fxsim sweep --dry-run` checks a grid, and a sweep says
    which extra to install."""
    import subprocess
    import sys

    script = f"""
import sys
for name in ("dask", "distributed", "optuna", "pyarrow"):
    sys.modules[name] = None
from fxsim.cli import build_parser, main
import fxsim.training
assert build_parser().parse_args([]).command is None  # the command line builds
assert main(["sweep", "--preset", "quick", "--dry-run"]) == 0
assert main(["sweep", "--preset", "quick", "--out", {str(tmp_path / "sweep")!r}]) == 2
assert not any(m in sys.modules and sys.modules[m] is not None for m in ("dask", "distributed"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install 'fxsim[sweep]'" in done.stderr
