"""The ``fxsim`` command line. The only module that prints."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fxsim.cli_args import DefaultsFormatter


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


def _cmd_train(args: argparse.Namespace) -> int:
    from fxsim.cli_progress import ProgressBar
    from fxsim.training.loop import TrainConfig, train

    config = TrainConfig(
        net=args.net, data=args.data, data_dir=args.data_dir, policy=args.policy,
        epochs=args.epochs, batch=args.batch, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule,
        milestones=tuple(args.milestones or ()), warmup_epochs=args.warmup_epochs,
        seed=args.seed, limit=args.limit, augment=args.augment)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out, the run folder to continue")
    out = args.out or _default_out(config.net, config.policy, config.seed)
    print(f"training {config.net} on {config.data or 'its default data'} under policy "
          f"{config.policy!r} for {config.epochs} epochs -> {out}")
    result = train(config, out, resume=args.resume,
                   progress=None if args.quiet else ProgressBar())
    s = result.summary
    print(f"test accuracy {100 * s['test_acc']:.2f}% after {s['epochs_done']} epochs "
          f"({s['wall_time_s']:.1f} s); weights sha256 {s['weights_sha256'][:16]}...")
    print(f"wrote {out}/metrics.csv, summary.json, checkpoint.npz "
          f"(plots: fxsim report {out})")
    return 0


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
        print(table.to_string(index=False))
    return 0


def _add_train_parser(sub) -> None:
    from fxsim.training.optim import SCHEDULES
    from reference_nets.specs import NETS

    train = sub.add_parser(
        "train",
        help="train a reference net bit-exactly under a quantization policy",
        description=(
            "Train a reference net in bit-accurate fixed point under a quantization policy and "
            "write a run folder: config.toml, policy.toml, metrics.csv (per epoch: loss, "
            "accuracy, per-class accuracy, per-quantizer saturation and scale, wall time), "
            "grad_histograms.csv, checkpoint.npz, summary.json. With no options: the digits "
            "CNN on the embedded 8x8 digits under the int8 policy."),
        formatter_class=DefaultsFormatter,
    )
    train.add_argument("--net", default="digits_cnn", choices=list(NETS), help="reference net")
    train.add_argument("--data", default=None,
                       help="dataset: digits, mnist, mnist5k, cifar10, cifar100, random "
                            "(default: the net's own)")
    train.add_argument("--data-dir", default=None, help="folder of mnist/cifar files")
    train.add_argument("--policy", default="int8",
                       help="shipped policy name (fxsim policies) or TOML file")
    train.add_argument("--epochs", type=int, default=5, help="epochs to train")
    train.add_argument("--batch", type=int, default=32, help="batch size")
    train.add_argument("--lr", type=float, default=0.05, help="peak learning rate")
    train.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    train.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay")
    train.add_argument("--schedule", default="cosine", choices=SCHEDULES,
                       help="learning-rate schedule")
    train.add_argument("--milestones", type=int, nargs="*",
                       help="epochs where the step schedule multiplies lr by 0.1")
    train.add_argument("--warmup-epochs", type=int, default=0,
                       help="epochs of linear learning-rate warm-up")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of split, order, init and stochastic rounding")
    train.add_argument("--limit", type=int, default=None,
                       help="use only this many train and test samples")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="random crop and flip (default: on for CIFAR)")
    train.add_argument("--out", default=None,
                       help="run folder (default: runs/NET-POLICY-seedS, numbered if taken)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint, bit-exactly")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)

    report = sub.add_parser(
        "report", help="plot a run's curves and gradient histograms to PNG",
        description="Write curves.png, saturation.png and grad_histograms.png into a run "
                    "folder made by fxsim train.")
    report.add_argument("run", help="the run folder")
    report.set_defaults(func=_cmd_report)

    policies = sub.add_parser(
        "policies", help="list the shipped quantization policies",
        description="List the shipped policies; --show NAME prints one as TOML; --net NAME "
                    "lists that net's layer names and every quantizer under --policy.")
    policies.add_argument("--show", metavar="POLICY", help="print this policy as TOML")
    policies.add_argument("--net", choices=list(NETS), help="list this net's layers")
    policies.add_argument("--policy", default="int8", help="policy for --net")
    policies.set_defaults(func=_cmd_policies)


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
    from fxsim.reproduce.cli import add_reproduce_parser

    add_reproduce_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]  # no subcommand: train, with the options given
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"\nfxsim {args.command}: interrupted; finished epochs are saved (continue "
              "with --resume)", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError,
            FloatingPointError) as error:
        print(f"fxsim {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
