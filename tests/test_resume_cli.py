"""``fxsim train --out DIR --resume`` reads the run's own settings; ``--epochs N`` extends a run;
interrupts say what is saved; divergence is reported where it starts and keeps the last good
checkpoint."""

from __future__ import annotations

import json

import pytest
from interrupts import stop_at

from fxsim.cli import _interrupted_message, main
from fxsim.training.loop import Diverged, Interrupted, TrainConfig, train

TINY = ["--limit", "64", "--batch", "16", "--quiet"]


def _summary(folder) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_resume_needs_only_the_folder_and_epochs_extends(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--policy", "sr8", "--out", str(out)]) == 0
    assert main(["train", "--out", str(out), "--resume"]) == 0  # finished: nothing to do
    assert _summary(out)["epochs_done"] == 1
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3"]) == 0
    err = capsys.readouterr().err
    assert "extended from 1 to 3 epochs" in err
    summary = _summary(out)
    assert summary["finished"] and summary["epochs_done"] == 3
    assert summary["config"]["extended_from"] == [1]
    # the extended run is a pure function of its settings
    again = train(TrainConfig(policy="sr8", limit=64, batch=16, epochs=3, extended_from=(1,)),
                  tmp_path / "again")
    assert again.summary["state_sha256"] == summary["state_sha256"]
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 2
    assert "a run can be extended, not shortened" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--lr", "0.1"]) == 2
    assert "lr (the run has 0.05, given 0.1)" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_interrupts_say_what_is_saved(tmp_path):
    config = TrainConfig(limit=64, batch=16, epochs=2)
    first = tmp_path / "first"
    with pytest.raises(Interrupted) as stop:
        train(config, first, progress=stop_at("train", 1))
    message = _interrupted_message("train", stop.value)
    assert "interrupted in epoch 1, before the first checkpoint" in message
    assert f"fxsim train --out {first} --resume` starts the run over" in message
    resumed = train(config, first, resume=True)
    whole = train(config, tmp_path / "whole")
    assert resumed.summary["state_sha256"] == whole.summary["state_sha256"]
    later = tmp_path / "later"
    with pytest.raises(Interrupted) as stop:
        train(config, later, progress=stop_at("train", 2))
    message = _interrupted_message("train", stop.value)
    assert "interrupted in epoch 2; epochs 1-1 are saved" in message
    assert "continues from epoch 2, bit-exactly" in message


def test_divergence_is_reported_where_it_starts(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--lr", "1e8", "--schedule", "constant", "--limit", "200",
                 "--batch", "8", "--epochs", "3", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("training diverged at epoch 2, step 7: the first non-finite value appeared in "
            "layer 'l2_conv', role 'act_grads'") in err
    assert "the checkpoint of epoch 1 is kept" in err
    assert "overflow" not in err.lower() and "RuntimeWarning" not in err
    summary = _summary(out)
    assert summary["status"] == "diverged" and not summary["finished"]
    assert summary["diverged"]["epoch"] == 2 and summary["diverged"]["layer"] == "l2_conv"
    assert summary["epochs_done"] == 1
    with pytest.raises(Diverged):  # the last good checkpoint resumes (and diverges again)
        train(TrainConfig(lr=1e8, schedule="constant", limit=200, batch=8, epochs=3), out,
              resume=True)


@pytest.mark.parametrize(("args", "message"), [
    (["--batch", "0"], "argument --batch: must be an integer >= 1, got 0"),
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
    (["--milestones", "0"], "argument --milestones: must be an integer >= 1, got 0"),
])
def test_bad_numbers_are_refused_by_the_parser(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", *args, "--out", str(tmp_path / "x")])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_modes_refuses_zero_samples(capsys):
    with pytest.raises(SystemExit):
        main(["modes", "--samples", "0"])
    assert "argument --samples: must be an integer >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--schedule", "step"], "schedule 'step' needs milestones"),
    (["--schedule", "step", "--milestones", "5"], "milestones must be epochs in 1..4"),
    (["--schedule", "step", "--milestones", "3", "2"], "milestones must be increasing"),
    (["--milestones", "2"], "milestones apply only to the 'step' schedule"),
    (["--warmup-epochs", "6"], "warmup_epochs must be at most the 5 epochs"),
    (["--lr", "nan"], "lr must be a finite number > 0"),
    (["--momentum", "1.5"], "momentum must be a number in [0, 1)"),
])
def test_bad_schedules_are_refused_before_anything_is_written(args, message, tmp_path, capsys):
    assert main(["train", *args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _policy_file(folder, bits: int):
    from fxsim.policy import Policy

    folder.mkdir(parents=True, exist_ok=True)
    text = Policy.load("int8").to_toml().replace("[defaults.act_grads]\nbits = 8",
                                                 f"[defaults.act_grads]\nbits = {bits}")
    assert f"[defaults.act_grads]\nbits = {bits}" in text
    path = folder / "policy.toml"
    path.write_text(text)
    return path


def test_a_moved_run_folder_resumes_with_its_own_policy(tmp_path, capsys):
    """A sweep folder moved (or mounted at another path) names its policy files by paths that
    no longer hold them: the run resumes, judged by the policy it recorded, bit-exactly."""
    policy = _policy_file(tmp_path / "a" / "policies", 6)
    config = TrainConfig(policy=str(policy), limit=64, batch=16, epochs=2)
    with pytest.raises(Interrupted):
        train(config, tmp_path / "a" / "run", progress=stop_at("train", 2))
    (tmp_path / "a").rename(tmp_path / "b")
    moved = tmp_path / "b" / "run"
    # from Python, naming the policy where it is now
    resumed = train(TrainConfig(policy=str(tmp_path / "b" / "policies" / "policy.toml"),
                                limit=64, batch=16, epochs=2), moved, resume=True)
    whole = train(TrainConfig(policy=str(_policy_file(tmp_path / "c", 6)), limit=64, batch=16,
                              epochs=2), tmp_path / "whole")
    assert resumed.summary["state_sha256"] == whole.summary["state_sha256"]
    assert "b/policies/policy.toml" in (moved / "config.toml").read_text()
    # from the command line, whose config.toml names a file that is gone: the recorded policy
    (tmp_path / "b" / "policies" / "policy.toml").unlink()
    assert main(["train", "--out", str(moved), "--resume", "--epochs", "3"]) == 0
    assert _summary(moved)["epochs_done"] == 3
    assert str(moved / "policy.toml") in (moved / "config.toml").read_text()


def test_resume_refuses_an_edited_policy_file(tmp_path):
    policy = _policy_file(tmp_path, 6)
    config = TrainConfig(policy=str(policy), limit=64, batch=16, epochs=2)
    with pytest.raises(Interrupted):
        train(config, tmp_path / "run", progress=stop_at("train", 2))
    _policy_file(tmp_path, 5)  # same name, other policy
    with pytest.raises(ValueError, match="made with another policy than"):
        train(config, tmp_path / "run", resume=True)
