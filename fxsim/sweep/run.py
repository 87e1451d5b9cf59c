"""``sweep``: plan a grid's points, run them on Dask, and keep the results table up to date.

The sweep folder ``OUT`` holds ``runs/<key>/`` (one ``fxsim train`` run folder per distinct
point), ``policies/<key>.toml`` (the points' policies), ``grid.json`` (what the report needs
of the grid: blocks, axes, scheme, tolerance, reference) and ``results.parquet`` /
``results.csv``. The table is rewritten (atomically) as runs finish, at most every
``table_interval`` seconds, and at the end, also after an interruption: a finished run is never
lost, and the next invocation reuses it without a task.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fxsim.io import write_atomic
from fxsim.sweep.execute import (
    OTHER_SOURCE,
    Outcome,
    check_runs,
    dashboard_link,
    dask_client,
    run_points,
)
from fxsim.sweep.grid import Grid
from fxsim.sweep.points import Point, plan_points, unique_runs
from fxsim.sweep.table import CostCache, build_table, write_table

GRID_FILE = "grid.json"


@dataclass
class SweepResult:
    """What :func:`sweep` returns: the table (one row per point), the outcome of each distinct
    run, the files written and the dashboard address (None without one)."""

    table: pd.DataFrame
    outcomes: list[Outcome]
    files: tuple[Path, Path]
    dashboard: str | None


def grid_record(grid: Grid) -> dict[str, Any]:
    """What the report reads of a grid (``OUT/grid.json``)."""
    return {"name": grid.name, "description": grid.description, "seeds": list(grid.seeds),
            "reference": grid.reference, "scheme": list(grid.scheme),
            "tolerance": grid.tolerance,
            "blocks": {b.name: {a.name: [v.label for v in a.values] for a in b.axes}
                       for b in grid.blocks},
            "axes": {a.name: [v.label for v in a.values] for a in grid.axes}}


def write_grid_record(grid: Grid, out: Path) -> Path:
    """Write :func:`grid_record` to ``out/grid.json``, atomically."""
    return write_atomic(out / GRID_FILE, json.dumps(grid_record(grid), indent=2) + "\n")


class TableWriter:
    """Rewrites the results table as outcomes arrive (at most every ``interval`` s)."""

    def __init__(self, grid: Grid, points: list[Point], out: Path, interval: float) -> None:
        self.grid, self.points, self.out, self.interval = grid, points, out, interval
        self.status: dict[str, tuple[str, str]] = {}
        self.costs = CostCache()
        self.last = 0.0

    def add(self, outcome: Outcome) -> None:
        self.status[outcome.point.key] = (outcome.status, outcome.error)
        if time.monotonic() - self.last >= self.interval:
            self.write()

    def write(self) -> tuple[pd.DataFrame, tuple[Path, Path]]:
        frame = build_table(self.grid, self.points, self.out, self.status, self.costs)
        files = write_table(frame, self.out)
        self.last = time.monotonic()
        return frame, files


def sweep(grid: Grid, out: str | Path, *, workers: int = 2, scheduler: str | None = None,
          rerun_stale: bool = False, train: bool = True, points: list[Point] | None = None,
          on_start: Callable[[int, int, str | None], None] | None = None,
          on_done: Callable[[Outcome], None] | None = None,
          table_interval: float = 5.0) -> SweepResult:
    """Run (or reuse) every point of ``grid`` (or the given ``points``) into ``out``.

    ``workers``: worker processes of the local cluster (ignored with ``scheduler``, an
    address or a scheduler file of a running Dask scheduler). ``on_start(runs, to_train,
    dashboard)`` once the cluster is up; ``on_done(outcome)`` per distinct run. With
    ``train=False`` nothing trains and no cluster starts: the table is rebuilt from the runs
    finished so far (the others are ``partial`` or ``pending``), those made by other fxsim
    source included with the status ``other_source`` (their ``fxsim_source`` says which).
    Raises
    :class:`fxsim.training.runs.StaleRun` before anything trains if a run folder holds a run made
    with other settings or other fxsim source (unless ``rerun_stale``)."""
    out = Path(out)
    points = plan_points(grid) if points is None else points
    states = check_runs(points, out, rerun_stale, other_source=not train)
    write_grid_record(grid, out)
    writer = TableWriter(grid, points, out, table_interval)
    outcomes: list[Outcome] = []
    if not train:
        writer.status.update({k: (s if s == "partial" else "pending", "")
                              for k, s in states.items() if s in ("partial", "new")})
        states = {k: "skip" if s in ("partial", "new") else s for k, s in states.items()}

    def done(outcome: Outcome) -> None:
        writer.add(outcome)
        if on_done is not None:
            on_done(outcome)

    runs = len(unique_runs(points))
    to_train = sum(state not in ("finished", "skip", OTHER_SOURCE) for state in states.values())
    link = None
    try:
        if to_train == 0:
            if on_start is not None:
                on_start(runs, 0, None)
            outcomes = run_points(None, points, out, states, done)
        else:
            with dask_client(workers, scheduler) as client:
                link = dashboard_link(client, local=scheduler is None)
                if on_start is not None:
                    on_start(runs, to_train, link)
                outcomes = run_points(client, points, out, states, done)
    finally:
        frame, files = writer.write()
    return SweepResult(frame, outcomes, files, link)
