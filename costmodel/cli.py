"""The ``fxsim cost`` subcommand: the only module of costmodel that prints."""

from __future__ import annotations

import argparse
import re

import pandas as pd

from fxsim.cli_args import add_command, add_csv, add_net_policy, add_random_bits, int_at_least
from fxsim.numeric.formats import MULTIPLIER_BITS

DEFAULT_ACC_BITS = 32
DEFAULT_OUT_BITS = 8


def add_cost_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``cost`` on an argparse subparsers object; returns its parser."""
    from reference_nets.specs import NETS

    parser = add_command(
        subparsers, "cost",
        help="energy and area of a scheme on a net, or of one MAC",
        description=(
            "Price one training step of a net under a policy (--net, --policy) on an "
            "accelerator (--arch: MAC lanes with register files, a global buffer, DRAM, shared "
            "units; default: an Eyeriss-style design), optionally against a baseline policy; "
            "or one MAC (--mac AxB --acc N), or one rounding unit (--rounding MODE --acc N "
            "--out M). Each MAC phase is mapped onto the memory levels; "
            "batch norm, residual adds, pooling and the loss are priced too. With --run, the "
            "class-group shares a training run measured (and its net, policy and batch unless "
            "given). --sensitivity tells which numbers and assumptions can flip the "
            "comparison; --plot draws energy by component; --export-timeloop writes Timeloop "
            "problems and an energy table. Numbers come from costmodel/data (each row cites "
            "its source), unless --primitives/--nodes/--units give your own tables."
        ),
        func=run_cost,
    )
    add_net_policy(parser, NETS, net_help="reference net name")
    parser.add_argument("--baseline", help="baseline policy to compare against (a shipped name "
                                           "such as fp, or a TOML file)")
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="a fxsim train run folder: price its policy with the class-group "
                             "shares it measured (metrics.csv easy_share, mean over epochs); "
                             "its net, policy and batch serve when --net/--policy/--batch are "
                             "not given")
    parser.add_argument("--mac", metavar="AxB", help="price one MAC of A-bit by B-bit operands")
    parser.add_argument("--acc", type=int, default=DEFAULT_ACC_BITS,
                        help="accumulator bits for --mac; bits rounded from for --rounding")
    parser.add_argument("--rounding", metavar="MODE",
                        help="price one rounding unit of MODE from --acc to --out bits beside "
                             "nearest_even's; a stochastic MODE with its random bits from the "
                             "counter source (shared leap-forward generators) and from an LFSR "
                             "of its own (--lfsr-width)")
    parser.add_argument("--out", type=int_at_least(1), default=DEFAULT_OUT_BITS,
                        help="result bits for --rounding")
    add_random_bits(parser, "with --rounding")
    parser.add_argument("--lfsr-width", type=int_at_least(1), default=32,
                        help="state bits of the LFSR of --rounding (a policy's lfsr_width)")
    parser.add_argument("--node", type=float, default=45.0,
                        help="technology node in nm (7..130, between listed nodes "
                             "interpolated)")
    parser.add_argument("--batch", type=int_at_least(1),
                        help="samples per step (default: the net's training batch, ResNets "
                             "128, digits 32; or the run's)")
    parser.add_argument("--arch", metavar="FILE",
                        help="architecture TOML (default costmodel/data/arch/eyeriss.toml, "
                             "which documents every key)")
    parser.add_argument("--memory",
                        help="primitive-table row of the backing store (default: the "
                             "architecture's DRAM row)")
    parser.add_argument("--lanes", type=int_at_least(1),
                        help="MAC lanes (default: the architecture's rows x cols)")
    parser.add_argument("--sr-bits", type=int_at_least(1),
                        help="random bits every stochastic rounding unit is priced with "
                             "(default: a stochastic_k policy's own, else 8)")
    parser.add_argument("--lfsr-share", type=int_at_least(1), default=1,
                        help="v1 option, no effect: random-bit generators are shared by "
                             "throughput")
    parser.add_argument("--sensitivity", action="store_true",
                        help="vary every source number and assumption over its range and "
                             "report which can flip the comparison against --baseline (fp "
                             "when none is given)")
    parser.add_argument("--plot", metavar="PNG",
                        help="draw energy per step by component, policy and baseline side "
                             "by side")
    parser.add_argument("--export-timeloop", metavar="DIR",
                        help="write each layer and phase as a Timeloop problem (with the "
                             "policy's widths) and an energy reference table")
    parser.add_argument("--multiplier-bits", type=int, default=MULTIPLIER_BITS,
                        help="bits of the fixed-point multiplier of real-step rescales (the "
                             "default is the simulator's)")
    parser.add_argument("--primitives", action="append",
                        help="your own primitive table CSV (repeatable; replaces the default "
                             "rows of each kind it contains)")
    parser.add_argument("--nodes", help="your own technology-node table CSV")
    parser.add_argument("--units", help="your own unit-definition CSV, 'synth': the units "
                                        "synthesized from fxsim's RTL by Yosys "
                                        "(costmodel/data/synth_units.csv), or 'textbook' (or "
                                        "'default'): the default, costmodel/data/units.csv")
    add_csv(parser, "the per-layer table (or the MAC row)")
    return parser


def _table_name(units: str | None) -> str:
    from costmodel.units import SYNTH, TEXTBOOK

    return "synthesized" if units == SYNTH else (
        "textbook" if units in (None, *TEXTBOOK) else units)


def _fmt(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _run_mac(args: argparse.Namespace, tables: dict) -> pd.DataFrame:
    import costmodel
    from costmodel.scaling import Technology
    from costmodel.units import Units

    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", args.mac)
    if not match:
        raise ValueError(f"--mac wants AxB, such as 4x4 or 8x4; got {args.mac!r}")
    a, b = int(match.group(1)), int(match.group(2))
    cost = costmodel.mac(a, b, args.acc, args.node, **tables)
    fp32 = Units(Technology(args.node, tables["primitives"], tables["nodes"]),
                 tables["units"]).mac_fp32()
    return pd.DataFrame([
        {"mac": f"int {a}x{b} -> {args.acc}", "node_nm": args.node,
         "energy_pj": cost.energy_pj, "area_um2": cost.area_um2},
        {"mac": "fp32 (reference)", "node_nm": args.node,
         "energy_pj": fp32.energy_pj, "area_um2": fp32.area_um2},
    ])


def _options(args: argparse.Namespace, tables: dict) -> dict:
    return {"node_nm": args.node, "arch": args.arch, "memory": args.memory,
            "lanes": args.lanes, "sr_bits": args.sr_bits, "lfsr_share": args.lfsr_share,
            "multiplier_bits": args.multiplier_bits, **tables}


def _run_net(args: argparse.Namespace, tables: dict) -> pd.DataFrame:
    import warnings

    import costmodel
    from costmodel.run import run_settings

    net, policy, batch, shares = args.net, args.policy, args.batch, None
    if args.run:
        settings = run_settings(args.run)
        net, policy = net or settings["net"], policy or settings["policy"]
        batch = batch or settings["batch"]
        shares = costmodel.shares_from_run(args.run) or None
    if not net or not policy:
        raise ValueError("give --net NAME and --policy NAME|FILE (or --run RUN_DIR), or "
                         "--mac AxB [--acc N], or --rounding MODE")
    options = _options(args, tables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = costmodel.estimate(net, policy, batch, shares=shares, **options)
    totals = costmodel.summarize(frame)
    arch = frame.attrs["arch"]
    measured = "" if not shares else ", measured shares " + ", ".join(
        f"{g} {v:.4g}" for g, v in shares.items())
    print(f"Policy {frame.attrs['policy']!r} on {net}, batch {frame.attrs['batch']}, "
          f"{args.node:g} nm, architecture {arch.name} ({arch.rows}x{arch.cols} lanes, "
          f"{arch.rf_bytes} B RF, {arch.glb_bytes} B GLB, {arch.dram}){measured} "
          f"(energy in pJ per step):")
    columns = ["layer", "phase", "group", "kind", "macs", "a_bits", "b_bits", "acc_bits",
               "mapping", "passes", "cycles", "utilization", "dram_bits", "glb_bits", "rf_bits",
               "energy_mac_pj", "energy_memory_pj", "energy_rounding_pj", "energy_stats_pj",
               "energy_float_pj", "energy_pj"]
    print(_fmt(frame[columns]))
    print(f"\nArea (um^2) with {arch.lanes} MAC lanes (area_um2: one unit):")
    print(_fmt(frame.attrs["area"].table()))
    print(f"total energy {totals['energy_pj']:.6g} pJ per step "
          f"({totals['energy_per_image_pj']:.6g} per image), DRAM traffic "
          f"{totals['traffic_bits']:.6g} bits, {totals['cycles']:.6g} cycles "
          f"({totals['time_s']:.4g} s at {arch.clock_mhz:g} MHz, lane utilisation "
          f"{totals['utilization']:.2f}), area {totals['area_um2']:.6g} um^2 = "
          f"{arch.lanes} x {totals['mac_lane_area_um2']:.6g} (MAC lane) + "
          f"{totals['shared_area_um2']:.6g} (shared) + {totals['buffer_area_um2']:.6g} "
          f"(global buffer) + {totals['update_area_um2']:.6g} (update)")
    for message in frame.attrs["warnings"]:
        print(f"warning: {message}")
    if args.baseline or args.sensitivity or args.plot:
        baseline = args.baseline or "fp"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = costmodel.compare([policy], baseline, net=net, batch=batch,
                                      shares=shares, **options)
        print("\nAgainst the baseline:")
        print(_fmt(table))
        if args.plot:
            from costmodel.plot import plot_components

            plot_components({baseline: costmodel.estimate(net, baseline, batch, **options),
                             frame.attrs["policy"]: frame}, args.plot)
            print(f"wrote {args.plot}")
        if args.sensitivity:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = costmodel.sensitivity([policy], baseline, net=net, batch=batch,
                                               shares=shares, **options)
            found = costmodel.flips(report)
            print("\nSensitivity (each number or assumption over its range, the same "
                  "mapping):")
            print(_fmt(report.groupby(["assumption", "setting"], sort=False)[
                ["energy_saving", "area_saving"]].first().reset_index()))
            print("\nVariations that flip a verdict:" if len(found) else
                  "\nNo variation flips the saving's sign or the ranking.")
            if len(found):
                print(_fmt(found))
    if args.export_timeloop:
        from costmodel.timeloop import export_timeloop

        written = export_timeloop(net, policy, args.export_timeloop, batch=batch,
                                  shares=shares, **options)
        print(f"wrote {len(written)} files to {args.export_timeloop}")
    return frame


def run_cost(args: argparse.Namespace) -> int:
    """Run ``fxsim cost``: print the table(s); return the exit status."""
    from fxsim.io import write_csv

    tables = {"primitives": args.primitives, "nodes": args.nodes, "units": args.units}
    if args.mac:
        frame = _run_mac(args, tables)
        print(f"One MAC at {args.node:g} nm (pJ per MAC, um^2 per unit):")
        print(_fmt(frame))
    elif args.rounding:
        import costmodel

        frame = costmodel.rounding_unit(args.rounding, args.acc, args.out, args.random_bits,
                                        args.node, lfsr_width=args.lfsr_width, **tables)
        print(f"One rounding unit, {args.acc} -> {args.out} bits, at {args.node:g} nm, "
              f"{_table_name(args.units)} units (pJ per element, um^2 per unit; x: over "
              "nearest_even):")
        print(_fmt(frame))
    else:
        frame = _run_net(args, tables)
    if args.csv:
        write_csv(frame, args.csv)
        print(f"wrote {args.csv}")
    return 0
