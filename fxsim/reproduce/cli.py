"""``fxsim reproduce`` on the command line: the only part of the package that prints."""

from __future__ import annotations

import argparse

from fxsim.cli_args import add_command, add_limit, add_workers, int_at_least
from fxsim.reproduce import runs
from fxsim.reproduce.main import reproduce
from fxsim.reproduce.report import MeasureOptions
from fxsim.reproduce.runs import RunOutcome


def _policy_list(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give policy names separated by commas")
    return names


def add_reproduce_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``reproduce`` on an argparse subparsers object; returns its parser."""
    parser = add_command(
        subparsers, "reproduce",
        help="train every shipped policy over several seeds and write RESULTS.md",
        description=(
            "Train every shipped policy (and the baselines fp and cdmp_base) on the digits CNN, "
            "and on ResNet-20/CIFAR-10 with --data-dir, over several seeds; write RESULTS.md "
            "and results.csv: accuracy (mean, std, min, max over seeds), drop against fp, "
            "energy, area and compression from the cost model, the latency of toward_zero "
            "against stochastic rounding, and each seed paper's claim next to the measurement. "
            "Finished runs in --runs-dir are reused, partly trained ones resumed."),
        func=run_reproduce,
    )
    parser.add_argument("--data-dir", default=None,
                        help="CIFAR-10 folder: also train ResNet-20 on CIFAR-10 (slow on a CPU: "
                             "391 steps of 128 images per epoch and run; time a step with "
                             "benchmarks/train.py)")
    parser.add_argument("--seeds", type=int_at_least(1), default=runs.DEFAULT_SEEDS,
                        help="seeds per policy (0, 1, ...; verdicts need 3 or more)")
    parser.add_argument("--epochs", type=int_at_least(1), default=runs.DEFAULT_EPOCHS,
                        help="epochs of the digits runs")
    parser.add_argument("--cifar-epochs", type=int_at_least(1), default=runs.DEFAULT_CIFAR_EPOCHS,
                        help="epochs of the ResNet-20 runs (with --data-dir)")
    parser.add_argument("--policies", type=_policy_list, default=None,
                        help="comma-separated subset (default: all; fp, and cdmp_base with "
                             "cdmp, are always added)")
    parser.add_argument("--out", default=runs.DEFAULT_OUT,
                        help="folder for RESULTS.md and results.csv (the committed ones are "
                             "regenerated with --out docs)")
    parser.add_argument("--runs-dir", default=runs.DEFAULT_RUNS_DIR,
                        help="folder of the run folders (NET/POLICY/seedK)")
    add_workers(parser, runs.DEFAULT_WORKERS,
                "runs trained at once, each in its own process with one thread")
    add_limit(parser, "quick checks")
    parser.add_argument("--latency-elements", type=int_at_least(0), default=10**7,
                        help="float64 values quantized to time toward_zero against stochastic "
                             "rounding (0: skip)")
    parser.add_argument("--step-timing", action=argparse.BooleanOptionalAction, default=True,
                        help="time arc8 against sr8 training steps in this process")
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
