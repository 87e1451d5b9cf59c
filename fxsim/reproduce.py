"""``fxsim reproduce``: train every shipped policy over several seeds and write the results.

The sweep trains each (net, policy, seed) into its own run folder
``RUNS_DIR/<net>/<policy>/seed<k>``. A run is a pure function of its :class:`TrainConfig`, so
runs can be spread over worker processes, and a folder whose ``summary.json`` says finished with
the same settings, the same resolved policy and the same fxsim source is reused, never
retrained; a partly trained folder is resumed bit-exactly (the rules of
:mod:`fxsim.runstate`, shared with ``fxsim sweep``). :func:`reproduce` then writes
``RESULTS.md`` and ``results.csv`` (:mod:`fxsim.reproduce_report`).

Nets: the digits CNN on the embedded 8x8 digits always; ResNet-20 on CIFAR-10 when a CIFAR
folder is given. Baselines are added to any selection: ``fp`` (every drop is against it) and,
with ``cdmp``, ``cdmp_base`` (the cdmp policy without class groups, written to
``RUNS_DIR/policies/cdmp_base.toml``: 8-bit weights and activations, 16-bit gradients for every
sample, the baseline the class-difficulty paper compares against).

The only printing is in :func:`run_reproduce`, the command-line part; everything else reports
through callbacks.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxsim import runstate
from fxsim.helpformat import DefaultsFormatter
from fxsim.io import write_atomic
from fxsim.policy import Policy, shipped_policies
from fxsim.train import TrainConfig, check_count

FP = "fp"
DERIVED_BASELINES = {"cdmp": "cdmp_base"}  # policy -> its own baseline, built by _derive
DEFAULT_RUNS_DIR = "runs/reproduce"
DEFAULT_OUT = "docs"
DEFAULT_SEEDS = 3
DEFAULT_EPOCHS = 5
DEFAULT_CIFAR_EPOCHS = 30
# One single-threaded process per core: on 2 cores, 2 workers x 1 thread trained 6 digits runs
# in 77-87 s, 1 worker x 2 threads in 147-211 s (same runs, alternating, a loaded machine).
DEFAULT_WORKERS = os.cpu_count() or 1
WORKER_ENV = runstate.WORKER_ENV  # one numba and one BLAS thread per worker process


@dataclass(frozen=True)
class NetSetup:
    """One net of the sweep and its training settings (TrainConfig fields)."""

    net: str
    data: str
    epochs: int
    batch: int
    lr: float
    data_dir: str | None = None

    def config(self, policy: str, seed: int, limit: int | None) -> TrainConfig:
        return TrainConfig(net=self.net, data=self.data, data_dir=self.data_dir,
                           policy=policy, epochs=self.epochs, batch=self.batch, lr=self.lr,
                           seed=seed, limit=limit)


def digits_setup(epochs: int = DEFAULT_EPOCHS) -> NetSetup:
    """The digits CNN on the embedded digits, ``fxsim train``'s defaults (batch 32, lr 0.05,
    cosine schedule, momentum 0.9, weight decay 5e-4)."""
    check_count("epochs", epochs, 1)
    return NetSetup("digits_cnn", "digits", epochs, batch=32, lr=0.05)


def cifar_setup(data_dir: str | os.PathLike, epochs: int = DEFAULT_CIFAR_EPOCHS) -> NetSetup:
    """ResNet-20 on CIFAR-10 from ``data_dir`` (He et al.'s recipe but cosine: batch 128,
    lr 0.1, momentum 0.9, weight decay 5e-4, random crop and flip)."""
    check_count("cifar_epochs", epochs, 1)
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"--data-dir {str(data_dir)!r} is not a folder (it should hold "
                                "cifar-10-batches-py or be that folder)")
    return NetSetup("resnet20", "cifar10", epochs, batch=128, lr=0.1,
                    data_dir=str(folder.resolve()))


@dataclass(frozen=True)
class RunPlan:
    """One run of the sweep: ``policy`` is the label (a shipped name or ``cdmp_base``),
    ``config.policy`` what the trainer loads (a name or a TOML path)."""

    net: str
    policy: str
    seed: int
    config: TrainConfig
    out: Path


@dataclass
class RunOutcome:
    """A finished (or failed) run. ``status``: ``trained``, ``resumed``, ``reused`` or
    ``diverged`` (the loss became non-finite: ``error`` says where); ``seconds`` is the wall
    time of this call (0 for a reused run); ``summary`` the run's summary.json."""

    plan: RunPlan
    status: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def available_policies() -> tuple[str, ...]:
    """Policy labels the sweep accepts: the shipped policies and the derived baselines."""
    return (*shipped_policies(), *DERIVED_BASELINES.values())


def check_policies(policies: Sequence[str] | None) -> list[str]:
    """The selection with its baselines added (``fp``; ``cdmp_base`` with ``cdmp``), in the
    order of :func:`available_policies`. None selects everything."""
    allowed = available_policies()
    if policies is None:
        return list(allowed)
    chosen = set()
    for name in policies:
        if name not in allowed:
            raise ValueError(f"policies: unknown policy {name!r}; allowed: {', '.join(allowed)}")
        chosen.add(name)
        if name in DERIVED_BASELINES:
            chosen.add(DERIVED_BASELINES[name])
    chosen.add(FP)
    return [p for p in allowed if p in chosen]


def derived_policy(name: str) -> Policy:
    """``cdmp_base``: the shipped cdmp policy without ``[groups]`` and ``[class_difficulty]``."""
    source = {v: k for k, v in DERIVED_BASELINES.items()}[name]
    data = Policy.load(source).to_dict()
    data.pop("groups", None)
    data.pop("class_difficulty", None)
    data["name"] = name
    data["description"] = (f"{source} without class groups: every sample in {source}'s default "
                           "(high-bit) formats; the baseline the class-difficulty paper "
                           "compares against")
    return Policy.load(data)


def plan_runs(policies: Sequence[str] | None, seeds: int, setups: Sequence[NetSetup],
              runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
              limit: int | None = None) -> list[RunPlan]:
    """Every (net, policy, seed) of the sweep, seed by seed (so an interrupted sweep has whole
    seeds done). Writes the derived baselines' TOML files into ``runs_dir/policies``."""
    check_count("seeds", seeds, 1)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    if not setups:
        raise ValueError("setups: give at least one net to train")
    labels = check_policies(policies)
    runs_dir = Path(runs_dir)
    sources = {}
    for label in labels:
        if label in DERIVED_BASELINES.values():
            path = runs_dir / "policies" / f"{label}.toml"
            text = derived_policy(label).to_toml()
            if not path.is_file() or path.read_text() != text:
                write_atomic(path, text)
            sources[label] = str(path)
        else:
            sources[label] = label
    return [RunPlan(s.net, label, seed, s.config(sources[label], seed, limit),
                    runs_dir / s.net / label / f"seed{seed}")
            for s in setups for seed in range(seeds) for label in labels]


RUNS_DIR_HINT = "delete it or choose another --runs-dir"


def run_state(plan: RunPlan) -> str:
    """``new`` (nothing there), ``partial`` (a checkpoint to resume) or ``finished``; raises
    ValueError if the folder holds a run made with other settings, another policy or other
    fxsim source (:func:`fxsim.runstate.run_state`)."""
    return runstate.run_state(plan.config, plan.out, RUNS_DIR_HINT)


def run_one(plan: RunPlan) -> RunOutcome:
    """Train, resume or reuse one run (:func:`fxsim.runstate.run_one`). A non-finite loss is
    an outcome (``diverged``), not an error: the sweep goes on and the report says so."""
    result = runstate.run_one(plan.config, plan.out, RUNS_DIR_HINT)
    return RunOutcome(plan, result.status, result.seconds, result.summary, result.error)


def run_sweep(plans: Sequence[RunPlan], workers: int = 1,
              callback: Callable[[RunOutcome, int, int], None] | None = None
              ) -> list[RunOutcome]:
    """Run every plan; ``callback(outcome, done, total)`` after each. ``workers=1`` trains in
    this process; more spread the runs to train over that many spawned processes with one
    numba and one BLAS thread each (finished runs are reused in this process; a script
    calling this needs the usual ``if __name__ == "__main__":`` guard of the spawn start
    method). Outcomes come back in the order of ``plans``. Folders holding runs with other
    settings are refused before anything trains; the first error stops the sweep (runs
    already finished stay finished)."""
    check_count("workers", workers, 1)
    states = [run_state(plan) for plan in plans]
    total = len(plans)
    outcomes: list[RunOutcome | None] = [None] * total
    done = 0

    def finish(i: int, outcome: RunOutcome) -> None:
        nonlocal done
        outcomes[i] = outcome
        done += 1
        if callback is not None:
            callback(outcome, done, total)

    for i, state in enumerate(states):
        if state == "finished":
            finish(i, run_one(plans[i]))
    todo = [i for i, state in enumerate(states) if state != "finished"]
    if min(workers, len(todo)) <= 1:
        for i in todo:
            finish(i, run_one(plans[i]))
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with (runstate.worker_environment(),
          ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool):
        futures = {pool.submit(run_one, plans[i]): i for i in todo}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # stop at the first error
            raise
    return outcomes


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
    RESULTS.md; ``measure`` a :class:`fxsim.reproduce_report.MeasureOptions` (latency and step
    timing sizes; None: the defaults)."""
    from fxsim.reproduce_report import MeasureOptions, write_report

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


# ---- command line (the only part that prints) --------------------------------------------------
def _policy_list(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give policy names separated by commas")
    return names


def add_reproduce_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``reproduce`` on an argparse subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "reproduce",
        help="train every shipped policy over several seeds and write docs/RESULTS.md",
        description=(
            "Train every shipped policy (and the baselines fp and cdmp_base) on the digits CNN, "
            "and on ResNet-20/CIFAR-10 with --data-dir, over several seeds; write RESULTS.md "
            "and results.csv: accuracy (mean, std, min, max over seeds), drop against fp, "
            "energy, area and compression from the cost model, the latency of toward_zero "
            "against stochastic rounding, and each seed paper's claim next to the measurement. "
            "Finished runs in --runs-dir are reused, partly trained ones resumed."),
        formatter_class=DefaultsFormatter,
    )
    parser.add_argument("--data-dir", default=None,
                        help="CIFAR-10 folder: also train ResNet-20 on CIFAR-10 (slow: about 9 "
                             "minutes per epoch and run on 2 cores)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                        help="seeds per policy (0, 1, ...)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help="epochs of the digits runs")
    parser.add_argument("--cifar-epochs", type=int, default=DEFAULT_CIFAR_EPOCHS,
                        help="epochs of the ResNet-20 runs (with --data-dir)")
    parser.add_argument("--policies", type=_policy_list, default=None,
                        help="comma-separated subset (default: all; fp, and cdmp_base with "
                             "cdmp, are always added)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="folder for RESULTS.md and results.csv")
    parser.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR,
                        help="folder of the run folders (NET/POLICY/seedK)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="runs trained at once, each in its own process with one thread")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only this many train and test samples (quick checks)")
    parser.add_argument("--latency-elements", type=int, default=10**7,
                        help="float64 values quantized to time toward_zero against stochastic "
                             "rounding (0: skip)")
    parser.add_argument("--step-timing", action=argparse.BooleanOptionalAction, default=True,
                        help="time arc8 against sr8 training steps in this process")
    parser.set_defaults(func=run_reproduce)
    return parser


def regenerating_command(args: argparse.Namespace) -> str:
    """The ``fxsim reproduce`` command line that gives these results (options that change
    them; --workers, --out, --runs-dir and the timing options do not)."""
    parts = ["fxsim reproduce", f"--seeds {args.seeds}", f"--epochs {args.epochs}"]
    if args.policies:
        parts.append("--policies " + ",".join(args.policies))
    if args.data_dir:
        parts += [f"--data-dir {args.data_dir}", f"--cifar-epochs {args.cifar_epochs}"]
    if args.limit:
        parts.append(f"--limit {args.limit}")
    return " ".join(parts)


def run_reproduce(args: argparse.Namespace) -> int:
    """Run ``fxsim reproduce``: one line per finished run, then the files written."""
    from fxsim.reproduce_report import MeasureOptions

    if args.latency_elements < 0:
        raise ValueError(f"--latency-elements must be >= 0, got {args.latency_elements}")

    def report(outcome: RunOutcome, done: int, total: int) -> None:
        plan = outcome.plan
        acc = outcome.summary.get("test_acc")
        acc_text = "-" if acc is None else f"{100 * acc:.2f}%"
        extra = f": {outcome.error}" if outcome.error else ""
        print(f"[{done}/{total}] {plan.net} {plan.policy} seed {plan.seed}: test accuracy "
              f"{acc_text}, {outcome.status} in {outcome.seconds:.1f} s{extra}", flush=True)

    result = reproduce(
        policies=args.policies, seeds=args.seeds, epochs=args.epochs, data_dir=args.data_dir,
        cifar_epochs=args.cifar_epochs, out=args.out, runs_dir=args.runs_dir,
        workers=args.workers, limit=args.limit, command=regenerating_command(args),
        callback=report,
        measure=MeasureOptions(latency_elements=args.latency_elements,
                               step_timing=args.step_timing))
    print(f"wrote {result.results_md} and {result.results_csv}")
    return 0
