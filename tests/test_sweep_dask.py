"""fxsim sweep on Dask distributed, on 127.0.0.1 only: a 2-worker LocalCluster gives the
weights of serial runs bit for bit; a separately started `dask scheduler` and two `dask worker`
processes run the same grid through --scheduler; a worker killed by its pid mid-task has its
task retried and the sweep completes; a second invocation recomputes nothing; the report, the
NSGA-II search and the stale-run rules. Runs are tiny (digits_cnn, 64 samples, 1 epoch)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from fxsim.cli import main
from fxsim.sweep import load_grid, plan_points, report, search, sweep
from fxsim.sweep.points import unique_runs
from fxsim.training.loop import train
from fxsim.training.runs import WORKER_ENV, StaleRun

pytest.importorskip("distributed")

GRID = """name = "tiny"
seeds = 2
[base]
net = "digits_cnn"
policy = "int8"
epochs = 1
limit = 64
[axes]
defaults.act_grads.bits = [4, 8]
"""
# longer runs for the kill test (a task must still be running when its worker is killed)
SLOW = (GRID.replace("limit = 64", "limit = 600").replace("epochs = 1", "epochs = 2")
        .replace("seeds = 2", "seeds = 1"))


def dask_children() -> list[psutil.Process]:
    """Processes started by this one that belong to Dask (local cluster, scheduler, workers)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "dask" in line or "distributed" in line or "spawn_main" in line:
            found.append(child)
    return found


@pytest.fixture(scope="module", autouse=True)
def no_dask_process_survives():
    yield
    deadline = time.monotonic() + 10
    while dask_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = dask_children()
    for child in left:
        child.kill()
    assert not left, f"Dask processes survived the tests: {[c.cmdline() for c in left]}"


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "tiny.toml"
    path.write_text(GRID)
    return path


@pytest.fixture(scope="module")
def local(grid_file, tmp_path_factory):
    """The tiny grid on a 2-worker LocalCluster."""
    out = tmp_path_factory.mktemp("local")
    seen = []
    result = sweep(load_grid(grid_file), out, workers=2, on_done=seen.append)
    return out, result, seen


def hashes(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["key"], table["weights_sha256"], strict=True))


def test_local_cluster_gives_the_weights_of_serial_runs(local, grid_file, tmp_path):
    out, result, seen = local
    points = unique_runs(plan_points(load_grid(grid_file)))
    assert len(points) == 6 and len(seen) == 6  # 2 bit widths x 2 seeds + fp x 2 seeds
    assert {o.status for o in result.outcomes} == {"trained"}
    serial = {}
    for point in points:
        point.write_policy(out)
        serial[point.key] = train(point.config(out), tmp_path / point.key).summary[
            "weights_sha256"]
    assert hashes(result.table) == serial
    assert len(set(serial.values())) == 6


def test_table_has_settings_results_costs_and_provenance(local):
    out, _, _ = local
    for name in ("results.parquet", "results.csv"):
        assert (out / name).is_file()
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 6 and set(table["block"]) == {"grid", "reference"}
    assert sorted(table["defaults.act_grads.bits"].unique()) == ["4", "8", "unset"]
    for column in ("test_acc", "test_loss", "train_acc", "train_loss", "sat_act_grads_max",
                   "energy_pj", "area_um2", "energy_saving", "wall_time_s", "fxsim_source",
                   "seed", "lr", "key", "run_dir"):
        assert table[column].notna().any(), column
    grid_rows = table[table["block"] == "grid"]
    assert (grid_rows["energy_saving"] > 0).all() and table["test_acc"].between(0, 1).all()
    four = grid_rows[grid_rows["defaults.act_grads.bits"] == "4"]["energy_pj"]
    eight = grid_rows[grid_rows["defaults.act_grads.bits"] == "8"]["energy_pj"]
    assert four.max() < eight.min()  # narrower gradients, less energy
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == list(table.columns)
    for key in table["key"]:
        assert (out / "runs" / key / "summary.json").is_file()


def test_second_invocation_recomputes_nothing(local, grid_file):
    out, first, _ = local
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.npz")}
    again = sweep(load_grid(grid_file), out, workers=2)
    assert {o.status for o in again.outcomes} == {"reused"}
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert hashes(again.table) == hashes(first.table)


def test_no_train_tabulates_what_is_finished(local, grid_file, tmp_path):
    out, first, _ = local
    again = sweep(load_grid(grid_file), out, train=False)
    assert {o.status for o in again.outcomes} == {"reused"}
    assert hashes(again.table) == hashes(first.table)
    empty = sweep(load_grid(grid_file), tmp_path / "empty", train=False)
    assert empty.outcomes == [] and set(empty.table["status"]) == {"pending"}
    assert empty.table["test_acc"].isna().all() and empty.table["energy_pj"].notna().all()
    assert not (tmp_path / "empty" / "runs").exists()


def test_report_draws_pareto_and_break_points(local):
    out, _, _ = local
    files = report(out, tolerance=0.5)
    names = {f.name for f in files}
    assert {"pareto.png", "breakpoints.png", "breakpoints.csv", "configurations.csv",
            "summary.md"} <= names
    summary = (out / "report" / "summary.md").read_text()
    assert "6 of 6 runs finished (seeds [0, 1])" in summary and "| break point |" in summary
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 20_000
    points = pd.read_csv(out / "report" / "breakpoints.csv")
    assert points["axis"].tolist() == ["defaults.act_grads.bits"]
    configs = pd.read_csv(out / "report" / "configurations.csv")
    # tiny runs may all stay below twice chance, which leaves the fronts empty
    assert set(configs["seeds"]) == {2} and {"front_energy", "front_area"} <= set(configs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes (no nanny) on 127.0.0.1; the last
    test kills one of the workers."""
    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = tmp_path_factory.mktemp("cluster") / "scheduler.json"
    env = {**os.environ, **WORKER_ENV}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [subprocess.Popen(
            [dask, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
             "--no-nanny", "--name", f"w{i}", "--host", "127.0.0.1", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
        procs += workers
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield scheduler_file, workers
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_external_scheduler_runs_the_same_grid(cluster, local, grid_file, tmp_path, capsys):
    scheduler_file, _ = cluster
    out = tmp_path / "external"
    assert main(["sweep", str(grid_file), "--out", str(out), "--scheduler",
                 str(scheduler_file)]) == 0
    assert "6 to train on" in capsys.readouterr().out
    table = pd.read_parquet(out / "results.parquet")
    assert set(table["status"]) == {"trained"}
    assert hashes(table) == hashes(local[1].table)


def test_run_of_other_source_is_refused_or_moved_aside(cluster, local, grid_file, tmp_path):
    import json
    import shutil

    out, _, _ = local
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    key = next((copy / "runs").iterdir()).name
    summary_file = copy / "runs" / key / "summary.json"
    summary = json.loads(summary_file.read_text())
    summary["versions"]["fxsim_source"] = "0" * 16
    summary_file.write_text(json.dumps(summary))
    grid = load_grid(grid_file)
    with pytest.raises(StaleRun, match=r"fxsim source .*: digest 0000000000000000.*--rerun-stale"):
        sweep(grid, copy, scheduler=str(cluster[0]))
    listed = sweep(grid, copy, train=False)  # tabulated, never reused for training
    assert sorted(o.status for o in listed.outcomes) == ["other_source"] + ["reused"] * 5
    row = listed.table[listed.table["key"] == key].iloc[0]
    assert row["status"] == "other_source" and row["fxsim_source"] == "0" * 16
    result = sweep(grid, copy, scheduler=str(cluster[0]), rerun_stale=True)
    assert sorted(o.status for o in result.outcomes) == ["reused"] * 5 + ["trained"]
    assert (copy / "stale" / f"{key}-1" / "summary.json").is_file()
    assert hashes(result.table) == hashes(pd.read_parquet(out / "results.parquet"))


def test_nsga2_search_fills_the_same_table(cluster, grid_file, tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "search"
    result = search(load_grid(grid_file), out, trials=3, scheduler=str(cluster[0]), seed=1)
    table = pd.read_parquet(out / "results.parquet")
    assert set(table["block"]) == {"search", "reference"}
    assert (table["block"] == "search").sum() == 6  # 3 trials x 2 seeds
    assert set(table["status"]) <= {"trained", "reused"} and len(result.outcomes) >= 5
    assert table["defaults.act_grads.bits"].isin(["4", "8", "unset"]).all()


def test_worker_killed_mid_task_is_retried(cluster, tmp_path):
    from distributed import Client

    scheduler_file, workers = cluster
    grid_path = tmp_path / "slow.toml"
    grid_path.write_text(SLOW)
    grid = load_grid(grid_path)
    out = tmp_path / "killed"
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(
        sweep=sweep(grid, out, scheduler=str(scheduler_file))))
    with Client(scheduler_file=str(scheduler_file), timeout="30s") as client:
        pids = client.run(os.getpid)
        thread.start()
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            for address, keys in client.processing().items():
                started = [k for k in keys
                           if (out / "runs" / str(k).removeprefix("fxsim-train-")
                               / "config.toml").is_file()
                           and not (out / "runs" / str(k).removeprefix("fxsim-train-")
                                    / "summary.json").is_file()]
                if started:
                    killed = (address, started[0])
                    os.kill(pids[address], signal.SIGKILL)
                    break
            time.sleep(0.02)
    thread.join(timeout=300)
    assert killed is not None, "no task was caught running"
    assert killed[0] in pids and pids[killed[0]] in {w.pid for w in workers}
    table = result["sweep"].table
    assert len(table) == 3 and set(table["status"]) <= {"trained", "resumed"}
    assert table["epochs_done"].eq(2).all()
    key = str(killed[1]).removeprefix("fxsim-train-")
    # the retried run equals the same run trained without interruption
    point = next(p for p in plan_points(grid) if p.key == key)
    point.write_policy(tmp_path)
    again = train(point.config(tmp_path), tmp_path / "serial").summary["weights_sha256"]
    assert hashes(table)[key] == again
