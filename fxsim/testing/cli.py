"""``fxsim check-rounding`` on the command line: the only part of the package that prints."""

from __future__ import annotations

import argparse

from fxsim.cli_args import add_command, add_csv, add_random_bits, int_at_least


def _expectation(text: str) -> str | list[str]:
    """A built-in mode's name, or invariant names separated by commas."""
    from fxsim.numeric.rounding import ROUNDING_MODES

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give a built-in mode or invariants separated by commas")
    return names[0] if len(names) == 1 and names[0] in ROUNDING_MODES else names


def add_check_rounding_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``check-rounding`` on an argparse subparsers object."""
    parser = add_command(
        subparsers, "check-rounding",
        help="property-test a rounding mode (built-in or your own): which invariants it keeps",
        description=(
            "Run every rounding invariant of fxsim.testing (error bounds, monotonicity, "
            "idempotence, sign symmetry, direction, tie rule, double rounding, requantize "
            "against quantize, saturate and wrap, unbiasedness and variance of random modes, "
            "thread and chunk independence, reproducibility) on MODE with hypothesis, and "
            "print which it keeps and which it breaks, each broken one with the minimal "
            "counterexample hypothesis shrinks to. MODE is a built-in mode or a rule "
            "registered with fxsim.register_rounding in a module given with "
            "--rounding-module. Exit status 1 when an invariant the mode claims is broken "
            "(a built-in: those it keeps in fxsim.testing.BUILTIN_KEEPS; a registered rule: "
            "those every sound rounding keeps, its declared tie rule, unbiasedness for random "
            "rules, plus --expect). The searches are deterministic: the same examples every "
            "run."),
        func=run_check_rounding)
    parser.add_argument("mode", nargs="?", help="the rounding mode to check")
    parser.add_argument("--rounding-module", action="append", default=None, metavar="MODULE",
                        help="a module name or .py file that registers rules (repeatable)")
    parser.add_argument("--max-examples", type=int_at_least(1), default=100,
                        help="examples per invariant (the statistical and thread checks use "
                             "proportionally fewer)")
    add_random_bits(parser, "default 8")
    parser.add_argument("--expect", type=_expectation, default=None,
                        help="invariants the mode must keep besides its defaults "
                             "(comma-separated), or a built-in mode whose invariants it must "
                             "keep (e.g. nearest_even)")
    parser.add_argument("--all", action="store_true",
                        help="instead: the table of every built-in mode's verdicts")
    add_csv(parser)


def run_check_rounding(args: argparse.Namespace) -> int:
    """Run ``fxsim check-rounding``: the table of verdicts, then the counterexamples."""
    from fxsim.io import write_csv
    from fxsim.numeric.user_rounding import load_rounding_module
    from fxsim.testing.report import builtin_table, check_all

    for spec in args.rounding_module or ():
        load_rounding_module(spec)
    if args.all:
        table = builtin_table(args.max_examples)
        print(f"Invariants kept by the built-in modes ({args.max_examples} examples each):")
        print(table.to_string())
        if args.csv:
            write_csv(table.reset_index(), args.csv)
            print(f"wrote {args.csv}")
        return 0
    if not args.mode:
        raise ValueError("give a MODE to check (or --all for the built-in modes)")
    report = check_all(args.mode, random_bits=args.random_bits, expect=args.expect,
                       max_examples=args.max_examples, raise_on_failure=False)
    print(report)
    if args.csv:
        write_csv(report.table, args.csv)
        print(f"wrote {args.csv}")
    return 0 if report.ok else 1
