"""``fxsim reproduce``: train every shipped policy over several seeds and write the results.

The sweep trains each (net, policy, seed) into its own run folder
``RUNS_DIR/<net>/<policy>/seed<k>``. A run is a pure function of its :class:`TrainConfig`, so
runs can be spread over worker processes, and a folder whose ``summary.json`` says finished with
the same settings, the same resolved policy and the same fxsim source is reused, never
retrained; a partly trained folder is resumed bit-exactly (the rules of
:mod:`fxsim.training.runs`, shared with ``fxsim sweep``). :func:`reproduce` then writes
``RESULTS.md`` and ``results.csv`` (:mod:`fxsim.reproduce.report`).

Nets: the digits CNN on the embedded 8x8 digits always; ResNet-20 on CIFAR-10 when a CIFAR
folder is given. Baselines are added to any selection: ``fp`` (every drop is against it) and,
with ``cdmp``, ``cdmp_base`` (the cdmp policy without class groups, written to
``RUNS_DIR/policies/cdmp_base.toml``: 8-bit weights and activations, 16-bit gradients for every
sample, the baseline the class-difficulty paper compares against).

The only printing is in :func:`run_reproduce`, the command-line part; everything else reports
through callbacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fxsim.io import write_atomic
from fxsim.numeric.formats import check_int
from fxsim.policy import Policy, shipped_policies
from fxsim.training import runs
from fxsim.training.loop import TrainConfig

FP = "fp"
DERIVED_BASELINES = {"cdmp": "cdmp_base"}  # policy -> its own baseline, built by _derive
DEFAULT_RUNS_DIR = "runs/reproduce"
DEFAULT_OUT = "runs/reproduce"  # RESULTS.md and results.csv; `--out docs` for the committed ones
DEFAULT_SEEDS = 3
DEFAULT_EPOCHS = 5
DEFAULT_CIFAR_EPOCHS = 30
# One single-threaded process per core: on 2 cores, 2 workers x 1 thread trained 6 digits runs
# in 77-87 s, 1 worker x 2 threads in 147-211 s (same runs, alternating, a loaded machine).
DEFAULT_WORKERS = os.cpu_count() or 1


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
    check_int("epochs", epochs, 1)
    return NetSetup("digits_cnn", "digits", epochs, batch=32, lr=0.05)


def cifar_setup(data_dir: str | os.PathLike, epochs: int = DEFAULT_CIFAR_EPOCHS) -> NetSetup:
    """ResNet-20 on CIFAR-10 from ``data_dir`` (He et al.'s recipe but cosine: batch 128,
    lr 0.1, momentum 0.9, weight decay 5e-4, random crop and flip)."""
    check_int("cifar_epochs", epochs, 1)
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
class RunOutcome(runs.RunResult):
    """A finished (or diverged) run of the sweep: its :class:`~fxsim.training.runs.RunResult`
    (``status``, ``seconds``, ``summary``, ``error``) and its ``plan``."""

    plan: RunPlan | None = None


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
    check_int("seeds", seeds, 1)
    if limit is not None:
        check_int("limit", limit, 1)
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
    fxsim source (:func:`fxsim.training.runs.run_state`)."""
    return runs.run_state(plan.config, plan.out, RUNS_DIR_HINT)


def run_one(plan: RunPlan) -> RunOutcome:
    """Train, resume or reuse one run (:func:`fxsim.training.runs.run_one`). A non-finite
    loss is an outcome (``diverged``), not an error: the sweep goes on and the report says
    so."""
    result = runs.run_one(plan.config, plan.out, RUNS_DIR_HINT)
    return RunOutcome(result.status, result.seconds, result.summary, result.error, plan=plan)


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
    check_int("workers", workers, 1)
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
    with (runs.worker_environment(),
          ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool):
        futures = {pool.submit(run_one, plans[i]): i for i in todo}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # stop at the first error
            raise
    return outcomes
