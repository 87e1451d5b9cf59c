"""``fxsim sweep --search nsga2``: search a grid's axes with Optuna instead of running them all.

The search space is the grid's axes (every axis of every block, with the union of its values,
as categorical choices); the objectives are mean test accuracy over the grid's seeds (up),
energy per training step and area (down, from :mod:`costmodel`, known before training).
Optuna's NSGA-II sampler (``optuna.samplers.NSGAIISampler``, seeded) proposes trials; each
trial's runs are tasks on the same Dask cluster as a grid sweep, as many trials in flight as
there are workers; a trial whose runs already exist (in this search, a grid sweep or an earlier
search into the same folder) reuses them. The points land in the same results table (block
``search``) and the same run folders, and the reference runs are added as in a grid sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fxsim.sweep.execute import (
    FINISHED,
    Outcome,
    check_runs,
    dashboard_link,
    dask_client,
    outcome_of,
    reuse,
    run_points,
    submit,
)
from fxsim.sweep.grid import Axis, AxisValue, Block, Grid
from fxsim.sweep.points import Point, plan_points, point_at
from fxsim.sweep.run import SweepResult, TableWriter, write_grid_record
from fxsim.sweep.table import CostCache

SEARCH_BLOCK = "search"


def search_axes(grid: Grid) -> tuple[Axis, ...]:
    """Every axis of the grid with the union of its values over the blocks (first seen
    first)."""
    merged: dict[str, dict[str, AxisValue]] = {}
    for block in grid.blocks:
        for axis in block.axes:
            values = merged.setdefault(axis.name, {})
            for value in axis.values:
                values.setdefault(value.label, value)
    return tuple(Axis(name, tuple(values.values())) for name, values in merged.items())


def search(grid: Grid, out: str | Path, *, trials: int = 20, workers: int = 2,
           scheduler: str | None = None, rerun_stale: bool = False, seed: int = 0,
           on_start: Callable[[int, int, str | None], None] | None = None,
           on_done: Callable[[Outcome], None] | None = None,
           table_interval: float = 5.0) -> SweepResult:
    """Run ``trials`` NSGA-II trials over the grid's axes into ``out`` (see the module);
    returns the table and outcomes as :func:`fxsim.sweep.run.sweep` does."""
    import optuna

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    axes = search_axes(grid)
    if not axes:
        raise ValueError(f"grid {grid.name!r} has no axes to search")
    space = {a.name: optuna.distributions.CategoricalDistribution(
        [v.label for v in a.values]) for a in axes}
    searched = replace(grid, blocks=(Block(SEARCH_BLOCK, axes),))
    out = Path(out)
    references = [p for p in plan_points(replace(grid, blocks=(Block(SEARCH_BLOCK, ()),)))
                  if p.block != SEARCH_BLOCK]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=seed,
                                              population_size=min(50, max(4, trials // 4))))
    points: list[Point] = list(references)
    writer = TableWriter(searched, points, out, table_interval)
    write_grid_record(searched, out)
    outcomes: list[Outcome] = []
    link = None

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        writer.add(outcome)
        if on_done is not None:
            on_done(outcome)

    try:
        with dask_client(workers, scheduler) as client:
            link = dashboard_link(client, local=scheduler is None)
            runs = trials * len(grid.seeds) + len(references)
            if on_start is not None:
                on_start(runs, runs, link)
            run_points(client, references, out, check_runs(references, out, rerun_stale),
                       record)
            _run_trials(client, study, space, axes, searched, out, trials,
                        max(1, workers if scheduler is None else _worker_count(client)),
                        rerun_stale, points, record, writer.costs)
    finally:
        frame, files = writer.write()
    return SweepResult(frame, outcomes, files, link)


def _worker_count(client: Any) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def _start(client: Any, trial_points: list[Point], out: Path, rerun_stale: bool,
           record: Callable[[Outcome], None], running: dict[str, Any]) -> list[Any]:
    """Reuse or submit each point; returns the futures to wait for."""
    states = check_runs(trial_points, out, rerun_stale)
    futures = []
    for point in trial_points:
        if point.key in running:
            futures.append(running[point.key])
        elif states[point.key] == "finished":
            record(reuse(point, out))
        else:
            running[point.key] = submit(client, point, out)
            futures.append(running[point.key])
    return futures


def _run_trials(client: Any, study: Any, space: dict[str, Any], axes: tuple[Axis, ...],
                grid: Grid, out: Path, trials: int, concurrency: int, rerun_stale: bool,
                points: list[Point], record: Callable[[Outcome], None],
                costs: CostCache) -> None:
    """Ask, run and tell ``trials`` trials, ``concurrency`` at a time."""
    from distributed import wait

    running: dict[str, Any] = {}
    pending: list[tuple[Any, list[Point], list[Any]]] = []
    asked = 0
    results: dict[str, Outcome] = {}

    def note(outcome: Outcome) -> None:
        results[outcome.point.key] = outcome
        record(outcome)

    while asked < trials or pending:
        while asked < trials and len(pending) < concurrency:
            trial = study.ask(space)
            combo = {a.name: next(v for v in a.values if v.label == trial.params[a.name])
                     for a in axes}
            trial_points = [point_at(grid, SEARCH_BLOCK, combo, s) for s in grid.seeds]
            points.extend(trial_points)
            pending.append((trial, trial_points,
                            _start(client, trial_points, out, rerun_stale, note, running)))
            asked += 1
        waiting = [f for _, _, fs in pending for f in fs if not f.done()]
        if waiting:
            wait(waiting, return_when="FIRST_COMPLETED")
        still = []
        for trial, trial_points, futures in pending:
            if not all(f.done() for f in futures):
                still.append((trial, trial_points, futures))
                continue
            for point in trial_points:
                future = running.pop(point.key, None)
                if future is not None:
                    note(outcome_of(future, point))
            _tell(study, trial, [results[p.key] for p in trial_points if p.key in results],
                  out, costs)
        pending = still


def _tell(study: Any, trial: Any, outcomes: list[Outcome], out: Path,
          cache: CostCache) -> None:
    """Tell the study a trial's objectives: mean test accuracy (a diverged run counts with
    its last accuracy, or 0), energy and area; a failed run fails the trial."""
    import optuna

    if not outcomes or any(o.status not in FINISHED for o in outcomes):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    accuracy = sum(o.summary.get("test_acc") or 0.0 for o in outcomes) / len(outcomes)
    point = outcomes[0].point
    costs = cache.columns(point, point.run_dir(out))
    study.tell(trial, [accuracy, costs["energy_pj"], costs["area_um2"]])
