"""Run folders that a sweep may reuse, resume or must refuse, and the worker thread limits.

Shared by ``fxsim reproduce`` and ``fxsim sweep``: a run is a pure function of its
:class:`~fxsim.training.loop.TrainConfig`, so a folder whose ``summary.json`` says finished with the
same settings, the same resolved policy (compared by content, not by file name) and the same
fxsim source (:func:`fxsim.training.provenance.source_digest`) is reused, never retrained; a partly
trained folder is resumed bit-exactly; a folder made with other settings, another policy or by
other source is a :class:`StaleRun` error naming what differs.

Worker processes train with one numba and one BLAS thread each (:data:`WORKER_ENV`, set before
the process starts, since numba and OpenBLAS read them at import; :func:`limit_threads` lowers
numba's count inside a process already running), so N workers use N cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxsim.policy import Policy
from fxsim.training.loop import TrainConfig, train
from fxsim.training.provenance import run_source_digest
from fxsim.training.runfolder import CHECKPOINT, CONFIG, SUMMARY, recorded_policy_differs

# What a worker process sees: one numba thread and one BLAS thread, so N workers use N cores.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
STATES = ("new", "partial", "finished")


class StaleRun(ValueError):
    """A run folder made with other settings, another policy or by other fxsim source.
    ``differences`` names each; ``source_only`` is True when only the source differs."""

    def __init__(self, out: Path, differences: list[str], hint: str) -> None:
        self.out = out
        self.differences = differences
        self.source_only = all(d.startswith("the fxsim source") for d in differences)
        super().__init__(f"run folder {out} holds a run made with other settings "
                         f"({', '.join(differences)} differ); {hint}")


@dataclass
class RunResult:
    """One call of :func:`run_one`. ``status``: ``trained``, ``resumed``, ``reused`` or
    ``diverged`` (the loss became non-finite: ``error`` says where); ``seconds`` is the wall
    time of this call (0 for a reused run); ``summary`` the run's summary.json."""

    status: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _differences(config: TrainConfig, out: Path, found: dict[str, Any],
                 policy_toml: str) -> list[str]:
    """What differs between ``config`` (whose resolved policy is ``policy_toml``) and a run
    folder's recorded settings and policy (the policy by its resolved contents, so the same
    policy read from another path is the same)."""
    wanted = config.to_dict()
    diff = sorted(k for k in set(found) | set(wanted)
                  if k != "policy" and found.get(k) != wanted.get(k))
    differs = recorded_policy_differs(out, policy_toml)
    if differs:
        diff.append("the policy's contents")
    elif differs is None and found.get("policy") != wanted.get("policy"):
        diff.append("policy")
    return diff


def _state(config: TrainConfig, out: Path, hint: str) -> tuple[str, dict[str, Any] | None]:
    """:func:`run_state` and the folder's summary (None when it has none)."""
    summary = out / SUMMARY
    if summary.is_file():
        data = json.loads(summary.read_text())
        policy = Policy.load(config.policy)
        diff = _differences(config, out, data.get("config", {}), policy.to_toml())
        source = data.get("versions", {}).get("fxsim_source")
        now = run_source_digest(policy.rounding_modules)
        if source != now:
            diff.append(f"the fxsim source (or the policy's rounding rules): digest {source}, "
                        f"now {now}")
        if diff:
            raise StaleRun(out, diff, hint)
        return ("finished" if data.get("finished") else "partial"), data
    if (out / CHECKPOINT).is_file() or (out / CONFIG).is_file():
        return "partial", None  # resumed; with no checkpoint yet, --resume starts it over
    return "new", None


def run_state(config: TrainConfig, out: str | os.PathLike,
              hint: str = "delete it or choose another folder") -> str:
    """``new`` (nothing there), ``partial`` (a checkpoint to resume) or ``finished``; raises
    :class:`StaleRun` (a ValueError ending in ``hint``) if the folder holds a run made with
    other settings, another policy or other fxsim source."""
    return _state(config, Path(out), hint)[0]


def run_one(config: TrainConfig, out: str | os.PathLike,
            hint: str = "delete it or choose another folder") -> RunResult:
    """Train, resume or reuse one run (see :func:`run_state`). A non-finite loss is an
    outcome (``diverged``), not an error: a sweep goes on and its report says so."""
    out = Path(out)
    state, summary = _state(config, out, hint)
    if state == "finished":
        return RunResult("reused", 0.0, summary)
    started = time.perf_counter()
    try:
        run = train(config, out, resume=state == "partial")
    except FloatingPointError as error:
        summary_file = out / SUMMARY
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        return RunResult("diverged", time.perf_counter() - started, summary, str(error))
    return RunResult("resumed" if state == "partial" else "trained",
                     time.perf_counter() - started, run.summary)


@contextlib.contextmanager
def worker_environment(values: dict[str, str] | None = None) -> Iterator[None]:
    """Set environment variables (default :data:`WORKER_ENV`) for processes started inside the
    block, then restore them (numba and OpenBLAS read their thread counts at import, before any
    initializer runs)."""
    values = WORKER_ENV if values is None else values
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def limit_threads(threads: int = 1) -> int:
    """Use at most ``threads`` numba threads in the calling thread (numba's count is per
    thread; it cannot exceed the ``NUMBA_NUM_THREADS`` the process started with) and, where
    threadpoolctl is installed, at most ``threads`` BLAS threads. Returns numba's count."""
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    return numba.get_num_threads()

