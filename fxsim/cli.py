"""The ``fxsim`` command line. The only module that prints."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fxsim.cli_args import (
    POLICY_HELP,
    add_command,
    add_csv,
    add_limit,
    add_net_policy,
    add_seed,
    int_at_least,
)


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


def _default_out(net: str, policy: str, seed: int) -> str:
    """``runs/NET-POLICY-seedS``, with ``-2``, ``-3``, ... if that folder holds a run."""
    from pathlib import Path

    stem = f"runs/{net}-{Path(policy).stem}-seed{seed}"
    out, n = stem, 1
    while Path(out).exists():
        n += 1
        out = f"{stem}-{n}"
    return out


def _train_config(args: argparse.Namespace):
    """The run's TrainConfig: the options given over TrainConfig's defaults, or with
    ``--resume`` the run's own config.toml (options given must agree; ``--epochs`` extends)."""
    from dataclasses import fields

    from fxsim.training.loop import TrainConfig, resume_config

    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)  # the options typed
             if getattr(args, f.name, None) is not None}
    if "milestones" in given:
        given["milestones"] = tuple(given["milestones"])
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out, the run folder to continue")
        return resume_config(args.out, given)
    return TrainConfig(**given)


def _cmd_train(args: argparse.Namespace) -> int:
    from fxsim.cli_progress import ProgressBar
    from fxsim.policy import Policy
    from fxsim.training.loop import train

    config = _train_config(args)
    Policy.load(config.policy)  # a bad policy is refused before anything is announced
    out = args.out or _default_out(config.net, config.policy, config.seed)
    verb = "resuming" if args.resume else "training"
    print(f"{verb} {config.net} on {config.data or 'its default data'} under policy "
          f"{config.policy!r} for {config.epochs} epochs -> {out}")
    result = train(config, out, resume=args.resume,
                   progress=ProgressBar(bars=not args.quiet))
    s = result.summary
    print(f"test accuracy {100 * s['test_acc']:.2f}% after {s['epochs_done']} epochs "
          f"({s['wall_time_s']:.1f} s); weights sha256 {s['weights_sha256'][:16]}...")
    print(f"wrote {out}/metrics.csv, summary.json, checkpoint.npz "
          f"(plots: fxsim report {out})")
    return 0


def _interrupted_message(command: str, error: KeyboardInterrupt) -> str:
    """What an interrupt leaves, said honestly."""
    from fxsim.training.loop import Interrupted

    if isinstance(error, Interrupted):
        again = f"fxsim train --out {error.out} --resume"
        if error.epochs_done == 0:
            return (f"fxsim {command}: interrupted in epoch {error.epoch}, before the first "
                    f"checkpoint: only the settings are saved in {error.out}; `{again}` starts "
                    "the run over")
        return (f"fxsim {command}: interrupted in epoch {error.epoch}; epochs 1-"
                f"{error.epochs_done} are saved in {error.out}; `{again}` continues from epoch "
                f"{error.epochs_done + 1}, bit-exactly")
    if command == "reproduce":
        return ("fxsim reproduce: interrupted; finished runs are kept and partly trained ones "
                "resume: run the same command again to continue")
    return f"fxsim {command}: interrupted"


def _cmd_report(args: argparse.Namespace) -> int:
    from fxsim.training.plots import report

    for path in report(args.run):
        print(f"wrote {path}")
    return 0


def _cmd_policies(args: argparse.Namespace) -> int:
    from fxsim.policy import ROLES, Policy, shipped_policies

    if args.show:
        print(Policy.load(args.show).to_toml(), end="")
        return 0
    if args.net is None:
        print("Shipped policies (use a name or a TOML path with --policy; --show NAME prints "
              "one):")
        for name in shipped_policies():
            print(f"  {name:14s} {Policy.load(name).description}")
        return 0
    from fxsim.training.network import Network
    from reference_nets import build_net
    from reference_nets.specs import NETS

    policy = Policy.load(args.policy)
    shape = NETS[args.net][1] if args.net in NETS else None
    net = Network(build_net(args.net), shape, 10, policy)
    print(f"Layers of {args.net}: {', '.join(net.layer_names)}")
    print(f"Quantizers under policy {policy.name!r} (roles: {', '.join(ROLES)}):")
    table = net.quantizer_table()
    if len(table):
        print(table.to_string(index=False, na_rep=""))
        print("(accumulator rows: bits empty = wide, the smallest width that never overflows)")
    return 0


def _add_train_parser(sub) -> None:
    from fxsim.training.loop import TrainConfig
    from fxsim.training.optim import SCHEDULES
    from reference_nets.specs import NETS

    train = add_command(
        sub, "train",
        help="train a reference net bit-exactly under a quantization policy",
        description=(
            "Train a reference net in bit-accurate fixed point under a quantization policy and "
            "write a run folder: config.toml, policy.toml, quantizers.csv (every quantizer and "
            "accumulator), metrics.csv (per epoch: loss, accuracy, per-class accuracy, "
            "per-quantizer saturation and scale, per-layer and phase accumulator overflows, "
            "wall time), grad_histograms.csv, checkpoint.npz, summary.json. A killed run "
            "resumes with --out DIR --resume, losing nothing. With no options: the digits CNN "
            "on the embedded 8x8 digits under the int8 policy."),
        func=_cmd_train,
    )
    d = TrainConfig()  # the defaults, shown in --help; None marks an option not given
    add_net_policy(train, NETS, net_help=f"reference net (default: {d.net})",
                   policy_help=f"{POLICY_HELP}; default: {d.policy}")
    train.add_argument("--data", default=None,
                       help="dataset: digits, mnist, mnist5k, cifar10, cifar100, random "
                            "(default: the net's own)")
    train.add_argument("--data-dir", default=None, help="folder of mnist/cifar files")
    train.add_argument("--epochs", type=int_at_least(1),
                       help=f"epochs to train (default: {d.epochs}); with --resume, more "
                            "epochs than the run has extend it")
    train.add_argument("--batch", type=int_at_least(1), help=f"batch size (default: {d.batch})")
    train.add_argument("--lr", type=float, help=f"peak learning rate (default: {d.lr})")
    train.add_argument("--momentum", type=float, help=f"SGD momentum (default: {d.momentum})")
    train.add_argument("--weight-decay", type=float,
                       help=f"L2 weight decay, not applied to biases (default: "
                            f"{d.weight_decay})")
    train.add_argument("--schedule", choices=SCHEDULES,
                       help=f"learning-rate schedule (default: {d.schedule})")
    train.add_argument("--milestones", type=int_at_least(1), nargs="+",
                       help="with --schedule step: the epochs after which lr is multiplied by "
                            "0.1 (increasing, below --epochs)")
    train.add_argument("--warmup-epochs", type=int_at_least(0),
                       help="epochs of linear learning-rate warm-up (default: 0)")
    add_seed(train, "split, order, init and stochastic rounding (default: 0)", default=None)
    add_limit(train)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="random crop and flip (default: on for CIFAR)")
    train.add_argument("--out", default=None,
                       help="run folder (default: runs/NET-POLICY-seedS, numbered if taken)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint, bit-exactly, "
                            "with the settings in its config.toml (no other option needed; "
                            "--epochs N extends a run)")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar (epoch lines and warnings still print)")

    report = add_command(
        sub, "report", help="plot a run's curves and gradient histograms to PNG",
        description="Write curves.png, saturation.png and grad_histograms.png into a run "
                    "folder made by fxsim train.", func=_cmd_report)
    report.add_argument("run", help="the run folder")

    policies = add_command(
        sub, "policies", help="list the shipped quantization policies",
        description="List the shipped policies; --show NAME prints one as TOML; --net NAME "
                    "lists that net's layer names and every quantizer under --policy.",
        func=_cmd_policies)
    policies.add_argument("--show", metavar="POLICY", help="print this policy as TOML")
    add_net_policy(policies, NETS, net_help="list this net's layers",
                   policy_help="policy for --net", policy_default="int8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fxsim",
        description=(
            "Bit-accurate fixed-point simulator for training CNNs, with a hardware cost model. "
            "Run a subcommand with --help for its options. With no subcommand, runs "
            "'fxsim train' (the digits CNN under the int8 policy) on the built-in data."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train_parser(sub)
    modes = add_command(
        sub, "modes",
        help="compare every rounding mode's error on standard-normal data",
        description=(
            "Quantize standard-normal samples with every rounding mode and print the mean, RMS "
            "and maximum error in LSBs and the number of saturated elements."
        ),
        func=_cmd_modes,
    )
    modes.add_argument("--bits", type=int, default=4, help="word length in bits")
    modes.add_argument("--frac", type=int, default=2, help="fraction length")
    modes.add_argument("--samples", type=int_at_least(1), default=1_000_000, help="sample count")
    add_seed(modes, "data and rounding")
    add_csv(modes)
    from costmodel.cli import add_cost_parser

    add_cost_parser(sub)
    from fxsim.reproduce.cli import add_reproduce_parser
    from fxsim.tracing.cli import add_trace_parser

    add_reproduce_parser(sub)
    add_trace_parser(sub)
    from fxsim.rtl.cli import add_rtl_parser

    add_rtl_parser(sub)
    from fxsim.testing.cli import add_check_rounding_parser

    add_check_rounding_parser(sub)
    from fxsim.sweep.cli import add_sweep_parser

    add_sweep_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]  # no subcommand: train, with the options given
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt as interrupt:
        print("\n" + _interrupted_message(args.command, interrupt), file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError,
            FloatingPointError) as error:
        print(f"fxsim {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
