"""``fxsim rtl``: export, check, vectors, size. The only module of fxsim.rtl that prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from fxsim.cli_args import add_command, add_csv, add_out_folder, add_seed

UNIT_HELP = ("a unit as KIND:key=value,... (repeatable), KIND one of mac, requant, rescale, "
             "lfsr, minmax, zscore, interval; e.g. requant:in=32,out=8,rounding=stochastic_k,"
             "k=4,shift=runtime. 'fxsim rtl export --help' lists the keys")
KEYS_HELP = """unit keys (every key has a default; bits are word lengths; *_signed are 0 or 1):
  mac      a, b, a_signed, b_signed, acc, overflow (saturate|wrap), counters (bits; 0: none)
  requant  in, in_signed, out, out_signed, rounding (an fxsim mode), k (random bits of
           stochastic_k), shift (integer, negative shifts left, or runtime), shift_bits,
           signed_shift, overflow, clip_lo, clip_hi, random (port|lfsr), lfsr_width
  rescale  in, in_signed, m, multiplier (integer or runtime), shift, shift_bits, signed_shift,
           out, out_signed, rounding, k, overflow, clip_lo, clip_hi
  lfsr     width (state bits), k (random bits per clock)
  minmax, zscore, interval   in, in_signed, count (counter bits; zscore and interval)
unit sets (--set): check (every kind, every rounding mode at several widths), rounding (every
rounding mode's unit at 32->8 and 16->4, stochastic_k with 2..16 random bits)"""


def _specs(args: argparse.Namespace) -> list:
    from fxsim.rtl.spec import parse_unit
    from fxsim.rtl.units import unit_set

    specs = [parse_unit(text) for text in args.unit or []]
    for name in args.set or []:
        specs += unit_set(name)
    if not specs:
        raise ValueError("give at least one --unit KIND:key=value,... or --set NAME")
    return specs


def _cmd_export(args: argparse.Namespace) -> int:
    from fxsim.rtl.units import export

    for path in export(_specs(args), args.out):
        print(f"wrote {path}")
    return 0


def _cmd_vectors(args: argparse.Namespace) -> int:
    from fxsim.rtl.sim import write_unit_vectors
    from fxsim.rtl.spec import module_name

    specs = _specs(args)
    for spec in specs:
        out = Path(args.out) / module_name(spec) if len(specs) > 1 else Path(args.out)
        write_unit_vectors(spec, out, args.count, args.seed)
        print(f"wrote {out}/ (manifest.json, *.hex, vectors.npz)")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from fxsim.rtl.sim import check_unit
    from fxsim.rtl.spec import parse_unit
    from fxsim.rtl.vecio import read_manifest

    if args.trace:
        return _check_trace(args)
    if args.vectors:
        manifest = read_manifest(args.vectors) or {}
        specs = _specs(args) if (args.unit or args.set) else []
        if not specs and "unit" not in manifest:
            raise ValueError(f"{args.vectors} has no manifest.json naming its unit: give --unit")
        specs = specs or [parse_unit(manifest["unit"])]
    else:
        specs = _specs(args) if (args.unit or args.set) else _default_check_set()
    return _report([check_unit(spec, args.count, args.seed, args.vectors, args.keep)
                    for spec in specs], args)


def _check_trace(args: argparse.Namespace) -> int:
    from fxsim.rtl.sim import check_inputs
    from fxsim.rtl.spec import unit_text
    from fxsim.rtl.traces import trace_cases

    cases, skipped = trace_cases(args.trace, args.event, args.max_outputs)
    print(f"{args.trace}: {len(cases)} events to co-simulate, {len(skipped)} skipped")
    for line in skipped:
        print(f"    skipped {line}")
    if not cases:
        raise ValueError(f"no requantize or forward MAC event of {args.trace} matches "
                         f"--event {args.event!r}")
    return _report((check_inputs(case.spec, case.inputs, case.seed, case.stream, case.source,
                                 (case.check,), label=f"{case.event} [{unit_text(case.spec)}]")
                    for case in cases), args)


def _report(results, args: argparse.Namespace) -> int:
    """Print one line per result (and its mismatches), the CSV, the total; 1 if any failed."""
    rows, failed = [], 0
    for result in results:
        rows.append(result.summary())
        status = "ok" if result.ok else "MISMATCH"
        print(f"{status:8s} {result.unit}: {result.compared} outputs of {result.rows} vectors, "
              f"{result.checks} aggregate checks ({result.seconds:.1f} s)", flush=True)
        if not result.ok:
            failed += 1
            _print_mismatches(result, args.show)
    table = pd.DataFrame(rows)
    if args.csv:
        from fxsim.io import write_csv

        write_csv(table, args.csv)
        print(f"wrote {args.csv}")
    total = int(table.compared.sum())
    print(f"{len(rows) - failed} of {len(rows)} units match fxsim bit for bit "
          f"({total} outputs compared)")
    return 1 if failed else 0


def _default_check_set() -> list:
    from fxsim.rtl.units import unit_set

    return unit_set("check")


def _print_mismatches(result, show: int) -> None:
    for message in result.failed_checks:
        print(f"    check failed: {message}")
    if not result.mismatches.empty:
        print(f"    {len(result.mismatches)} mismatching outputs; the first {show}:")
        text = result.mismatches.head(show).to_string(index=False)
        print("\n".join("    " + line for line in text.splitlines()))


def _cmd_size(args: argparse.Namespace) -> int:
    from fxsim.rtl.calibrate import calibrate

    calibration = calibrate()
    print(f"calibration (45 nm): {calibration.describe()}", flush=True)
    if args.table:
        from fxsim.rtl.table import build_table, write_table

        frame = build_table(lambda r: print(f"  {r['unit']:28s} {r['rtl']:60s} "
                                            f"{r['area_um2']:9.1f} um^2 "
                                            f"{r['energy_pj']:.4f} pJ", flush=True))
        write_table(frame, args.table)
        print(f"wrote {args.table} ({len(frame)} units)")
        return 0
    from tqdm import tqdm

    from fxsim.rtl.size import size_units

    specs = _specs(args)
    with tqdm(total=len(specs), desc="synthesizing", unit="unit", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        frame = size_units(specs, seed=args.seed, callback=lambda row: bar.update())
    shown = frame.drop(columns=["textbook"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        from fxsim.io import write_csv

        write_csv(frame, args.csv)
        print(f"wrote {args.csv}")
    return 0


def add_rtl_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``rtl`` (with export, check, vectors, size) on an argparse subparsers object."""
    rtl = add_command(
        subparsers, "rtl",
        help="Verilog of fxsim's arithmetic units: export, co-simulate, synthesize",
        description="Write synthesizable Verilog-2005 of the units fxsim simulates (MAC, "
                    "requantizer, stochastic rounding with an LFSR, real-step rescale, "
                    "statistics units), check it bit for bit against fxsim's kernels in Icarus "
                    "Verilog, and synthesize it with Yosys for its cells, area and energy.",
        epilog=KEYS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = rtl.add_subparsers(dest="rtl_command", metavar="SUBCOMMAND", required=True)

    def unit_args(parser) -> None:
        parser.add_argument("--unit", action="append", metavar="KIND:key=value,...",
                            help=UNIT_HELP)
        parser.add_argument("--set", action="append", choices=["check", "rounding"],
                            help="a named set of units (repeatable)")

    def count_args(parser) -> None:
        parser.add_argument("--count", type=int, default=10_000,
                            help="vectors per unit (results: reductions of a MAC, tensors of a "
                                 "statistics unit)")
        add_seed(parser, "vectors and random bits")

    export = add_command(sub, "export", help="write the Verilog of units",
                         description="Write each unit's Verilog-2005 to OUT/<module>.v.",
                         func=_cmd_export, epilog=KEYS_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    unit_args(export)
    add_out_folder(export, "the Verilog files")

    check = add_command(
        sub, "check", help="co-simulate units in Icarus Verilog against fxsim's kernels",
        description="Build each unit with a generated testbench in Icarus Verilog and compare "
                    "every output with fxsim's kernels, bit for bit, on random and edge vectors "
                    "(or on a vector folder). Without --unit/--set: the 'check' set. Exits 1 if "
                    "any unit mismatches.", func=_cmd_check)
    unit_args(check)
    count_args(check)
    check.add_argument("--vectors", metavar="DIR",
                       help="a vector folder (fxsim rtl vectors, or hex/NPZ files with a "
                            "manifest.json) instead of generated vectors")
    check.add_argument("--trace", metavar="DIR",
                       help="a trace folder (fxsim trace): co-simulate its requantize events "
                            "and linear/forward conv2d products on the run's own tensors, "
                            "against fxsim and against the outputs the run recorded")
    check.add_argument("--event", default="*",
                       help="with --trace: the event ids to take (a shell pattern)")
    check.add_argument("--max-outputs", type=int, default=2000,
                       help="with --trace: outputs per MAC event fed to the unit")
    check.add_argument("--show", type=int, default=10, help="mismatches listed per unit")
    check.add_argument("--keep", metavar="DIR", help="keep the Verilog, testbench and vectors")
    add_csv(check, "the per-unit results")

    vectors = add_command(
        sub, "vectors", help="write test vectors and fxsim's expected outputs as hex files",
        description="Write, per unit, hex files ($readmemh: one word a line, two's complement "
                    "at the port's width) of every input and of fxsim's expected outputs, an "
                    "NPZ and a manifest.json, for your own RTL's testbench.", func=_cmd_vectors)
    unit_args(vectors)
    count_args(vectors)
    add_out_folder(vectors, "the vectors", "one subfolder per unit when several")

    size = add_command(
        sub, "size", help="synthesize units with Yosys: cells, transistors, um^2, pJ",
        description="Synthesize each unit with Yosys to NAND/NOR/NOT gates and D flip-flops "
                    "and report cells, transistors (stat -tech cmos), area and energy per "
                    "operation at 45 nm (calibrated on Horowitz's 8-bit adder and 8x8 "
                    "multiplier), beside the cost model's textbook estimate. --table "
                    "regenerates the synthesized unit table the cost model reads with "
                    "--units synth.", func=_cmd_size)
    unit_args(size)
    size.add_argument("--table", metavar="CSV",
                      help="regenerate the synthesized unit table (costmodel/data/"
                           "synth_units.csv) instead")
    add_seed(size, "the activity vectors")
    add_csv(size)
    return rtl


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run 'fxsim rtl'")
