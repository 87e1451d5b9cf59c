"""The ``fxsim`` command line. The only module that prints."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _modes_table(bits: int, frac: int, samples: int, seed: int):
    """Error statistics of every rounding mode on standard-normal data (the built-in default)."""
    import pandas as pd

    import fxsim

    fmt = fxsim.QFormat(bits, frac)
    x = np.random.default_rng(seed).standard_normal(samples)
    rows = []
    for mode in fxsim.ROUNDING_MODES:
        extra = {"random_bits": 8} if mode == "stochastic_k" else {}
        q = fxsim.quantize(x, fmt, mode, seed=seed, **extra)
        err = (q.to_float() - x) / fmt.lsb
        rows.append(
            {
                "rounding": mode + (" (k=8)" if extra else ""),
                "mean_err_lsb": err.mean(),
                "rms_err_lsb": np.sqrt((err**2).mean()),
                "max_abs_err_lsb": np.abs(err).max(),
                "saturated": q.stats.saturated,
            }
        )
    return pd.DataFrame(rows)


def _cmd_modes(args: argparse.Namespace) -> int:
    table = _modes_table(args.bits, args.frac, args.samples, args.seed)
    print(
        f"Rounding modes on {args.samples} standard-normal samples, format "
        f"s{args.bits}.{args.frac} (errors in LSBs, saturated elements counted):"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        from fxsim.io import write_csv

        write_csv(table, args.csv)
        print(f"wrote {args.csv}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fxsim",
        description=(
            "Bit-accurate fixed-point simulator for training CNNs, with a hardware cost model. "
            "Run a subcommand with --help for its options. With no subcommand, runs "
            "'fxsim modes' on the built-in default data."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modes = sub.add_parser(
        "modes",
        help="compare every rounding mode's error on standard-normal data",
        description=(
            "Quantize standard-normal samples with every rounding mode and print the mean, RMS "
            "and maximum error in LSBs and the number of saturated elements."
        ),
    )
    modes.add_argument("--bits", type=int, default=4, help="word length in bits (default 4)")
    modes.add_argument("--frac", type=int, default=2, help="fraction length (default 2)")
    modes.add_argument("--samples", type=int, default=1_000_000, help="sample count")
    modes.add_argument("--seed", type=int, default=0, help="seed of data and rounding")
    modes.add_argument("--csv", help="also write the table to this CSV file")
    modes.set_defaults(func=_cmd_modes)
    from costmodel.cli import add_cost_parser

    add_cost_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["modes", *(argv or [])])
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"fxsim {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
