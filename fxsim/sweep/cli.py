"""``fxsim sweep``: the command line of design-space sweeps (the only part that prints)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap

from fxsim.cli_args import DefaultsFormatter, add_command, add_workers, int_at_least

DEFAULT_WORKERS = os.cpu_count() or 1
SEARCHES = ("nsga2",)
DESCRIPTION = (
    "fxsim sweep GRID.toml --out DIR: train every point of a grid (nets, data, base policies "
    "and any policy field varied by path, e.g. defaults.act_grads.bits = [3, 4, 8]; schema: "
    "docs/sweep-schema.md) as tasks on Dask distributed, and write DIR/results.parquet and "
    "DIR/results.csv (settings, accuracy, loss, saturation, energy and area from the cost "
    "model, wall time, source digest). Each point is one 'fxsim train' run in "
    "DIR/runs/<config hash>; finished runs are reused, interrupted ones resumed.",
    "fxsim sweep report DIR: the Pareto front and the break points as PNG and CSV.")


def add_sweep_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``sweep`` on an argparse subparsers object; returns its parser."""
    from fxsim.sweep.grid import preset_names

    parser = add_command(
        subparsers, "sweep",
        help="run a grid of training runs on Dask and tabulate accuracy, energy and area",
        description="\n\n".join(textwrap.fill(part, 88) for part in DESCRIPTION),
        func=run_sweep_command)
    parser.epilog = ("examples:\n"
                     "  fxsim sweep --preset quick --out runs/quick\n"
                     "  fxsim sweep mygrid.toml --out runs/mine --workers 4\n"
                     "  fxsim sweep mygrid.toml --out /shared/mine --scheduler tcp://head:8786\n"
                     "  fxsim sweep mygrid.toml --out runs/mine --search nsga2 --trials 40\n"
                     "  fxsim sweep report runs/quick")
    parser.formatter_class = type("SweepFormatter", (DefaultsFormatter,
                                                     argparse.RawDescriptionHelpFormatter), {})
    parser.add_argument("target", nargs="*", metavar="GRID | report DIR",
                        help="a grid TOML file; or 'report' and a sweep folder")
    parser.add_argument("--preset", choices=preset_names(), default=None,
                        help="a shipped grid instead of GRID (breakpoints: mnist5k, 213 runs, "
                             "about an hour on 2 cores (measured); quick: digits, 50 runs, "
                             "about 1.5 minutes)")
    parser.add_argument("--out", default=None, help="the sweep folder (default: runs/sweep-NAME)")
    add_workers(parser, DEFAULT_WORKERS,
                "worker processes of the local Dask cluster, one thread each")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="use this running Dask scheduler (tcp://host:8786 or a "
                             "scheduler file) and its workers instead of a local cluster")
    parser.add_argument("--search", choices=SEARCHES, default=None,
                        help="instead of the full grid, search its axes with Optuna's NSGA-II "
                             "(accuracy up, energy and area down)")
    parser.add_argument("--trials", type=int_at_least(1), default=20, help="trials of --search")
    parser.add_argument("--search-seed", type=int, default=0, help="seed of the search's "
                        "sampler")
    parser.add_argument("--rerun-stale", action="store_true",
                        help="move run folders made with other settings or other fxsim source "
                             "to DIR/stale/ and train them again (default: refuse)")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: rebuild the results table from the runs finished "
                             "so far (costs from the current cost model)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the grid and print its points and runs; train nothing")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="report: accuracy drop against fp (a fraction) still 'within "
                             "tolerance' (default: the grid's)")
    return parser


def require(*modules: str) -> None:
    """ImportError saying how to install the sweep extra when one of ``modules`` is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"fxsim sweep needs {', '.join(missing)}, not installed: "
                          "pip install 'fxsim[sweep]'")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _grid_source(args: argparse.Namespace) -> str:
    if args.preset and args.target:
        raise ValueError("give either a GRID file or --preset, not both")
    if args.preset:
        return args.preset
    if len(args.target) != 1:
        raise ValueError("give one GRID file (or --preset NAME, or 'report DIR'); got "
                         f"{len(args.target)} arguments")
    return args.target[0]


def _report(args: argparse.Namespace) -> int:
    from fxsim.sweep.report import report

    if len(args.target) != 2:
        raise ValueError("fxsim sweep report takes one sweep folder: fxsim sweep report DIR")
    for path in report(args.target[1], tolerance=args.tolerance):
        print(f"wrote {path}")
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run ``fxsim sweep``: a progress bar over runs, then the files written."""
    if args.target[:1] == ["report"]:
        return _report(args)
    from fxsim.sweep.grid import load_grid
    from fxsim.sweep.points import plan_points, unique_runs

    grid = load_grid(_grid_source(args))
    out = args.out or f"runs/sweep-{grid.name}"
    points = plan_points(grid)
    if args.dry_run:
        blocks = {b.name: sum(p.block == b.name for p in points) for b in grid.blocks}
        counts = ", ".join(f"{k}: {v}" for k, v in blocks.items())
        print(f"grid {grid.name!r}: {len(points)} points ({counts}; seeds "
              f"{list(grid.seeds)}), {len(unique_runs(points))} distinct runs")
        return 0
    require("distributed", "pyarrow", *(["optuna"] if args.search else []))
    from tqdm import tqdm

    bar = None

    def start(runs: int, to_train: int, link: str | None) -> None:
        nonlocal bar
        where = args.scheduler or f"a local Dask cluster of {args.workers} workers"
        if args.no_train:
            print(f"sweep {grid.name!r} -> {out}: {runs} runs; --no-train: tabulating the "
                  "finished ones", flush=True)
            return
        print(f"sweep {grid.name!r} -> {out}: {runs} runs, {runs - to_train} finished "
              f"already, {to_train} to train on {where}", flush=True)
        if link:
            print(f"Dask dashboard: {link}", flush=True)
        bar = tqdm(total=runs, unit="run", desc=grid.name, file=sys.stderr, dynamic_ncols=True)

    def done(outcome) -> None:
        if bar is None:
            return
        acc = outcome.summary.get("test_acc")
        bar.set_postfix_str(f"last: {outcome.status}"
                            + ("" if acc is None else f" {100 * acc:.1f}%"))
        bar.update(1)
        if outcome.status == "failed":
            bar.write(f"run {outcome.point.key} failed: {outcome.error}")

    # a batch system's SIGTERM (a Slurm time limit) stops the sweep as Ctrl-C does: the table
    # is written and the local cluster shut down
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = _run(args, grid, out, points, start, done)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"\nfxsim sweep: interrupted; finished runs are in {out}/runs and the table; run "
              "the same command again to train the rest (interrupted runs resume from their "
              "last epoch)", file=sys.stderr)
        return 130
    if bar is not None:
        bar.close()
    failed = sum(o.status == "failed" for o in result.outcomes)
    from fxsim.sweep.execute import FINISHED

    missing = int((~result.table["status"].isin(FINISHED)).sum())
    print(f"wrote {result.files[0]} and {result.files[1]} ({len(result.table)} rows"
          + (f"; {failed} runs failed" if failed else "")
          + (f"; {missing} rows not finished" if missing else "")
          + f"); plots: fxsim sweep report {out}")
    return 1 if failed else 0


def _run(args: argparse.Namespace, grid, out: str, points, start, done):
    """The sweep or the search the arguments ask for."""
    if args.search:
        from fxsim.sweep.search import search

        return search(grid, out, trials=args.trials, workers=args.workers,
                      scheduler=args.scheduler, rerun_stale=args.rerun_stale,
                      seed=args.search_seed, on_start=start, on_done=done)
    from fxsim.sweep.run import sweep

    return sweep(grid, out, workers=args.workers, scheduler=args.scheduler,
                 rerun_stale=args.rerun_stale, train=not args.no_train, points=points,
                 on_start=start, on_done=done)
