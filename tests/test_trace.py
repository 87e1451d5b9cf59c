"""``fxsim.trace`` and ``fxsim trace``: a traced step replays through an independent model of
the documented arithmetic (tests/trace_model.py) with no mismatch; the hex files hold what the
NPZ holds; selection keeps a trace small; tracing changes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from interrupts import stop_at
from trace_model import TAPS, lfsr_draws, lfsr_steps, random_top_bits, read_hex, replay

import fxsim
from fxsim.cli import main
from fxsim.policy import Policy
from fxsim.training.loop import Interrupted, TrainConfig, train

# stochastic_k master rounding, a saturating narrow accumulator, percentile (clipping)
# activations after batch norm, real-step weights: every kind of event and arithmetic
MIXED = """
name = "mixed"
[defaults]
weights      = { bits = 6, rounding = "nearest_even", range = "minmax", scale = "real" }
activations  = { bits = 8, rounding = "nearest_away", range = "minmax" }
act_grads    = { bits = 8, rounding = "stochastic", range = "minmax" }
weight_grads = { bits = 12, rounding = "stochastic_k", random_bits = 5, range = "minmax" }
master       = { bits = 30, frac = 22, rounding = "stochastic_k", random_bits = 8 }
accumulator  = { bits = 14, overflow = "saturate" }
[kinds.batchnorm]
activations  = { bits = 5, range = "percentile", percentile = 90.0 }
[layers.fc]
accumulator  = { bits = 12, overflow = "wrap" }
"""

# every stochastic rounding from the LFSR source (docs/semantics.md, "The LFSR source"): several
# lanes, a narrow generator, 'stochastic' from a 64-bit one, the optimizer's three conversions
LFSR = """
name = "lfsr"
[defaults]
weights     = { bits = 8, range = "minmax" }
activations = { bits = 8, range = "minmax" }
[defaults.act_grads]
bits = 8
rounding = "stochastic_k"
random_bits = 6
random = "lfsr"
lfsr_lanes = 4
[defaults.weight_grads]
bits = 12
rounding = "stochastic"
random = "lfsr"
lfsr_width = 64
lfsr_lanes = 3
[defaults.master]
bits = 24
frac = 20
rounding = "stochastic_k"
random_bits = 5
random = "lfsr"
lfsr_width = 7
lfsr_lanes = 5
"""


@pytest.fixture(scope="module")
def policy_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy")
    for name, text in (("mixed", MIXED), ("lfsr", LFSR)):
        (folder / f"{name}.toml").write_text(text)
    return {name: str(folder / f"{name}.toml") for name in ("mixed", "lfsr")}


@pytest.mark.parametrize("policy", ["sr8", "int4_interval", "arc4", "mixed", "lfsr"])
def test_traced_step_replays_through_the_documented_arithmetic(tmp_path, policy, policy_files):
    config = TrainConfig(policy=policy_files.get(policy, policy), limit=40, batch=8, epochs=2)
    run = tmp_path / "run"
    train(config, run)
    out = tmp_path / "trace"
    assert main(["trace", str(run), "--step", "6", "--out", str(out)]) == 0  # epoch 2, batch 2
    document = json.loads((out / "trace.json").read_text())
    kinds = {e["kind"] for e in document["events"]}
    assert {"quantize", "requantize", "mac", "bias", "ste", "update"} <= kinds
    assert {e["step"] for e in document["events"]} == {6}
    errors = replay(out)
    assert not errors, errors[:10]
    if policy == "mixed":
        assert any(e["kind"] == "mac" and e["saturated"] for e in document["events"])
        assert any("clamped" in e["tensors"] and e["saturated"] for e in document["events"])
    if policy == "lfsr":  # every stochastic event drew from the LFSRs
        sources = {json.dumps(e["random"], sort_keys=True) for e in document["events"]
                   if e.get("random_bits")}
        assert sources == {json.dumps({"kind": "lfsr", "width": w, "lanes": n}, sort_keys=True)
                           for w, n in ((32, 4), (64, 3), (7, 5))}


def test_hex_files_hold_the_npz_tensors_at_the_format_width(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(policy="sr8", limit=24, batch=8, epochs=1), run)
    with fxsim.trace(layers=["l1_*"], steps=[1]) as recorded:
        pass  # nothing trained inside: no event
    assert recorded.events == []
    traced = fxsim.tracing.trace_run(run, 1, layers=["l2_conv"])
    assert {e.layer for e in traced.events} == {"l2_conv"}
    folder = traced.save(tmp_path / "t")
    document = json.loads((folder / "trace.json").read_text())
    with np.load(folder / "trace.npz") as data:
        for event in document["events"]:
            for meta in event["tensors"].values():
                lines = (folder / meta["hex"]).read_text().split()
                assert len(lines) == meta["size"]
                assert {len(x) for x in lines} == {-(-meta["bits"] // 4)}
                from_hex = read_hex(folder / meta["hex"], meta)
                assert np.array_equal(np.asarray(from_hex, dtype=data[meta["npz"]].dtype),
                                      data[meta["npz"]])
    weights = next(e for e in document["events"] if e["role"] == "weights")
    q = weights["tensors"]["q"]
    assert q["bits"] == 8 and q["signed"] and q["frac"] is not None


def test_tracing_changes_no_bit_of_the_run(tmp_path):
    config = TrainConfig(policy="cqat", limit=24, batch=8, epochs=1)
    plain = train(config, tmp_path / "plain")
    with fxsim.trace() as recorded:
        traced = train(config, tmp_path / "traced")
    assert recorded.events and traced.summary["state_sha256"] == plain.summary["state_sha256"]


def test_tracing_a_moved_run_leaves_its_folder_untouched(tmp_path):
    """A run whose policy file is gone is traced with the policy it recorded, and writes
    nothing into its folder (before, replaying rewrote the folder's settings)."""
    policy = tmp_path / "p.toml"
    policy.write_text(Policy.load("sr8").to_toml())
    run = tmp_path / "run"

    with pytest.raises(Interrupted):  # a checkpoint of epoch 1 that the replay continues
        train(TrainConfig(policy=str(policy), limit=24, batch=8, epochs=2), run,
              progress=stop_at("train", 2))
    policy.unlink()
    before = {f.name: f.read_bytes() for f in run.iterdir()}
    traced = fxsim.tracing.trace_run(run, 4, layers=["l2_conv"])  # step 4: in epoch 2
    assert traced.events and traced.run["fxsim_source"] == json.loads(
        (run / "summary.json").read_text())["versions"]["fxsim_source"]
    assert {f.name: f.read_bytes() for f in run.iterdir()} == before


def test_random_words_match_the_documented_generator():
    """The generator of docs/semantics.md, written independently, gives fxsim's words."""
    from fxsim.numeric.rng import random_word_py, stream_key

    for seed, stream in ((0, 0), (7, 12345), (2**64 - 1, 2**63 + 5)):
        mine = random_top_bits(seed, stream, 50, 64)
        assert mine == [random_word_py(stream_key(seed, stream), i) for i in range(50)]
    x = np.linspace(-3, 3, 4001)
    codes = fxsim.quantize(x, fxsim.QFormat(8, 3), "stochastic_k", seed=9, stream=77,
                           random_bits=6).raw
    draws = random_top_bits(9, 77, x.size, 6)
    from fractions import Fraction

    from trace_model import round_exact
    want = [round_exact(Fraction(v) * 8, "stochastic_k", r, 6)
            for v, r in zip(x, draws, strict=True)]
    assert codes.tolist() == want


def test_the_documented_lfsr_source_is_fxsims():
    """docs/semantics.md's LFSR (taps, seeds, lanes, leaps, bit order), written independently,
    gives fxsim's random integers; its worked example holds."""
    from fxsim.numeric import lfsr
    from fxsim.numeric._lfsr_kernels import lfsr_words

    assert lfsr.TAPS == TAPS
    states = [1]
    for _ in range(3):
        states.append(lfsr_steps(states[-1], 2, 4))
    assert states == [0b0001, 0b0100, 0b0011, 0b1101]
    assert [s & 3 for s in states] == lfsr.sequence(4, 2, 1, 4) == [1, 0, 3, 1]
    for width, lanes, k, count in ((32, 1, 8, 60), (7, 5, 5, 43), (64, 3, 62, 20),
                                   (16, 100, 4, 30), (2, 2, 1, 9)):
        source = lfsr.RandomSource("lfsr", width, lanes)
        words = lfsr_words(count, k, source, seed=9, stream=77)
        assert [int(w) >> (64 - k) for w in words] == lfsr_draws(9, 77, count, k, width, lanes)
    x = np.linspace(-3, 3, 2001)
    codes = fxsim.quantize(x, fxsim.QFormat(8, 3), "stochastic_k", seed=5, stream=3,
                           random_bits=6, random_source=lfsr.RandomSource("lfsr", 16, 7)).raw
    from fractions import Fraction

    from trace_model import round_exact
    draws = lfsr_draws(5, 3, x.size, 6, 16, 7)
    assert codes.tolist() == [round_exact(Fraction(v) * 8, "stochastic_k", r, 6)
                              for v, r in zip(x, draws, strict=True)]


def test_trace_errors_are_clear(tmp_path, capsys):
    run = tmp_path / "run"
    train(TrainConfig(limit=24, batch=8, epochs=1), run)
    assert main(["trace", str(run), "--step", "99", "--out", str(tmp_path / "t")]) == 2
    assert "--step must be a training step of the run, 0..2" in capsys.readouterr().err
    assert main(["trace", str(run), "--step", "0", "--layer", "nope",
                 "--out", str(tmp_path / "t")]) == 2
    assert "recorded no event" in capsys.readouterr().err
    assert main(["trace", str(tmp_path / "none"), "--step", "0", "--out", str(tmp_path / "t")]) == 2
    assert "is not a run folder of fxsim train" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="do not nest"), fxsim.trace(), fxsim.trace():
        pass


def test_the_model_catches_a_wrong_code_or_mask(tmp_path):
    """The replay can fail: one code changed in a hex file, or one mask bit, is reported."""
    run = tmp_path / "run"
    train(TrainConfig(policy="cqat", limit=24, batch=8, epochs=1), run)
    folder = fxsim.tracing.trace_run(run, 1, layers=["l1_*"]).save(tmp_path / "t")
    assert replay(folder) == []
    document = json.loads((folder / "trace.json").read_text())
    event = next(e for e in document["events"] if e["kind"] == "requantize")
    path = folder / event["tensors"]["q"]["hex"]
    lines = path.read_text().split()
    width = event["tensors"]["q"]["bits"]
    lines[3] = f"{(int(lines[3], 16) + 1) % (1 << width):0{-(-width // 4)}x}"
    path.write_text("\n".join(lines) + "\n")
    assert replay(folder) == [f"{event['id']}: 1 codes differ"]


def test_streams_follow_the_documented_site_numbering(tmp_path):
    """docs/semantics.md, section 3: sites in build order, the optimizer's at 2**19 + 3p + j."""
    run = tmp_path / "run"
    train(TrainConfig(policy="sr8", limit=24, batch=8, epochs=1), run)
    sites = {"input.activations": 0}
    for layer, roles in (("l1_conv", 4), ("l1_bn", 1), ("l2_conv", 4), ("l2_bn", 1),
                         ("fc", 5)):
        names = (["activations"] if roles == 1 else
                 ["weights", "activations", "act_grads", "weight_grads", "bias_grads"][:roles])
        for name in names:
            sites[f"{layer}.{name}"] = len(sites)
    params = ["l1_conv.weight", "l1_bn.gamma", "l1_bn.beta", "l2_conv.weight", "l2_bn.gamma",
              "l2_bn.beta", "fc.weight", "fc.bias"]
    step = 2

    def stream(site: int) -> int:
        return (((step << 1) | 0) << 24) | (site << 4) | 0

    traced = fxsim.tracing.trace_run(run, step)
    checked = 0
    for e in traced.events:
        if e.kind in ("quantize", "requantize"):
            assert e.fields["stream"] == stream(sites[e.fields["quantizer"]]), e.fields
            checked += 1
        elif e.kind == "update":
            p = params.index(e.fields["param"])
            assert e.fields["streams"] == [stream(2**19 + 3 * p + j) for j in range(3)]
            checked += 1
    assert checked >= 20
