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
    out_csv, png, tl = tmp_path / "cost.csv", tmp_path / "e.png", tmp_path / "tl"
    code = fxsim.cli.main(["cost", "--net", "resnet20", "--policy", "int4_interval",
                           "--baseline", "fp", "--csv", str(out_csv), "--plot", str(png),
                           "--export-timeloop", str(tl)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Policy 'int4_interval' on resnet20, batch 128" in out  # the training batch
    assert "fp (baseline)" in out and "compression_ratio" in out
    assert "warning: rounding 'stochastic' (act_grads)" in out and "stochastic_k" in out
    frame = pd.read_csv(out_csv)
    macs = frame[frame["kind"] == "mac"]
    assert len(macs) == 3 + 18 * 3 + 2  # conv1 without backward_input, 18 convs, fc
    assert set(frame["kind"]) >= {"batchnorm", "add", "avgpool", "loss", "input", "update"}
    table = costmodel.compare(["int4_interval"], "fp", net="resnet20")
    ratio = table["compression_ratio"].iloc[1]
    assert f"{ratio:.4g}" in out.split("Against the baseline:")[1]
    assert frame["energy_pj"].sum() == pytest.approx(table["energy_pj"].iloc[1])
    assert "Area (um^2) with 168 MAC lanes" in out and "global buffer" in out
    lane = table["mac_lane_area_um2"].iloc[1]
    assert f"area {table['area_um2'].iloc[1]:.6g} um^2 = 168 x {lane:.6g} (MAC lane)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    problems = sorted((tl / "problems").glob("*.yaml"))
    assert len(problems) == len(macs)
    text = (tl / "problems" / "s1b0_conv1.backward_weight.yaml").read_text()
    assert "widths: Inputs 4 bits, Outputs (dOut) 4 bits" in text
    assert "      - name: Weights\n        projection: [[[C]], [[M]], [[R]], [[S]]]\n" \
           "        read_write: True" in text
    assert "N: 128" in text and "M: 16" in text
    assert "system.DRAM" in (tl / "ERT.yaml").read_text()


def test_cost_sensitivity(capsys):
    assert fxsim.cli.main(["cost", "--net", "digits_cnn", "--policy", "int8", "--baseline",
                           "fp", "--sensitivity"]) == 0
    out = capsys.readouterr().out.split("Sensitivity")[1]
    for name in ("dram_read cost", "sram_array_efficiency", "register calibration",
                 "range pass"):
        assert name in out


def test_cost_lanes_option(capsys):
    assert fxsim.cli.main(["cost", "--net", "digits_cnn", "--policy", "sr8", "--baseline",
                           "fp", "--lanes", "64"]) == 0
    out = capsys.readouterr().out
    table = costmodel.compare(["sr8"], "fp", net="digits_cnn", lanes=64)
    assert "Area (um^2) with 64 MAC lanes" in out
    assert f"area {table['area_um2'].iloc[1]:.6g} um^2 = 64 x" in out
    assert f"{table['area_saving'].iloc[1]:.4g}" in out.split("Against the baseline:")[1]
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, naming the option
        fxsim.cli.main(["cost", "--net", "digits_cnn", "--policy", "sr8", "--lanes", "0"])
    assert stop.value.code == 2
    assert "argument --lanes: must be an integer >= 1, got 0" in capsys.readouterr().err


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
    macs = frame[frame["kind"] == "mac"]
    assert set(macs["phase"]) == {"forward", "backward_input", "backward_weight"}
    assert (macs["acc_bits"] == 32).all()
