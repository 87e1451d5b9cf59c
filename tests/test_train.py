"""Training runs: accuracy on the digits, bit-exact resume, thread-count independence, the run
folder, the command line and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fxsim.cli import main
from fxsim.training.difficulty import ClassDifficulty
from fxsim.training.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"limit": 256, "batch": 32, "epochs": 2}


def test_digits_int8_reaches_95_percent(tmp_path):
    run = train(TrainConfig(epochs=3), tmp_path / "run")
    assert run.summary["test_acc"] >= 0.95
    assert run.summary["finished"] and run.summary["epochs_done"] == 3
    metrics = run.metrics
    assert list(metrics["epoch"]) == [1, 2, 3]
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]
    # per-class accuracy, per-quantizer saturation and scale, wall time
    assert {f"test_acc_class_{c}" for c in range(10)} <= set(metrics.columns)
    assert {"l1_conv.act_grads.sat_rate", "l1_conv.act_grads.frac", "fc.weights.frac",
            "wall_time_s"} <= set(metrics.columns)
    for name in ("config.toml", "policy.toml", "quantizers.csv", "metrics.csv", "summary.json",
                 "checkpoint.npz", "grad_histograms.csv"):
        assert (tmp_path / "run" / name).is_file()
    quantizers = pd.read_csv(tmp_path / "run" / "quantizers.csv").set_index("quantizer")
    assert quantizers.loc["l1_bn.activations", "signed"] == False  # noqa: E712 (fused ReLU)
    assert quantizers.loc["l1_conv.activations", "signed"] == True  # noqa: E712
    assert quantizers.loc["fc.act_grads", "bits"] == 8
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(summary["weights_sha256"]) == 64 and summary["versions"]["numpy"]


@pytest.mark.parametrize("policy", ["sr8", "cdmp"])
def test_interrupted_and_resumed_run_is_bit_exact(tmp_path, policy):
    config = TrainConfig(policy=policy, **SMALL)
    whole = train(config, tmp_path / "whole")
    first = train(config, tmp_path / "parts", stop_after=1)
    assert not first.summary["finished"]
    resumed = train(config, tmp_path / "parts", resume=True)
    for key in ("weights_sha256", "state_sha256", "test_acc"):
        assert resumed.summary[key] == whole.summary[key]
    columns = [c for c in whole.metrics.columns if c != "wall_time_s"]
    pd.testing.assert_frame_equal(resumed.metrics[columns], whole.metrics[columns])


def test_stochastic_rounding_seed_changes_the_run(tmp_path):
    a = train(TrainConfig(policy="sr8", seed=1, **SMALL), tmp_path / "a")
    b = train(TrainConfig(policy="sr8", seed=2, **SMALL), tmp_path / "b")
    assert a.summary["weights_sha256"] != b.summary["weights_sha256"]


def _hash_in_subprocess(tmp_path: Path, threads: int, policy: str) -> str:
    out = tmp_path / f"t{threads}"
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    code = ("from fxsim.training.loop import TrainConfig, train; import sys; "
            f"r = train(TrainConfig(policy={policy!r}, limit=128, epochs=1), sys.argv[1]); "
            "print(r.summary['state_sha256'])")
    done = subprocess.run([sys.executable, "-c", code, str(out)], env=env, capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("policy", ["sr8", "int4_interval"])
def test_thread_count_does_not_change_the_state(tmp_path, policy):
    assert _hash_in_subprocess(tmp_path, 1, policy) == _hash_in_subprocess(tmp_path, 2, policy)


def test_fp_baseline_runs_the_same_net_in_float(tmp_path):
    run = train(TrainConfig(policy="fp", **SMALL), tmp_path / "fp")
    assert run.summary["test_acc"] > 0.5
    assert not any(c.endswith(".sat_rate") for c in run.metrics.columns)


def test_class_difficulty_split_follows_measured_accuracy():
    tracker = ClassDifficulty(num_classes=3, threshold=0.75, window=2)
    assert not tracker.easy_classes().any()  # nothing seen yet: every class is hard
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    tracker.record(labels, np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0]))  # 3/4, 2/4, 0/2
    assert tracker.easy_classes().tolist() == [True, False, False]
    tracker.record(labels, np.array([0, 1, 1, 1, 1, 1, 1, 1, 2, 2]))  # 1/4, 4/4, 2/2
    assert tracker.accuracy().tolist() == [0.5, 0.75, 0.5]
    assert tracker.easy_classes().tolist() == [False, True, False]
    tracker.record(labels, labels)  # the oldest step leaves the window
    assert tracker.accuracy().tolist() == [5 / 8, 1.0, 1.0]


def test_cdmp_logs_its_split(tmp_path):
    run = train(TrainConfig(policy="cdmp", **SMALL), tmp_path / "cdmp")
    assert {"easy_classes", "easy_share"} <= set(run.metrics.columns)
    assert run.metrics["easy_share"].iloc[0] == 0.0  # the first epoch runs all classes high-bit


def test_cli_train_report_and_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--limit", "128", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    for png in ("curves.png", "grad_histograms.png", "saturation.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # a second run into the same folder is refused; --resume with other settings too
    assert main(["train", "--limit", "128", "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--limit", "64", "--epochs", "1", "--out", str(out), "--resume"]) == 2
    assert "limit (the run has 128, given 64)" in capsys.readouterr().err
    assert main(["train", "--policy", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "neither a file nor a shipped policy" in capsys.readouterr().err
    assert main(["train", "--data", "cifar10", "--net", "resnet20",
                 "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "data-dir" in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_cli_policies(capsys):
    assert main(["policies"]) == 0
    listing = capsys.readouterr().out
    for name in ("fp", "int8", "sr8", "arc8", "arc4", "cqat", "cdmp", "int4_interval",
                 "int4_minmax"):
        assert f"  {name} " in listing
    assert main(["policies", "--show", "arc8"]) == 0
    assert 'range = "zscore"' in capsys.readouterr().out
    assert main(["policies", "--net", "resnet20", "--policy", "int4_interval"]) == 0
    table = capsys.readouterr().out
    assert "s3b2_conv2" in table and "large_grad_interval" in table


def test_net_and_data_shapes_must_agree():
    from fxsim.policy import Policy
    from fxsim.training.network import Network
    from reference_nets import build_net

    with pytest.raises(ValueError, match="expects 1 input channels, the net gives 3"):
        Network(build_net("digits_cnn"), (3, 8, 8), 10, Policy.load("int8"))
    with pytest.raises(ValueError, match=r"output shape is \(10,\), expected \(7,\)"):
        Network(build_net("digits_cnn"), (1, 8, 8), 7, Policy.load("int8"))
    with pytest.raises(ValueError, match="net must be one of digits_cnn"):
        build_net("alexnet")
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2"):
        from reference_nets.specs import resnet

        resnet(21)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True])
def test_seeds_outside_64_bits_are_refused(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        TrainConfig(seed=seed)


def test_large_seeds_do_not_alias_small_ones_in_initial_weights():
    from fxsim.layers.base import Binder
    from fxsim.policy import Policy

    fp = Policy.load("fp")
    small = Binder(fp, seed=5).rng("conv1").random(4)
    large = Binder(fp, seed=5 + 2**32).rng("conv1").random(4)
    assert not np.array_equal(small, large)
    with pytest.raises(ValueError, match=r"seed must be an integer in 0..2\*\*64-1, got -3"):
        Binder(fp, seed=-3)


def test_resume_under_other_fxsim_source_warns(tmp_path, monkeypatch):
    import fxsim.training.loop as train_module

    config = TrainConfig(**SMALL)
    train(config, tmp_path / "run", stop_after=1)
    monkeypatch.setattr(train_module, "run_source_digest", lambda modules=(): "f" * 16)
    with pytest.warns(RuntimeWarning, match="other fxsim source"):
        train(config, tmp_path / "run", resume=True)


def test_every_quantizer_has_its_own_name():
    """A linear layer's weight- and bias-gradient quantizers (both of role weight_grads) are
    reported and checkpointed under their own names."""
    from fxsim.layers.base import Binder
    from fxsim.layers.mac import Linear
    from fxsim.policy import Policy
    from fxsim.training.network import Network
    from reference_nets import build_net

    net = Network(build_net("digits_cnn"), (1, 8, 8), 10, Policy.load("int8"))
    (fc,) = [layer for layer in net.body.walk() if isinstance(layer, Linear)]
    assert net.quantizers[f"{fc.name}.weight_grads"] is fc.q_wgrad.items[0]
    assert net.quantizers[f"{fc.name}.bias_grads"] is fc.q_bgrad.items[0]
    binder = Binder(Policy.load("int8"), seed=0)
    binder.quantizers_for("l", "weights", "conv2d")
    with pytest.raises(ValueError, match=r"two quantizers named 'l\.weights'"):
        binder.quantizers_for("l", "weights", "conv2d")
