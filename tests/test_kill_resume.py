"""A run killed with SIGKILL at 30 random points and resumed each time ends with the same files
as an uninterrupted run, byte for byte apart from wall times; no temporary file survives."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
KILLS = 30
WALL_TIMES = ("wall_time_s", "elapsed")

POLICY = """
name = "kill_test"
description = "cdmp (class groups, stochastic rounding) with a wrapping 16-bit accumulator"
[defaults]
weights = { bits = 8, rounding = "nearest_even", range = "minmax" }
activations = { bits = 8, rounding = "nearest_even", range = "minmax" }
act_grads = { bits = 8, rounding = "stochastic", range = "minmax" }
weight_grads = { bits = 16, rounding = "stochastic", range = "minmax" }
master = { bits = 32, frac = 24, rounding = "stochastic" }
accumulator = { bits = 16, overflow = "wrap" }
[groups.easy]
activations = { bits = 4 }
act_grads = { bits = 6 }
[class_difficulty]
easy_group = "easy"
threshold = 0.3
window = 4
"""


def _without_wall_times(value):
    if isinstance(value, dict):
        return {k: _without_wall_times(v) for k, v in value.items() if k not in WALL_TIMES}
    if isinstance(value, list):
        return [_without_wall_times(v) for v in value]
    return value


def _csv_without_wall_times(path: Path) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    drop = [i for i, name in enumerate(rows[0]) if name in WALL_TIMES]
    return [[cell for i, cell in enumerate(row) if i not in drop] for row in rows]


def _checkpoint(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "meta"}
        meta = json.loads(str(data["meta"]))
    return {"arrays": arrays, "meta": _without_wall_times(meta)}


def assert_same_run_folder(got: Path, want: Path) -> None:
    """Every file of ``want`` is in ``got`` with the same contents (wall times aside), and
    ``got`` has no other file (no temporary left)."""
    names = sorted(p.name for p in got.iterdir())
    assert names == sorted(p.name for p in want.iterdir())
    for name in names:
        a, b = got / name, want / name
        if name == "metrics.csv":
            assert _csv_without_wall_times(a) == _csv_without_wall_times(b)
        elif name == "summary.json":
            assert (_without_wall_times(json.loads(a.read_text()))
                    == _without_wall_times(json.loads(b.read_text())))
        elif name == "checkpoint.npz":
            x, y = _checkpoint(a), _checkpoint(b)
            assert x["meta"] == y["meta"]
            assert x["arrays"].keys() == y["arrays"].keys()
            for key, value in x["arrays"].items():
                assert value.dtype == y["arrays"][key].dtype, key
                assert np.array_equal(value, y["arrays"][key]), key
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_sigkill_at_30_random_points_then_resume_equals_the_uninterrupted_run(tmp_path):
    policy = tmp_path / "kill_test.toml"
    policy.write_text(POLICY)
    out, reference = tmp_path / "killed", tmp_path / "reference"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "kill_resume.py"), str(out),
                           str(reference), str(policy), str(KILLS), "11"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    attempts = report["attempts"]
    assert len(attempts) == KILLS and report["final_exit"] == 0, (report, done.stderr)
    killed = [a for a in attempts if a["killed"]]
    assert len(killed) >= KILLS - 2, report  # a child may finish before its (last) point
    assert all(a["exit"] in (None, 0) for a in attempts), (report, done.stderr)
    assert len({a["resumed_at_epoch"] for a in killed}) >= 3, report  # kills all along the run
    assert_same_run_folder(out, reference)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["status"] == "finished"
    umask = os.umask(0)
    os.umask(umask)
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


@pytest.mark.parametrize("name", ["metrics.csv", "grad_histograms.csv", "summary.json"])
def test_resume_restores_rows_the_kill_kept_from_being_written(tmp_path, name):
    """The checkpoint is written first; a kill before the rows reach metrics.csv (simulated:
    the file of the last epoch is deleted, a temporary is left) loses nothing."""
    from fxsim.training.loop import TrainConfig, train

    config = TrainConfig(limit=96, epochs=2, policy="sr8")
    whole = tmp_path / "whole"
    train(config, whole)
    part = tmp_path / "part"
    train(config, part, stop_after=1)
    train(config, part, resume=True, stop_after=2)
    (part / name).unlink()
    (part / f".{name}.abcd1234.tmp").write_text("partial")
    train(config, part, resume=True)
    assert_same_run_folder(part, whole)


def test_a_checkpoint_from_before_rows_lived_in_it_keeps_the_csv_rows(tmp_path):
    from fxsim.training.loop import TrainConfig, train

    config = TrainConfig(limit=64, epochs=2, policy="sr8")
    whole = tmp_path / "whole"
    train(config, whole)
    old = tmp_path / "old"
    train(config, old, stop_after=1)
    with np.load(old / "checkpoint.npz") as data:  # rewrite it as the old format was
        arrays = {k: data[k] for k in data.files if not k.startswith("hist/")}
    meta = json.loads(str(arrays["meta"]))
    for key in ("rows", "hist_names"):
        del meta[key]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(old / "checkpoint.npz", **arrays)
    train(config, old, resume=True)
    assert _csv_without_wall_times(old / "metrics.csv") == \
        _csv_without_wall_times(whole / "metrics.csv")
    assert (old / "grad_histograms.csv").read_bytes() == \
        (whole / "grad_histograms.csv").read_bytes()
