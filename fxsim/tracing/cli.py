"""``fxsim trace``: one training step of a run folder, traced to NPZ, JSON and hex files."""

from __future__ import annotations

import argparse
from collections import Counter

from fxsim.cli_args import add_command, add_out_folder, int_at_least
from fxsim.layers.tracing import EVENT_KINDS


def add_trace_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``trace`` on an argparse subparsers object; returns its parser."""
    parser = add_command(
        subparsers, "trace",
        help="write one training step's integer tensors (NPZ and $readmemh hex)",
        description=(
            "Replay training step S of a run folder (its state is rebuilt from the checkpoint "
            "or by retraining from the start; the run folder is not touched) and write every "
            "selected event of that step: quantize/requantize (input and output codes, format "
            "or step, rounding, multiplier and shift, saturation bounds and counts), MAC "
            "products (operand and accumulator codes, overflow counts), straight-through "
            "masks and optimizer updates. OUT gets trace.json (index), trace.npz and hex/ "
            "(one word per line, two's complement at the format's width). Format: "
            "docs/trace-format.md."),
        func=run_trace)
    parser.add_argument("run", help="the run folder (made by fxsim train)")
    parser.add_argument("--step", type=int_at_least(0), required=True,
                        help="global training step, 0-based (epoch e, batch i: e * "
                             "steps_per_epoch + i)")
    parser.add_argument("--layer", action="append", metavar="L",
                        help="only this layer (repeatable; shell patterns such as 's1b*')")
    parser.add_argument("--role", action="append", metavar="R",
                        help="only this role (repeatable): weights, activations, act_grads, "
                             "weight_grads, bias_grads, accumulator, bias, master")
    parser.add_argument("--kind", action="append", choices=EVENT_KINDS,
                        help="only this event kind (repeatable)")
    add_out_folder(parser, "the trace")
    parser.add_argument("--hex", action=argparse.BooleanOptionalAction, default=True,
                        help="also write hex/*.hex files")
    return parser


def run_trace(args: argparse.Namespace) -> int:
    from fxsim.tracing import trace_run

    recorded = trace_run(args.run, args.step, args.layer, args.role, args.kind)
    if not recorded.events:
        raise ValueError("the selection recorded no event (check --layer, --role, --kind "
                         "against `fxsim policies --net NET` and docs/trace-format.md)")
    folder = recorded.save(args.out, hex_files=args.hex)
    kinds = Counter(e.kind for e in recorded.events)
    print(f"traced step {args.step} of {args.run} (epoch {recorded.run['epoch']}, batch "
          f"{recorded.run['step_in_epoch']}): {len(recorded.events)} events ("
          + ", ".join(f"{n} {k}" for k, n in kinds.items()) + f") -> {folder}/trace.json, "
          "trace.npz" + (", hex/" if args.hex else ""))
    return 0
