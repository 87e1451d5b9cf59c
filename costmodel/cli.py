"""The ``fxsim cost`` subcommand: the only module of costmodel that prints."""

from __future__ import annotations

import argparse
import re

import pandas as pd

DEFAULT_ACC_BITS = 32


def add_cost_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``cost`` on an argparse subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "cost",
        help="energy and area of a scheme on a net, or of one MAC",
        description=(
            "Price one training step of a net under a policy (--net, --policy), optionally "
            "against a baseline policy, or one MAC (--mac AxB --acc N). Numbers come from "
            "costmodel/data: Horowitz ISSCC 2014 (45 nm) and Stillmaker & Baas 2017 node "
            "scaling, unless --primitives/--nodes/--units give your own tables."
        ),
    )
    parser.add_argument("--net", help="reference net name (reference_nets.layer_shapes)")
    parser.add_argument("--policy", help="policy TOML file (docs/policy-schema.md)")
    parser.add_argument("--baseline", help="baseline policy TOML file to compare against")
    parser.add_argument("--mac", metavar="AxB", help="price one MAC of A-bit by B-bit operands")
    parser.add_argument("--acc", type=int, default=DEFAULT_ACC_BITS,
                        help=f"accumulator bits for --mac (default {DEFAULT_ACC_BITS})")
    parser.add_argument("--node", type=float, default=45.0,
                        help="technology node in nm (default 45; 7..130, between listed nodes "
                             "interpolated)")
    parser.add_argument("--batch", type=int, default=1, help="samples per step (default 1)")
    parser.add_argument("--memory", default="sram_32KB",
                        help="table row pricing memory traffic: sram_8KB, sram_32KB (default), "
                             "sram_1MB, dram")
    parser.add_argument("--lfsr-share", type=int, default=1,
                        help="lanes sharing one LFSR in stochastic rounding units (default 1)")
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


def run_cost(args: argparse.Namespace) -> int:
    """Run ``fxsim cost``: print the table(s); return the exit status."""
    import costmodel
    from fxsim.io import write_csv

    tables = {"primitives": args.primitives, "nodes": args.nodes, "units": args.units}
    if args.mac:
        frame = _run_mac(args, tables)
        print(f"One MAC at {args.node:g} nm (pJ per MAC, um^2 per unit):")
        print(_fmt(frame))
    else:
        if not args.net or not args.policy:
            raise ValueError("give --net NAME and --policy FILE, or --mac AxB [--acc N]")
        options = {"node_nm": args.node, "memory": args.memory, "lfsr_share": args.lfsr_share,
                   **tables}
        frame = costmodel.estimate(args.net, args.policy, args.batch, **options)
        totals = costmodel.summarize(frame)
        print(f"Policy {frame.attrs['policy']!r} on {args.net}, batch {args.batch}, "
              f"{args.node:g} nm, memory {args.memory} (energy in pJ per step, lane area um^2):")
        columns = ["layer", "phase", "group", "macs", "a_bits", "b_bits", "acc_bits",
                   "traffic_bits", "energy_mac_pj", "energy_memory_pj", "energy_rounding_pj",
                   "energy_saturation_pj", "energy_stats_pj", "energy_pj", "area_um2"]
        print(_fmt(frame[columns]))
        print(f"total energy {totals['energy_pj']:.6g} pJ, traffic {totals['traffic_bits']:.6g} "
              f"bits, largest lane {totals['area_um2']:.6g} um^2")
        if args.baseline:
            table = costmodel.compare([args.policy], args.baseline, net=args.net,
                                      batch=args.batch, **options)
            print("\nAgainst the baseline:")
            print(_fmt(table))
    if args.csv:
        write_csv(frame, args.csv)
        print(f"wrote {args.csv}")
    return 0
