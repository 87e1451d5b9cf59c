"""Running a sweep's points as tasks on Dask distributed.

Each point is one ``fxsim train`` run, submitted as a task: a :class:`distributed.LocalCluster`
of ``workers`` single-threaded worker processes on 127.0.0.1 by default, or the workers of an
existing scheduler when an address is given (``dask scheduler`` and ``dask worker``, or a
dask-jobqueue cluster on Slurm). Every worker process trains with one numba and one BLAS thread
(:data:`fxsim.training.runs.WORKER_ENV` for the local cluster's processes, and
:func:`fxsim.training.runs.limit_threads` in each task). A worker that dies mid-task has its task
run again by the scheduler on another worker (up to Dask's ``allowed-failures``, 3 by default),
and the retry resumes the run from its last finished epoch, bit-exactly.

Finished runs (same settings, policy and fxsim source) are reused before anything is submitted;
a run folder made with other settings or by other fxsim source is refused, or with
``rerun_stale`` moved to ``OUT/stale/`` and trained again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxsim.sweep.points import Point, unique_runs
from fxsim.training import runs as runstate
from fxsim.training.loop import TrainConfig
from fxsim.training.runfolder import SUMMARY

# statuses of a run that ended: with a final accuracy (a run made by other fxsim source only
# when tabulating, never training), and those plus a diverged one
OTHER_SOURCE = "other_source"
COMPLETED = ("trained", "resumed", "reused", OTHER_SOURCE)
FINISHED = (*COMPLETED, "diverged")
STALE_HINT = ("delete it, choose another --out, or pass --rerun-stale to move such folders to "
              "OUT/stale/ and train them again")


@dataclass
class Outcome:
    """What became of one run: ``status`` is ``reused``, ``trained``, ``resumed``,
    ``diverged`` or ``failed`` (``error`` says why: an exception, or a task whose workers died
    more often than the scheduler allows); ``seconds`` the wall time of the task."""

    point: Point
    status: str
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def train_point(config: dict[str, Any], out: str, threads: int = 1) -> dict[str, Any]:
    """The task: train, resume or reuse one run (:func:`fxsim.training.runs.run_one`) with at most
    ``threads`` numba and BLAS threads. Returns a plain dict (status, seconds, summary,
    error)."""
    runstate.limit_threads(threads)
    result = runstate.run_one(TrainConfig.from_dict(config), out, STALE_HINT)
    return {"status": result.status, "seconds": result.seconds, "summary": result.summary,
            "error": result.error}


def check_runs(points: Sequence[Point], out: str | Path, rerun_stale: bool = False,
               other_source: bool = False) -> dict[str, str]:
    """``{key: state}`` (:data:`fxsim.training.runs.STATES`) of each distinct run; writes the
    policy files. A stale folder raises :class:`fxsim.training.runs.StaleRun` naming it, or
    with ``rerun_stale`` is moved to ``out/stale/<key>-<n>`` and counts as new. With
    ``other_source`` (tabulating, never training), a run that differs only by the fxsim
    source that made it is ``other_source`` if finished, else ``partial``."""
    states: dict[str, str] = {}
    for point in unique_runs(points):
        point.write_policy(out)
        folder = point.run_dir(out)
        try:
            states[point.key] = runstate.run_state(point.config(out), folder, STALE_HINT)
        except runstate.StaleRun as stale:
            if other_source and stale.source_only:
                summary = json.loads((folder / SUMMARY).read_text())
                states[point.key] = OTHER_SOURCE if summary.get("finished") else "partial"
                continue
            if not rerun_stale:
                raise
            n = 1
            while (Path(out) / "stale" / f"{point.key}-{n}").exists():
                n += 1
            (Path(out) / "stale").mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), Path(out) / "stale" / f"{point.key}-{n}")
            states[point.key] = "new"
    return states


def has_dashboard() -> bool:
    """Whether Dask can serve its dashboard here (it needs bokeh)."""
    return importlib.util.find_spec("bokeh") is not None


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client`: of the scheduler at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``, or a scheduler file's path), or of a new LocalCluster of
    ``workers`` worker processes with one thread each on 127.0.0.1 (its dashboard, where bokeh
    is installed, on a free port). The local cluster is shut down on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("fxsim sweep runs on Dask distributed, which is not installed: "
                          "pip install 'fxsim[sweep]'") from None
    if scheduler is not None:
        if Path(scheduler).is_file():
            client = Client(scheduler_file=scheduler, timeout="30s")
        else:
            client = Client(scheduler, timeout="30s")
        try:
            yield client
        finally:
            client.close()
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    with runstate.worker_environment():
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            # a free port on loopback (the HTTP server runs even without the dashboard)
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR, env=dict(runstate.WORKER_ENV))
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def dashboard_link(client: Any, local: bool) -> str | None:
    """The Dask dashboard's address, when the scheduler serves one (a local cluster serves
    it only where bokeh is installed)."""
    if local and not has_dashboard():
        return None
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # an old or unreachable scheduler: no link rather than an error
        return None
    return client.dashboard_link if "dashboard" in services else None


def run_points(client: Any, points: Sequence[Point], out: str | Path,
               states: dict[str, str], on_done: Callable[[Outcome], None] | None = None,
               threads: int = 1) -> list[Outcome]:
    """Submit every distinct run not finished in ``states`` to ``client``; finished ones are
    reused without a task, ``skip`` ones left alone. ``on_done(outcome)`` after each
    (reused ones first). Returns one outcome per distinct run. A task that fails (an
    exception, or workers dying on it more often than the scheduler allows) is a ``failed``
    outcome; the others go on. On an interruption the pending tasks are cancelled (their
    finished epochs stay saved)."""
    from distributed import as_completed

    outcomes: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    futures = {}
    for point in unique_runs(points):
        state = states[point.key]
        if state == "finished":
            done(reuse(point, out))
        elif state == OTHER_SOURCE:
            done(reuse(point, out, OTHER_SOURCE))
        elif state != "skip":
            futures[submit(client, point, out, threads)] = point
    if not futures:
        return outcomes
    try:
        for future in as_completed(list(futures)):
            done(outcome_of(future, futures[future]))
    except BaseException:
        client.cancel(list(futures))
        raise
    return outcomes


def reuse(point: Point, out: str | Path, status: str = "reused") -> Outcome:
    """The outcome of a run :func:`check_runs` found finished (or ``other_source``), read from
    its summary (no task): what :func:`fxsim.training.runs.run_one` returns for it."""
    summary = json.loads((point.run_dir(out) / SUMMARY).read_text())
    return Outcome(point, status, 0.0, summary)


def submit(client: Any, point: Point, out: str | Path, threads: int = 1) -> Any:
    """Submit the point's run as a task (:func:`train_point`); returns its future."""
    return client.submit(train_point, point.config(out).to_dict(),
                         str(point.run_dir(out).resolve()), threads,
                         key=f"fxsim-train-{point.key}", pure=False)


def outcome_of(future: Any, point: Point) -> Outcome:
    """The outcome of a finished task: its result, or ``failed`` with the task's error."""
    if future.status == "error":
        error = future.exception()
        return Outcome(point, "failed", error=f"{type(error).__name__}: {error}")
    result = future.result()
    return Outcome(point, result["status"], result["seconds"], result["summary"],
                   result["error"])
