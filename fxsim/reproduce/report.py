"""The report of ``fxsim reproduce``: ``results.csv`` (one row per run) and ``RESULTS.md``
(a table per net, the seed papers' claims next to the measurements, timings, machine).

Accuracies are test accuracies after the last epoch, in percent; a drop is in percentage
points, ``fp`` mean minus the policy's mean. Standard deviations are over seeds with ``ddof=1``
(empty with one seed). Energies are pJ per training step of the run's batch.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fxsim.io import markdown_table, write_atomic, write_csv
from fxsim.reproduce.claims import claims_markdown, sensitivity_markdown
from fxsim.reproduce.measure import (
    UNIT_ENERGY_COLUMNS,
    MeasureOptions,
    cost_sensitivity,
    policy_cost,
    rounding_latency,
    rounding_units,
    step_times,
)
from fxsim.reproduce.runs import DERIVED_BASELINES

ORDER = ("fp", "int8", "sr8", "arc8", "arc4", "cqat", "cdmp_base", "cdmp", "int4_minmax",
         "int4_interval")
NEAR_CHANCE = 2.0  # a mean accuracy below this many times chance is flagged "fails to train"
COST_OUT = ("energy_pj", "area_um2", "mac_lane_area_um2", "traffic_bits", *UNIT_ENERGY_COLUMNS,
            "energy_saving_vs_fp", "compression_vs_fp", "energy_saving_vs_base",
            "compression_vs_base")
RUN_COLUMNS = ("net", "policy", "seed", "status", "epochs", "test_acc", "train_acc",
               "test_loss", "easy_share", "train_seconds", *COST_OUT, "state_sha256",
               "run_dir", "error")


def _order(policies: Sequence[str]) -> list[str]:
    known = [p for p in ORDER if p in policies]
    return known + sorted(set(policies) - set(known))


def _shares(run_dir: Path) -> dict[str, float]:
    """The class-group shares a run measured (``{}`` without groups or without metrics)."""
    import costmodel

    if not (run_dir / "metrics.csv").is_file():
        return {}
    return costmodel.shares_from_run(run_dir)


def _cost_columns(net: str, batch: int, source: str, base_source: str | None,
                  shares: dict[str, float], notes: set[str]) -> dict[str, float]:
    out = dict.fromkeys(COST_OUT, math.nan)
    try:
        vs_fp = policy_cost(net, batch, source, "fp", shares)
        out.update({k: vs_fp[k] for k in ("energy_pj", "area_um2", "mac_lane_area_um2",
                                         "traffic_bits", *UNIT_ENERGY_COLUMNS)})
        out["energy_saving_vs_fp"] = vs_fp["energy_saving"]
        out["compression_vs_fp"] = vs_fp["compression_ratio"]
        if base_source is not None:
            vs_base = policy_cost(net, batch, source, base_source, shares)
            out["energy_saving_vs_base"] = vs_base["energy_saving"]
            out["compression_vs_base"] = vs_base["compression_ratio"]
    except (ValueError, TypeError, FileNotFoundError, KeyError) as error:
        notes.add(f"the cost model could not price {source!r} on {net}: {error}")
    return out


def runs_frame(outcomes: Sequence[Any], notes: set[str] | None = None) -> pd.DataFrame:
    """results.csv: one row per run (columns :data:`RUN_COLUMNS`). ``notes`` collects what
    the cost model could not price."""
    notes = set() if notes is None else notes
    sources = {(o.plan.net, o.plan.policy): o.plan.config.policy for o in outcomes}
    rows = []
    for o in outcomes:
        plan, summary = o.plan, o.summary
        shares = _shares(plan.out)
        base = DERIVED_BASELINES.get(plan.policy)
        base_source = sources.get((plan.net, base))
        rows.append({
            "net": plan.net, "policy": plan.policy, "seed": plan.seed, "status": o.status,
            "epochs": summary.get("epochs_done", 0),
            "test_acc": _percent(summary.get("test_acc")),
            "train_acc": _percent(summary.get("train_acc")),
            "test_loss": summary.get("test_loss", math.nan),
            "easy_share": sum(shares.values()) if shares else math.nan,
            "train_seconds": summary.get("wall_time_s", math.nan),
            **_cost_columns(plan.net, plan.config.batch, plan.config.policy, base_source,
                            shares, notes),
            "state_sha256": summary.get("state_sha256", ""), "run_dir": str(plan.out),
            "error": o.error,
        })
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _percent(value: Any) -> float:
    return math.nan if value is None else 100.0 * float(value)


def _easy_groups(source: str) -> list[str]:
    """The easy group of a class-difficulty policy (empty list without one)."""
    from fxsim.policy import Policy

    difficulty = Policy.load(source).class_difficulty
    return [] if difficulty is None else [difficulty["easy_group"]]


def summary_table(runs: pd.DataFrame, outcomes: Sequence[Any],
                  notes: set[str] | None = None) -> pd.DataFrame:
    """One row per net and policy: seeds, diverged, acc_mean/std/min/max (%), drop_vs_fp
    (points), the policy's own baseline (cdmp: cdmp_base) if any, the cost columns
    :data:`COST_OUT` (savings and compression against fp and the own baseline), the mean easy
    share and the mean training time per run (s). Class-group policies are priced at their
    mean easy share over seeds."""
    notes = set() if notes is None else notes
    plans = {(o.plan.net, o.plan.policy): o.plan for o in outcomes}
    rows = []
    for net in dict.fromkeys(runs["net"]):
        mine = runs[runs["net"] == net]
        fp_mean = mine.loc[mine["policy"] == "fp", "test_acc"].mean()
        for policy in _order(list(dict.fromkeys(mine["policy"]))):
            acc = mine.loc[mine["policy"] == policy, "test_acc"]
            part = mine[mine["policy"] == policy]
            plan = plans[(net, policy)]
            share = float(part["easy_share"].mean())
            base = DERIVED_BASELINES.get(policy)
            base_plan = plans.get((net, base))
            groups = _easy_groups(plan.config.policy)
            cost = _cost_columns(net, plan.config.batch, plan.config.policy,
                                 base_plan.config.policy if base_plan else None,
                                 dict.fromkeys(groups, share) if groups else {}, notes)
            rows.append({
                "net": net, "policy": policy, "seeds": int(acc.count()),
                "diverged": int((part["status"] == "diverged").sum()),
                "acc_mean": acc.mean(), "acc_std": acc.std(ddof=1), "acc_min": acc.min(),
                "acc_max": acc.max(), "drop_vs_fp": fp_mean - acc.mean(),
                "baseline": base if base_plan else "", **cost,
                "easy_share": share, "train_seconds": part["train_seconds"].mean(),
            })
    return pd.DataFrame(rows)


def _ratio(value: float) -> str:
    return f"{value:.2f}x"


def _share(value: float) -> str:
    return f"{100 * value:.1f}%"


TABLE_FORMATS = {"acc_mean": ".2f", "acc_std": ".2f", "acc_min": ".2f", "acc_max": ".2f",
                 "drop_vs_fp": "+.2f", "energy_pj": ".4g", "energy_saving_vs_fp": _share,
                 "compression_vs_fp": _ratio, "area_um2": ".4g", "mac_lane_area_um2": ".0f",
                 "energy_saving_vs_base": _share, "compression_vs_base": _ratio,
                 "easy_share": _share, "train_seconds": ".0f"}
TABLE_HEADERS = {"acc_mean": "acc mean %", "acc_std": "std", "acc_min": "min", "acc_max": "max",
                 "drop_vs_fp": "drop vs fp (pts)", "energy_pj": "energy pJ/step",
                 "energy_saving_vs_fp": "energy saving vs fp",
                 "compression_vs_fp": "compression vs fp", "area_um2": "area um^2",
                 "mac_lane_area_um2": "MAC lane um^2",
                 "baseline": "own baseline", "energy_saving_vs_base": "saving vs own",
                 "compression_vs_base": "compression vs own", "easy_share": "easy share",
                 "train_seconds": "s/run"}


def net_section(table: pd.DataFrame, setup: Any, seeds: int) -> str:
    """The markdown results table of one net, with what its columns mean."""
    mine = table[table["net"] == setup.net]
    columns = ["policy", "seeds", "acc_mean", "acc_std", "acc_min", "acc_max", "drop_vs_fp",
               "energy_pj", "energy_saving_vs_fp", "compression_vs_fp", "area_um2",
               "mac_lane_area_um2", "baseline", "energy_saving_vs_base", "compression_vs_base",
               "easy_share", "train_seconds"]
    if mine["diverged"].any():
        columns.insert(2, "diverged")
    text = [f"## {setup.net} on {setup.data}: {seeds} seed(s), {setup.epochs} epoch(s), "
            f"batch {setup.batch}, lr {setup.lr:g} (cosine)\n",
            markdown_table(mine[columns], TABLE_FORMATS, TABLE_HEADERS),
            f"\nAccuracy: test accuracy after the last epoch, over seeds 0..{seeds - 1} (each "
            "seed also draws its own train/test split for digits). Drop: fp's mean minus the "
            "policy's, in points (negative: better than fp). Energy: pJ per training step of "
            f"{setup.batch} samples at 45 nm on costmodel's default architecture (an "
            "Eyeriss-style accelerator: 168 MAC lanes with 0.5 KB register files, a 108 KB "
            "global buffer, DRAM): every MAC phase mapped onto the memory levels, batch norm, "
            "residual adds, pooling, the loss, the update, rounding, rescale, random-bit and "
            "statistics units; stochastic rounding with 8 random bits from shared generators, "
            "although fxsim's `stochastic` mode uses 62 random bits per element "
            "(docs/cost-model.md); saving and compression (DRAM bits per "
            "step, fp over the policy) are against fp's float32 pricing, and against the "
            "policy's own baseline where it has one. Area: the whole accelerator (lanes, "
            "shared units sized by throughput, global buffer, update unit); MAC lane: one lane "
            "(MAC, pipeline registers, register file). The cdmp rows are "
            "priced with the measured easy share (mean of "
            "metrics.csv's easy_share over epochs and seeds). s/run: mean training wall time of "
            "one run (workers share the machine, so this is not a speed comparison).\n"]
    return "\n".join(text)


def _flags(table: pd.DataFrame) -> list[str]:
    out = []
    for row in table.itertuples(index=False):
        if row.acc_mean < NEAR_CHANCE * 10.0:
            out.append(f"**{row.policy} on {row.net} fails to train**: mean accuracy "
                       f"{row.acc_mean:.1f}% (chance is 10%).")
        if row.diverged:
            out.append(f"**{row.policy} on {row.net}**: {row.diverged} run(s) diverged "
                       "(non-finite loss); their accuracy is that of the last finished epoch.")
    return out


def _load() -> float | None:
    """The 1-minute load average (None where the system has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_section(workers: int, sweep_seconds: float, runs: pd.DataFrame,
                    latency: pd.DataFrame | None, load: tuple | None = None) -> str:
    from fxsim.training.provenance import versions

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = ("1 numba and 1 BLAS thread each" if workers > 1 else
               "numba's default thread count")
    trained = runs[runs["train_seconds"].notna()]
    lines = [
        "## Machine and run times\n",
        f"- Machine: {platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs.",
        f"- Workers: {workers} ({threads}); the latency and step timings were measured in "
        "the main process after the sweep"
        + ("" if not load or None in load else
           f", with a 1-minute load average of {load[0]:.1f} before and {load[1]:.1f} after "
           f"on {os.cpu_count()} CPUs"
           + (" (other processes competed: wall times are noisy, CPU times less so)"
              if max(load) > (os.cpu_count() or 1) else "")) + ".",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        f"- Training time: {trained['train_seconds'].sum():.0f} s summed over "
        f"{len(trained)} runs (each run's own wall time, from its summary.json, the first "
        "run of each worker including kernel loading); this invocation's sweep took "
        f"{sweep_seconds:.0f} s ({int((runs['status'] == 'reused').sum())} of {len(runs)} "
        "runs reused from an earlier invocation).",
        f"- Generated {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
    ]
    return "\n".join(lines) + "\n"


def results_markdown(table: pd.DataFrame, runs: pd.DataFrame, setups: Sequence[Any],
                     seeds: int, command: str, workers: int, sweep_seconds: float,
                     timings: Mapping[str, Any], notes: Sequence[str],
                     limit: int | None = None) -> str:
    """The whole RESULTS.md."""
    parts = [
        "# Reproducing the seed papers with fxsim\n",
        "Generated by `fxsim reproduce`; regenerate with the command below (finished runs in "
        "the runs folder, `--runs-dir`, default `runs/reproduce`, are reused):\n",
        f"```bash\n{command}\n```\n",
        "**Read this first.** The numbers below come from the digits CNN on the 1,797 8x8 "
        "handwritten digits embedded in fxsim ("
        + ("1,437 train and 360 test images per seed" if limit is None else
           f"limited here to {limit} train and {limit} test images: a smoke test, not a result")
        + "): a tiny, easy task where most schemes reach the same accuracy. The seed papers' "
        "claims "
        "are about CIFAR-10/100 on ResNets; a scheme that fails here is suspect, but one that "
        "works here is not thereby shown to work at scale. Run `fxsim reproduce --data-dir "
        "CIFAR_FOLDER` for ResNet-20 on CIFAR-10. The ARC and class-difficulty policies are "
        "reconstructions from the papers' descriptions (see `fxsim policies`).\n",
    ]
    flags = _flags(table)
    if flags:
        parts.append("\n".join(f"- {f}" for f in flags) + "\n")
    for setup in setups:
        parts.append(net_section(table, setup, seeds))
    parts.append(claims_markdown(table, timings, {s.net: s.epochs for s in setups}))
    latency, steps = timings.get("latency"), timings.get("steps")
    units = timings.get("units")
    parts.append("## Quantizer latency and rounding-unit cost\n")
    if latency is not None:
        parts.append(
            f"Rounding {int(latency['elements'].iloc[0]):,} standard-normal float64 values to "
            "8 bits, saturating, best of several repeats with the tasks interleaved, "
            f"{latency.attrs.get('threads', '?')} numba thread(s). `fxsim`: `fxsim.quantize` "
            "(`pow2`: format s8.4; `real`: a real step of 0.05, divided in float64); `numpy`: "
            "`np.trunc`, `np.rint` or `np.floor(y + rng.random(n))` on `y = 16 x`, clipped and "
            "cast to int8, for reference. Wall and CPU time are each the best of the repeats; "
            "the ratio uses CPU time, which other processes' load disturbs far less:\n")
        parts.append(markdown_table(
            latency[["implementation", "rounding", "scale", "wall_ms", "cpu_ms",
                     "cpu_ns_per_element", "vs_stochastic"]],
            {"wall_ms": ".1f", "cpu_ms": ".1f", "cpu_ns_per_element": ".2f",
             "vs_stochastic": ".2f"}))
    else:
        parts.append("Latency not measured (`--latency-elements 0`).\n")
    if units is not None:
        parts.append("\nOne rounding unit (costmodel, 45 nm), 32-bit accumulator to 8 bits:\n")
        parts.append(markdown_table(units, {"energy_pj": ".4f", "area_um2": ".1f",
                                            "energy_vs_nearest": ".2f",
                                            "area_vs_nearest": ".2f"}))
    if steps is not None:
        parts.append(
            f"\nTraining-step time of the digits CNN in this process (batch "
            f"{int(steps['batch'].iloc[0])}, best of several epochs, policies interleaved, "
            f"{steps.attrs.get('threads', '?')} numba threads; CPU time sums this process's "
            "threads):\n")
        parts.append(markdown_table(steps[["policy", "steps", "wall_ms_per_step",
                                           "cpu_ms_per_step"]],
                                    {"wall_ms_per_step": ".1f", "cpu_ms_per_step": ".1f"}))
    parts.append(sensitivity_markdown(timings.get("sensitivity") or {}))
    if notes:
        parts.append("\n## Cost-model notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    parts.append("\n" + machine_section(workers, sweep_seconds, runs, latency,
                                         timings.get("load")))
    parts.append("\nPer-run numbers (accuracy, easy share, cost, run folder): `results.csv` "
                 "next to this file.\n")
    return "\n".join(parts)


def measure(outcomes: Sequence[Any], setups: Sequence[Any],
            options: MeasureOptions) -> dict[str, Any]:
    """The timing and unit-cost tables: latency, units, steps (None where skipped)."""
    latency = (rounding_latency(options.latency_elements, options.latency_repeats)
               if options.latency_elements else None)
    steps = None
    digits = next((s for s in setups if s.net == "digits_cnn"), None)
    if options.step_timing and digits is not None:
        limit = outcomes[0].plan.config.limit if outcomes else None
        steps = step_times(digits, options.step_policies, options.step_repeats, limit)
    return {"latency": latency, "units": rounding_units(32, 8), "steps": steps,
            "sensitivity": cost_sensitivity(outcomes, setups)}


def write_report(outcomes: Sequence[Any], setups: Sequence[Any], out: Path, *, command: str,
                 workers: int, sweep_seconds: float, measure_options: MeasureOptions
                 ) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    """Write ``out/results.csv`` and ``out/RESULTS.md`` (atomically); return both paths, the
    per-run frame and the summary table."""
    cost_notes: set[str] = set()
    runs = runs_frame(outcomes, cost_notes)
    table = summary_table(runs, outcomes, cost_notes)
    load_before = _load()
    timings = measure(outcomes, setups, measure_options)
    timings["load"] = (load_before, _load())
    seeds = int(runs["seed"].nunique())
    notes = sorted(cost_notes)
    text = results_markdown(table, runs, setups, seeds, command, workers, sweep_seconds,
                            timings, notes, outcomes[0].plan.config.limit)
    csv_path = write_csv(runs.round(6), out / "results.csv")
    md_path = write_atomic(out / "RESULTS.md", text)
    return md_path, csv_path, runs, table

