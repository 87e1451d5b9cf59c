"""The ``fxsim cost`` subcommand: the only module of costmodel that prints."""

from __future__ import annotations

import argparse
import re

import pandas as pd

from costmodel.area import DEFAULT_LANES
from fxsim.cli_args import DefaultsFormatter
from fxsim.numeric.formats import MULTIPLIER_BITS

DEFAULT_ACC_BITS = 32


def add_cost_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``cost`` on an argparse subparsers object; returns its parser."""
    from reference_nets.specs import NETS

    parser = subparsers.add_parser(
        "cost",
        help="energy and area of a scheme on a net, or of one MAC",
        description=(
            "Price one training step of a net under a policy (--net, --policy), optionally "
            "against a baseline policy, or one MAC (--mac AxB --acc N). With --run, the class-"
            "group shares a training run measured (and its net, policy and batch unless "
            "given). Numbers come from "
            "costmodel/data: Horowitz ISSCC 2014 (45 nm) and Stillmaker & Baas 2017 node "
            "scaling, unless --primitives/--nodes/--units give your own tables."
        ),
        formatter_class=DefaultsFormatter,
    )
    parser.add_argument("--net", help=f"reference net name ({', '.join(NETS)})")
    parser.add_argument("--policy", help="shipped policy name (fxsim policies) or policy TOML "
                                         "file (docs/policy-schema.md)")
    parser.add_argument("--baseline", help="baseline policy to compare against (a shipped name "
                                           "such as fp, or a TOML file)")
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="a fxsim train run folder: price its policy with the class-group "
                             "shares it measured (metrics.csv easy_share, mean over epochs); "
                             "its net, policy and batch serve when --net/--policy/--batch are "
                             "not given")
    parser.add_argument("--mac", metavar="AxB", help="price one MAC of A-bit by B-bit operands")
    parser.add_argument("--acc", type=int, default=DEFAULT_ACC_BITS,
                        help="accumulator bits for --mac")
    parser.add_argument("--node", type=float, default=45.0,
                        help="technology node in nm (7..130, between listed nodes "
                             "interpolated)")
    parser.add_argument("--batch", type=int, help="samples per step (default 1, or the run's)")
    parser.add_argument("--memory", default="sram_32KB",
                        help="table row pricing memory traffic: sram_8KB, sram_32KB, "
                             "sram_1MB, dram")
    parser.add_argument("--lanes", type=int, default=DEFAULT_LANES,
                        help="MAC lanes of the array the area is priced for (the default is "
                             "a 16x16 array)")
    parser.add_argument("--lfsr-share", type=int, default=1,
                        help="lanes sharing one LFSR in stochastic rounding units")
    parser.add_argument("--multiplier-bits", type=int, default=MULTIPLIER_BITS,
                        help="bits of the fixed-point multiplier of real-step rescales (the "
                             "default is the simulator's)")
    parser.add_argument("--primitives", action="append",
                        help="your own primitive table CSV (repeatable; replaces the default "
                             "rows of each kind it contains)")
    parser.add_argument("--nodes", help="your own technology-node table CSV")
    parser.add_argument("--units", help="your own unit-definition CSV")
    parser.add_argument("--csv", help="also write the per-layer table (or the MAC row) here")
    parser.set_defaults(func=run_cost)
    return parser


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


def _run_net(args: argparse.Namespace, tables: dict) -> pd.DataFrame:
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
                         "--mac AxB [--acc N]")
    batch = batch or 1
    options = {"node_nm": args.node, "memory": args.memory, "lfsr_share": args.lfsr_share,
               "lanes": args.lanes, "multiplier_bits": args.multiplier_bits, **tables}
    frame = costmodel.estimate(net, policy, batch, shares=shares, **options)
    totals = costmodel.summarize(frame)
    measured = "" if not shares else ", measured shares " + ", ".join(
        f"{g} {v:.4g}" for g, v in shares.items())
    print(f"Policy {frame.attrs['policy']!r} on {net}, batch {batch}, {args.node:g} nm, "
          f"memory {args.memory}{measured} (energy in pJ per step):")
    columns = ["layer", "phase", "group", "macs", "a_bits", "b_bits", "acc_bits",
               "traffic_bits", *(c for c in frame.columns if c.startswith("energy_"))]
    print(_fmt(frame[columns]))
    print(f"\nArea (um^2) with {args.lanes} MAC lanes (area_um2: one unit):")
    print(_fmt(frame.attrs["area"].table()))
    print(f"total energy {totals['energy_pj']:.6g} pJ, traffic {totals['traffic_bits']:.6g} "
          f"bits, area {totals['area_um2']:.6g} um^2 = {args.lanes} x "
          f"{totals['mac_lane_area_um2']:.6g} (MAC lane) + {totals['shared_area_um2']:.6g} "
          f"(shared) + {totals['update_area_um2']:.6g} (update)")
    if args.baseline:
        table = costmodel.compare([policy], args.baseline, net=net, batch=batch, shares=shares,
                                  **options)
        print("\nAgainst the baseline:")
        print(_fmt(table))
    return frame


def run_cost(args: argparse.Namespace) -> int:
    """Run ``fxsim cost``: print the table(s); return the exit status."""
    from fxsim.io import write_csv

    tables = {"primitives": args.primitives, "nodes": args.nodes, "units": args.units}
    if args.mac:
        frame = _run_mac(args, tables)
        print(f"One MAC at {args.node:g} nm (pJ per MAC, um^2 per unit):")
        print(_fmt(frame))
    else:
        frame = _run_net(args, tables)
    if args.csv:
        write_csv(frame, args.csv)
        print(f"wrote {args.csv}")
    return 0
