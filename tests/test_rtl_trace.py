"""Co-simulation on a real run's tensors: a traced training step (fxsim trace) of a policy whose
gradients draw stochastic rounding's bits from the LFSRs; every requantizer and forward product
of the step matches fxsim and the outputs the run recorded."""

from __future__ import annotations

import pytest
from rtl_tools import icarus

from fxsim.cli import main

POLICY = """name = "sr8_lfsr"
[defaults]
weights = { bits = 8, range = "minmax" }
activations = { bits = 8, range = "minmax" }
master = { bits = 24, frac = 20 }
[defaults.act_grads]
bits = 8
rounding = "stochastic_k"
random_bits = 6
random = "lfsr"
lfsr_lanes = 4
[defaults.weight_grads]
bits = 12
rounding = "stochastic_k"
random_bits = 6
random = "lfsr"
lfsr_width = 16
"""


@pytest.fixture(scope="module")
def trace_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("trace")
    (root / "p.toml").write_text(POLICY)
    assert main(["train", "--policy", str(root / "p.toml"), "--epochs", "1", "--limit", "64",
                 "--out", str(root / "run"), "--quiet"]) == 0
    assert main(["trace", str(root / "run"), "--step", "1", "--layer", "fc", "--out",
                 str(root / "trace"), "--no-hex"]) == 0
    return root / "trace"


@icarus
def test_a_traced_step_matches_in_the_rtl(trace_folder, capsys):
    from fxsim.rtl.traces import trace_cases

    cases, skipped = trace_cases(trace_folder, max_outputs=40)
    kinds = {case.event.split("_")[1] for case in cases}
    assert kinds == {"requantize", "mac"}
    assert any(case.source is not None for case in cases)  # the LFSR-rounded weight gradients
    assert any("backward" in line for line in skipped)
    capsys.readouterr()
    assert main(["rtl", "check", "--trace", str(trace_folder), "--max-outputs", "40"]) == 0
    out = capsys.readouterr().out
    assert f"{len(cases)} of {len(cases)} units match fxsim bit for bit" in out


def test_a_folder_without_trace_json_is_refused(tmp_path, capsys):
    assert main(["rtl", "check", "--trace", str(tmp_path)]) == 2
    assert "is not a trace folder" in capsys.readouterr().err
