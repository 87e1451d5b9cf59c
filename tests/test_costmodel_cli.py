"""The ``fxsim cost`` subcommand."""

import pandas as pd

import fxsim.cli
from fxsim.shapes import LayerShape

POLICY = """
name = "int8"
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


def test_cost_net_policy_baseline(capsys, tmp_path, monkeypatch):
    import reference_nets

    shapes = [LayerShape("conv", "conv2d", 1, 4, (3, 3), padding=(1, 1), in_hw=(8, 8)),
              LayerShape("fc", "linear", 256, 10)]
    monkeypatch.setattr(reference_nets, "layer_shapes", lambda name: shapes, raising=False)
    policy = tmp_path / "int8.toml"
    policy.write_text(POLICY)
    baseline = tmp_path / "fp.toml"
    baseline.write_text('name = "fp32"\nquantize = false\n')
    out_csv = tmp_path / "cost.csv"
    code = fxsim.cli.main(["cost", "--net", "tiny", "--policy", str(policy), "--baseline",
                           str(baseline), "--node", "28", "--batch", "4", "--csv", str(out_csv)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Policy 'int8' on tiny" in out and "compression_ratio" in out
    frame = pd.read_csv(out_csv)
    assert set(frame["phase"]) == {"forward", "backward_input", "backward_weight", "update"}
