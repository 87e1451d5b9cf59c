"""``reproduce()``: plan, run (or reuse) and report the sweep of shipped policies."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxsim.reproduce.report import MeasureOptions, write_report
from fxsim.reproduce.runs import (
    DEFAULT_CIFAR_EPOCHS,
    DEFAULT_EPOCHS,
    DEFAULT_OUT,
    DEFAULT_RUNS_DIR,
    DEFAULT_SEEDS,
    DEFAULT_WORKERS,
    RunOutcome,
    cifar_setup,
    digits_setup,
    plan_runs,
    run_sweep,
)


@dataclass
class Reproduction:
    """What :func:`reproduce` returns: the files written, the long and the summary tables."""

    results_md: Path
    results_csv: Path
    runs: Any  # pandas DataFrame, one row per run (results.csv)
    table: Any  # pandas DataFrame, one row per net and policy
    outcomes: list[RunOutcome]


def reproduce(*, policies: Sequence[str] | None = None, seeds: int = DEFAULT_SEEDS,
              epochs: int = DEFAULT_EPOCHS, data_dir: str | os.PathLike | None = None,
              cifar_epochs: int = DEFAULT_CIFAR_EPOCHS, out: str | os.PathLike = DEFAULT_OUT,
              runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR, workers: int = DEFAULT_WORKERS,
              limit: int | None = None, command: str = "fxsim reproduce",
              callback: Callable[[RunOutcome, int, int], None] | None = None,
              measure: Any = None) -> Reproduction:
    """Plan, run (or reuse) and report the sweep; write ``out/RESULTS.md`` and
    ``out/results.csv`` atomically. ``command`` is the regenerating command printed in
    RESULTS.md; ``measure`` a :class:`fxsim.reproduce.report.MeasureOptions` (latency and step
    timing sizes; None: the defaults)."""
    setups = [digits_setup(epochs)]
    if data_dir is not None:
        setups.append(cifar_setup(data_dir, cifar_epochs))
    plans = plan_runs(policies, seeds, setups, runs_dir, limit)
    started = time.perf_counter()
    outcomes = run_sweep(plans, workers, callback)
    sweep_seconds = time.perf_counter() - started
    md, csv, runs, table = write_report(
        outcomes, setups, Path(out), command=command, workers=workers,
        sweep_seconds=sweep_seconds, measure_options=measure or MeasureOptions())
    return Reproduction(md, csv, runs, table, outcomes)
