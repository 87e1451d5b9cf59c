"""The ``fxsim cost`` subcommand."""

import pandas as pd
import pytest

import costmodel
import fxsim.cli

POLICY = """
name = "int8w"
[defaults]
weights      = { bits = 8, rounding = "nearest_even", range = "minmax" }
activations  = { bits = 8, rounding = "nearest_even", range = "minmax", signed = false }
act_grads    = { bits = 8, rounding = "stochastic", range = "minmax" }
weight_grads = { bits = 8, rounding = "stochastic", range = "minmax" }
master       = { bits = 24, frac = 20, rounding = "stochastic" }
accumulator  = { bits = 32, overflow = "saturate" }
"""


def test_cost_mac(capsys, tmp_path):
    assert fxsim.cli.main(["cost", "--mac", "4x4", "--acc", "16"]) == 0
    out = capsys.readouterr().out
    assert "int 4x4 -> 16" in out and "fp32 (reference)" in out
    csv = tmp_path / "mac.csv"
    assert fxsim.cli.main(["cost", "--mac", "8x4", "--node", "28", "--csv", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert frame["mac"][0] == "int 8x4 -> 32" and frame["node_nm"][0] == 28


def test_cost_errors(capsys):
    assert fxsim.cli.main(["cost", "--mac", "4by4"]) == 2
    assert "--mac wants AxB" in capsys.readouterr().err
    assert fxsim.cli.main(["cost", "--mac", "4x4", "--node", "5"]) == 2
    assert "allowed are the listed nodes" in capsys.readouterr().err
    assert fxsim.cli.main(["cost"]) == 2
    assert "give --net NAME and --policy" in capsys.readouterr().err
    assert fxsim.cli.main(["cost", "--net", "resnet20", "--policy", "int3"]) == 2
    assert "neither a file nor a shipped policy" in capsys.readouterr().err


def test_cost_resnet20_int4_interval_against_fp(capsys, tmp_path):
    out_csv = tmp_path / "cost.csv"
    code = fxsim.cli.main(["cost", "--net", "resnet20", "--policy", "int4_interval",
                           "--baseline", "fp", "--csv", str(out_csv)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Policy 'int4_interval' on resnet20, batch 1" in out
    assert "fp (baseline)" in out and "compression_ratio" in out
    frame = pd.read_csv(out_csv)
    assert len(frame) == 3 + 18 * 4 + 4  # conv1 without backward_input, 18 convs, fc
    table = costmodel.compare(["int4_interval"], "fp", net="resnet20")
    ratio = table["compression_ratio"].iloc[1]
    assert f"{ratio:.4g}" in out.split("Against the baseline:")[1]
    assert frame["energy_pj"].sum() == pytest.approx(table["energy_pj"].iloc[1])
    assert "area_um2" not in frame  # the per-row table is energy; the area is per scheme
    assert "Area (um^2) with 256 MAC lanes" in out and "float-island converter" in out
    lane = table["mac_lane_area_um2"].iloc[1]
    assert f"area {table['area_um2'].iloc[1]:.6g} um^2 = 256 x {lane:.6g} (MAC lane)" in out


def test_cost_lanes_option(capsys):
    assert fxsim.cli.main(["cost", "--net", "digits_cnn", "--policy", "sr8", "--baseline",
                           "fp", "--lanes", "64", "--lfsr-share", "8"]) == 0
    out = capsys.readouterr().out
    table = costmodel.compare(["sr8"], "fp", net="digits_cnn", lanes=64, lfsr_share=8)
    assert "Area (um^2) with 64 MAC lanes" in out
    assert f"area {table['area_um2'].iloc[1]:.6g} um^2 = 64 x" in out
    assert f"{table['area_saving'].iloc[1]:.4g}" in out.split("Against the baseline:")[1]
    assert fxsim.cli.main(["cost", "--net", "digits_cnn", "--policy", "sr8", "--lanes",
                           "0"]) == 2
    assert "lanes must be an integer >= 1, got 0" in capsys.readouterr().err


def test_cost_policy_file_node_and_batch(capsys, tmp_path):
    policy = tmp_path / "int8w.toml"
    policy.write_text(POLICY)
    out_csv = tmp_path / "cost.csv"
    code = fxsim.cli.main(["cost", "--net", "digits_cnn", "--policy", str(policy),
                           "--baseline", "int8", "--node", "28", "--batch", "4",
                           "--multiplier-bits", "16", "--csv", str(out_csv)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Policy 'int8w' on digits_cnn, batch 4, 28 nm" in out and "int8 (baseline)" in out
    frame = pd.read_csv(out_csv)
    assert set(frame["phase"]) == {"forward", "backward_input", "backward_weight", "update"}
    assert (frame.loc[frame["phase"] != "update", "acc_bits"] == 32).all()
