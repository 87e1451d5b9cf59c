"""A narrow accumulator's overflows are in sight: counted per layer and phase in metrics.csv,
listed with their width in quantizers.csv and ``fxsim policies --net``, warned about on the
console and drawn by ``fxsim report``."""

from __future__ import annotations

import pandas as pd

from fxsim.cli import main
from fxsim.training.plots import saturation_table

ACC10 = """
name = "int8_acc10"
[defaults]
weights      = { bits = 8, range = "minmax" }
activations  = { bits = 8, range = "minmax" }
act_grads    = { bits = 8, range = "minmax" }
weight_grads = { bits = 16, range = "minmax" }
master       = { bits = 32, frac = 24 }
accumulator  = { bits = 10, overflow = "saturate" }
[layers.fc]
accumulator  = { overflow = "wrap" }
"""


def test_a_10_bit_accumulator_shows_its_overflows(tmp_path, capsys):
    policy = tmp_path / "acc10.toml"
    policy.write_text(ACC10)
    out = tmp_path / "run"
    assert main(["train", "--policy", str(policy), "--limit", "80", "--batch", "16",
                 "--epochs", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: epoch 1: accumulators overflowed in more than 1% of their sums: " \
           "l1_conv forward" in err
    metrics = pd.read_csv(out / "metrics.csv")
    forward = metrics["l1_conv.accumulator.forward.overflows"]
    assert (forward > 0).all()
    # every sum is counted: 80 training images x 16 channels x 8 x 8 outputs per epoch
    sums = forward / metrics["l1_conv.accumulator.forward.sat_rate"]
    assert sums.round().tolist() == [80 * 16 * 64] * 2
    assert (metrics["l2_conv.accumulator.backward_weight.events"]
            >= metrics["l2_conv.accumulator.backward_weight.overflows"]).all()
    assert "l1_conv.accumulator.backward_input.overflows" not in metrics  # first layer: none
    assert "fc.accumulator.backward_input.overflows" in metrics  # wrap counts too
    quantizers = pd.read_csv(out / "quantizers.csv").set_index("quantizer")
    assert quantizers.loc["l1_conv.accumulator", "bits"] == 10
    assert quantizers.loc["l1_conv.accumulator", "overflow"] == "saturate"
    assert quantizers.loc["fc.accumulator", "overflow"] == "wrap"
    assert main(["report", str(out)]) == 0
    assert (out / "saturation.png").read_bytes()[:4] == b"\x89PNG"
    table = saturation_table(metrics)
    assert {"accumulator.forward", "accumulator.backward_input",
            "accumulator.backward_weight", "weights", "act_grads"} <= set(table)
    assert table["accumulator.forward"].loc["l1_conv"].tolist() == \
        metrics["l1_conv.accumulator.forward.sat_rate"].tolist()
    assert main(["policies", "--net", "digits_cnn", "--policy", str(policy)]) == 0
    listing = capsys.readouterr().out
    line = next(x for x in listing.splitlines() if x.strip().startswith("l2_conv.accumulator"))
    assert "10" in line.split() and "saturate" in line.split()


def test_wide_accumulators_are_listed_and_not_counted(tmp_path, capsys):
    assert main(["policies", "--net", "digits_cnn", "--policy", "int8"]) == 0
    listing = capsys.readouterr().out
    line = next(x for x in listing.splitlines() if x.strip().startswith("fc.accumulator"))
    assert "wide" in line.split()
