"""Measured class-group shares from a training run folder (costmodel.shares_from_run, --run)."""

import pytest

import costmodel
import fxsim.cli
from fxsim.policy import Policy

METRICS = """epoch,lr,train_loss,train_acc,easy_classes,easy_share,test_acc
1,0.05,1.9,0.4,-,0.0,0.5
2,0.04,1.1,0.7,0 1 7,0.3,0.7
3,0.02,0.6,0.85,0 1 2 7,0.45,0.8
"""
MEAN_SHARE = (0.0 + 0.3 + 0.45) / 3


def write_run(folder, policy="cdmp", metrics=METRICS):
    folder.mkdir()
    (folder / "config.toml").write_text('net = "digits_cnn"\nbatch = 8\npolicy = "cdmp"\n')
    (folder / "policy.toml").write_text(Policy.load(policy).to_toml())
    (folder / "metrics.csv").write_text(metrics)
    return folder


def test_shares_from_run_is_the_mean_easy_share(tmp_path):
    run = write_run(tmp_path / "run")
    shares = costmodel.shares_from_run(run)
    assert shares == {"easy": pytest.approx(MEAN_SHARE)}
    measured = costmodel.estimate("digits_cnn", run / "policy.toml", 8, shares=shares)
    by_hand = costmodel.estimate("digits_cnn", "cdmp", 8, shares={"easy": MEAN_SHARE})
    assert measured.equals(by_hand)
    assert not measured.equals(costmodel.estimate("digits_cnn", "cdmp", 8))  # share 0.5
    assert costmodel.shares_from_run(write_run(tmp_path / "plain", "int8")) == {}


@pytest.mark.parametrize("metrics, message", [
    ("epoch,train_loss\n1,0.5\n", "no column 'easy_share'"),
    ("epoch,easy_share\n1,0.2\n2,1.5\n", "row 2, column 'easy_share'.*got '1.5'"),
    ("epoch,easy_share\n1,abc\n", "row 1, column 'easy_share'"),
    ("epoch,easy_share\n", "no epochs"),
])
def test_shares_from_run_errors(tmp_path, metrics, message):
    with pytest.raises(ValueError, match=message):
        costmodel.shares_from_run(write_run(tmp_path / "run", metrics=metrics))


def test_shares_from_run_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"policy\.toml does not exist"):
        costmodel.shares_from_run(tmp_path)


def test_cost_run_uses_measured_shares(capsys, tmp_path):
    run = write_run(tmp_path / "run")
    out_csv = tmp_path / "cost.csv"
    assert fxsim.cli.main(["cost", "--run", str(run), "--baseline", "fp",
                           "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "Policy 'cdmp' on digits_cnn, batch 8" in out
    assert f"measured shares easy {MEAN_SHARE:.4g}" in out and "fp (baseline)" in out
    import pandas as pd

    frame = pd.read_csv(out_csv)
    assert frame.groupby("group")["share"].first()["easy"] == pytest.approx(MEAN_SHARE)
    # --net/--policy/--batch given explicitly win over the run's
    assert fxsim.cli.main(["cost", "--run", str(run), "--net", "mnist_cnn", "--batch", "2"]) == 0
    assert "Policy 'cdmp' on mnist_cnn, batch 2" in capsys.readouterr().out


def test_sweep_table_prices_a_grouped_run_with_its_shares_read_once_per_version(tmp_path,
                                                                                  monkeypatch):
    from types import SimpleNamespace

    from fxsim.sweep.table import CostCache

    run = write_run(tmp_path / "run")
    policy = Policy.load("cdmp").to_dict()
    point = SimpleNamespace(train={"net": "digits_cnn", "batch": 8}, policy=policy,
                            policy_key="cdmp")
    reads = []
    real = costmodel.shares_from_run
    monkeypatch.setattr(costmodel, "shares_from_run", lambda d: reads.append(d) or real(d))
    costs = CostCache()
    first = costs.columns(point, run)
    assert costs.columns(point, run) == first and len(reads) == 1  # unchanged metrics.csv
    (run / "metrics.csv").write_text(METRICS.replace(",0.45,", ",0.95,"))  # a later epoch
    later = costs.columns(point, run)
    assert len(reads) == 2 and later != first
    priced = costmodel.compare({"point": policy}, net="digits_cnn", batch=8,
                               shares=real(run)).iloc[-1]
    assert all(later[c] == float(priced[c]) for c in later)
