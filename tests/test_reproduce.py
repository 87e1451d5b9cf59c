"""fxsim reproduce: the sweep (plans, reuse, resume, stale folders, workers), the report files,
the claims section, the markdown renderer and the command line's errors."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

import costmodel
from fxsim.cli import build_parser, main
from fxsim.io import markdown_table
from fxsim.policy import Policy
from fxsim.reproduce import reproduce
from fxsim.reproduce.claims import CLAIMS, claims_markdown
from fxsim.reproduce.cli import regenerating_command
from fxsim.reproduce.measure import MeasureOptions
from fxsim.reproduce.report import RUN_COLUMNS
from fxsim.reproduce.runs import (
    check_policies,
    cifar_setup,
    derived_policy,
    digits_setup,
    plan_runs,
    run_state,
    run_sweep,
)
from fxsim.training.loop import train

LIMIT = 128
FAST = MeasureOptions(latency_elements=20_000, latency_repeats=1, step_timing=True,
                      step_repeats=1, step_policies=("int8", "arc8"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """int8 (and fp, added as the baseline) on 128 digits, 1 epoch, seeds 0 and 1."""
    root = tmp_path_factory.mktemp("reproduce")
    seen = []
    result = reproduce(policies=["int8"], seeds=2, epochs=1, limit=LIMIT, out=root / "docs",
                       runs_dir=root / "runs", command="fxsim reproduce --tiny",
                       callback=lambda o, done, total: seen.append((o, done, total)),
                       measure=FAST, workers=1)
    return root, result, seen


def test_tiny_reproduce_writes_both_files(tiny):
    root, _, seen = tiny
    runs = pd.read_csv(root / "docs" / "results.csv")
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert sorted(zip(runs["policy"], runs["seed"], strict=True)) == [
        ("fp", 0), ("fp", 1), ("int8", 0), ("int8", 1)]
    assert set(runs["status"]) == {"trained"} and set(runs["epochs"]) == {1}
    assert [done for _, done, _ in seen] == [1, 2, 3, 4] and {t for *_, t in seen} == {4}
    text = (root / "docs" / "RESULTS.md").read_text()
    assert "```bash\nfxsim reproduce --tiny\n```" in text
    assert f"limited here to {LIMIT} train" in text
    for header in ("| policy | seeds | acc mean % |", "## Machine and run times",
                   "| implementation | rounding | scale | wall_ms | cpu_ms |",
                   "| policy | steps | wall_ms_per_step | cpu_ms_per_step |"):
        assert header in text


def test_table_numbers_follow_the_runs(tiny):
    _, result, _ = tiny
    runs, table = result.runs, result.table.set_index("policy")
    acc = {p: runs.loc[runs["policy"] == p, "test_acc"].to_numpy() for p in ("fp", "int8")}
    assert table.loc["int8", "acc_mean"] == pytest.approx(acc["int8"].mean())
    assert table.loc["int8", "acc_std"] == pytest.approx(np.std(acc["int8"], ddof=1))
    assert table.loc["int8", "acc_min"] == acc["int8"].min()
    assert table.loc["int8", "drop_vs_fp"] == pytest.approx(acc["fp"].mean()
                                                            - acc["int8"].mean())
    summaries = [o.summary["test_acc"] for o in result.outcomes if o.plan.policy == "int8"]
    assert sorted(100 * np.array(summaries)) == pytest.approx(sorted(acc["int8"]))
    direct = costmodel.compare({"int8": "int8"}, baseline="fp", net="digits_cnn", batch=32)
    assert table.loc["int8", "energy_pj"] == pytest.approx(direct.loc[1, "energy_pj"])
    assert table.loc["int8", "compression_vs_fp"] == pytest.approx(
        direct.loc[1, "compression_ratio"])
    assert table.loc["fp", "energy_saving_vs_fp"] == 0


def test_second_call_trains_nothing(tiny):
    root, first, _ = tiny
    stamps = {o.plan.out: (o.plan.out / "checkpoint.npz").stat().st_mtime_ns
              for o in first.outcomes}
    seen = []
    again = reproduce(policies=["int8"], seeds=2, epochs=1, limit=LIMIT, out=root / "docs2",
                      workers=2,
                      runs_dir=root / "runs", callback=lambda o, *_: seen.append(o.status),
                      measure=MeasureOptions(latency_elements=0, step_timing=False))
    assert seen == ["reused"] * 4
    assert {o.plan.out: (o.plan.out / "checkpoint.npz").stat().st_mtime_ns
            for o in again.outcomes} == stamps
    assert [o.summary["state_sha256"] for o in again.outcomes] == [
        o.summary["state_sha256"] for o in first.outcomes]


def test_folder_of_other_settings_is_refused_before_training(tiny):
    root, _, _ = tiny
    longer = plan_runs(["int8"], 1, [digits_setup(2)], root / "runs", limit=LIMIT)
    with pytest.raises(ValueError, match=r"other settings \(epochs differ\)"):
        run_sweep(longer)
    copied = root / "copy"
    shutil.copytree(root / "runs" / "digits_cnn" / "int8" / "seed0",
                    copied / "digits_cnn" / "int8" / "seed0")
    policy_file = copied / "digits_cnn" / "int8" / "seed0" / "policy.toml"
    policy_file.write_text(policy_file.read_text().replace("bits = 16", "bits = 12"))
    plan = plan_runs(["int8"], 1, [digits_setup(1)], copied, limit=LIMIT)[1]
    with pytest.raises(ValueError, match="the policy's contents"):
        run_state(plan)


def test_run_of_other_fxsim_source_is_not_reused(tiny):
    root, _, _ = tiny
    copied = root / "other_source"
    seed0 = copied / "digits_cnn" / "int8" / "seed0"
    shutil.copytree(root / "runs" / "digits_cnn" / "int8" / "seed0", seed0)
    plan = plan_runs(["int8"], 1, [digits_setup(1)], copied, limit=LIMIT)[1]
    assert plan.out == seed0 and run_state(plan) == "finished"
    summary = json.loads((seed0 / "summary.json").read_text())
    summary["versions"]["fxsim_source"] = "0" * 16
    (seed0 / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=rf"fxsim source \(or the policy's rounding rules\): "
                                         rf"digest {'0' * 16}, now"):
        run_state(plan)


def test_partial_run_is_resumed(tmp_path):
    plan = plan_runs(["fp"], 1, [digits_setup(2)], tmp_path, limit=64)[0]
    train(plan.config, plan.out, stop_after=1)
    assert run_state(plan) == "partial"
    (outcome,) = run_sweep([plan])
    assert outcome.status == "resumed" and outcome.summary["epochs_done"] == 2
    assert run_state(plan) == "finished"


def test_workers_give_the_same_runs(tiny, tmp_path):
    _, first, _ = tiny
    plans = plan_runs(["int8"], 1, [digits_setup(1)], tmp_path, limit=LIMIT)
    outcomes = run_sweep(plans, workers=2)
    serial = {(o.plan.policy, o.plan.seed): o.summary["state_sha256"] for o in first.outcomes}
    assert [o.status for o in outcomes] == ["trained", "trained"]
    for o in outcomes:
        assert o.summary["state_sha256"] == serial[(o.plan.policy, o.plan.seed)]


def test_policy_selection_adds_baselines():
    assert check_policies(["cdmp"]) == ["cdmp", "fp", "cdmp_base"]
    assert check_policies(["int8", "int8"]) == ["fp", "int8"]
    assert "cdmp_base" in check_policies(None) and "sr8" in check_policies(None)
    base, cdmp = derived_policy("cdmp_base"), Policy.load("cdmp")
    assert base.groups == {} and base.class_difficulty is None
    assert base.defaults == cdmp.defaults and base.name == "cdmp_base"


def test_plans_cover_nets_policies_and_seeds(tmp_path):
    data = tmp_path / "cifar"
    data.mkdir()
    plans = plan_runs(["cdmp"], 2, [digits_setup(3), cifar_setup(data, 7)], tmp_path / "runs")
    assert len(plans) == 2 * 2 * 3
    r20 = [p for p in plans if p.net == "resnet20"]
    assert {p.config.epochs for p in r20} == {7} and {p.config.batch for p in r20} == {128}
    assert {p.config.data_dir for p in r20} == {str(data.resolve())}
    base = next(p for p in plans if p.policy == "cdmp_base")
    assert Policy.load(base.config.policy).class_difficulty is None
    assert base.out == tmp_path / "runs" / "digits_cnn" / "cdmp_base" / "seed0"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_policies(["int9"]), "unknown policy 'int9'; allowed: arc4"),
    (lambda: plan_runs(["int8"], 0, [digits_setup(1)]), "seeds must be an integer >= 1, got 0"),
    (lambda: digits_setup(0), "epochs must be an integer >= 1, got 0"),
    (lambda: run_sweep([], workers=0), "workers must be an integer >= 1, got 0"),
    (lambda: plan_runs(["int8"], 1, [digits_setup(1)], limit=-3), "limit must be an integer >= 1"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["reproduce", "--policies", "int8,nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown policy 'nope'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, naming the option
        main(["reproduce", "--seeds", "0", "--runs-dir", str(tmp_path)])
    assert stop.value.code == 2
    assert "argument --seeds: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["reproduce", "--data-dir", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "RESULTS.md").exists()


def test_regenerating_command_keeps_what_changes_results():
    args = build_parser().parse_args(["reproduce", "--seeds", "2", "--policies", "int8,cdmp",
                                      "--workers", "2", "--out", "x"])
    assert regenerating_command(args) == "fxsim reproduce --seeds 2 --epochs 5 --policies int8,cdmp"


def test_markdown_table_renders_formats_nan_and_pipes():
    frame = pd.DataFrame({"name": ["a|b", "c"], "acc": [98.123, math.nan], "n": [1, 22]})
    text = markdown_table(frame, {"acc": ".1f"}, {"acc": "acc %"})
    assert text == ("| name | acc % | n |\n"
                    "| --- | ---: | ---: |\n"
                    "| a\\|b | 98.1 | 1 |\n"
                    "| c | - | 22 |\n")


def _row(policy: str, mean: float, std: float = 0.2, **extra) -> dict:
    row = {"net": "digits_cnn", "policy": policy, "seeds": 3, "acc_mean": mean, "acc_std": std,
           "drop_vs_fp": 98.0 - mean, "energy_pj": 1e7, "area_um2": 4000.0,
           "energy_rounding_pj": 1e4, "energy_stats_pj": 3e4, "energy_rescale_pj": 0.0,
           "energy_saving_vs_fp": 0.8, "compression_vs_fp": 3.0,
           "energy_saving_vs_base": math.nan, "compression_vs_base": math.nan,
           "easy_share": math.nan}
    row.update(extra)
    return row


def _claims(**means) -> str:
    rows = [_row("fp", 98.0), _row("int8", 97.9), _row("sr8", means.get("sr8", 97.8)),
            _row("arc8", means.get("arc8", 97.7), energy_pj=means.get("arc8_pj", 1e7)),
            _row("arc4", 90.0),
            _row("int4_minmax", means.get("int4_minmax", 90.0)),
            _row("int4_interval", means.get("int4_interval", 95.0)),
            _row("cqat", means.get("cqat", 97.5)), _row("cdmp_base", 97.0),
            _row("cdmp", 96.9, easy_share=0.4, compression_vs_base=means.get("ratio", 1.1),
                 energy_saving_vs_base=0.1)]
    return claims_markdown(pd.DataFrame(rows), {})


def test_claims_section_names_every_paper_and_its_numbers():
    text = _claims()
    for title in CLAIMS.values():
        assert f"### {title}" in text
    assert "arc8 97.70% ± 0.20 vs sr8 97.80% ± 0.20" in text
    assert "drop +0.50 points (claim: 0.96)" in text
    assert "compression against cdmp_base 1.10x (claim: 1.33x) -> **disagrees**" in text
    assert "int4_interval 95.00% ± 0.20 vs int4_minmax 90.00% ± 0.20" in text


def test_claims_verdicts_follow_the_numbers():
    def section(text: str, key: str) -> str:
        start = text.index(f"### {CLAIMS[key]}")
        end = text.find("### ", start + 4)
        return text[start:end if end > 0 else None]

    good = _claims(arc8=97.8, cqat=97.5, int4_interval=95.0, ratio=1.4)
    bad = _claims(arc8=90.0, cqat=90.0, int4_interval=85.0, ratio=1.0, arc8_pj=1.1e7)
    tie = _claims(int4_interval=90.3)
    assert "at 8 bits: arc8 97.80%" in good and "**agrees**" in section(good, "arc")
    assert "**disagrees** (arc8 is lower)" in section(bad, "arc")
    assert "arc8 costs +0.0% energy and 1.00x the area of nearest rounding (int8; sr8: " \
           "1.00x) -> **agrees**" in good
    assert "arc8 costs +10.0% energy" in bad and "**disagrees** for the whole scheme" in bad
    assert "**agrees**" in section(good, "cqat") and "**disagrees**" in section(bad, "cqat")
    assert "**agrees**" in section(good, "int4")
    assert "**disagrees** (int4_minmax is better)" in section(bad, "int4")
    assert "**not shown**" in section(tie, "int4")
    assert "1.40x (claim: 1.33x) -> **agrees**" in section(good, "cdmp")
    missing = claims_markdown(pd.DataFrame([_row("fp", 98.0)]), {})
    assert "digits_cnn: not measured (cqat or fp not in this sweep)" in missing
    assert "digits_cnn: not measured (arc8 or sr8 not in this sweep)" in missing


def test_no_verdict_on_too_few_seeds_or_a_warm_up_dominated_run():
    one_seed = pd.DataFrame([{**row, "seeds": 1} for row in
                             (_row("fp", 98.0), _row("cqat", 90.0), _row("arc8", 90.0),
                              _row("sr8", 97.8))])
    text = claims_markdown(one_seed, {}, {"digits_cnn": 5})
    assert "**disagrees**" not in text and "**agrees**" not in text
    assert text.count("**too few seeds/epochs to judge** (1 seed(s); a verdict needs at "
                      "least 3)") == 2
    rows = [_row("cdmp_base", 97.0), _row("cdmp", 90.0, easy_share=0.0,
                                           compression_vs_base=1.0, energy_saving_vs_base=0.0)]
    short = claims_markdown(pd.DataFrame(rows), {}, {"digits_cnn": 2})
    assert "2 epoch(s), 1 of them cdmp's warm-up" in short and "**disagrees**" not in short
    long = claims_markdown(pd.DataFrame(rows), {}, {"digits_cnn": 3})
    assert "**disagrees** (cdmp is lower)" in long and "too few" not in long
