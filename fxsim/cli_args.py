"""What every ``fxsim`` subcommand's parser shares: one way to register a subcommand, the
``--help`` formatter, argument types that refuse bad numbers with the option's name, and the
options several subcommands take (``--net``/``--policy``, ``--seed``, ``--limit``,
``--workers``, ``--csv``, an output folder), each declared once here."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` except where there is no default to show (None or False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.help is None:
            return action.help
        return super()._get_help_string(action)


def add_command(subparsers: argparse._SubParsersAction, name: str, *, help: str,
                description: str, func: Callable[[argparse.Namespace], int] | None = None,
                **options: Any) -> argparse.ArgumentParser:
    """Register subcommand ``name`` (its one-line ``help``, its ``--help`` ``description``)
    running ``func(args) -> exit code`` (None: a command of subcommands, each with its own);
    ``options`` go to ``add_parser`` (``epilog``; ``formatter_class``, default
    :class:`DefaultsFormatter`). Returns its parser for the arguments."""
    options.setdefault("formatter_class", DefaultsFormatter)
    parser = subparsers.add_parser(name, help=help, description=description, **options)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low``, else an error saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


POLICY_HELP = "shipped policy name (fxsim policies) or policy TOML file (docs/policy-schema.md)"


def add_net_policy(parser: argparse.ArgumentParser, nets: Iterable[str], *, net_help: str,
                   policy_help: str = POLICY_HELP, policy_default: str | None = None) -> None:
    """``--net`` (one of ``nets``, the reference nets by name) and ``--policy`` (a shipped
    policy's name or a TOML file; ``policy_default``, None: not given)."""
    parser.add_argument("--net", choices=list(nets), help=net_help)
    parser.add_argument("--policy", default=policy_default, help=policy_help)


def add_seed(parser: argparse.ArgumentParser, what: str, default: int | None = 0) -> None:
    """``--seed``: an integer >= 0, the seed of ``what`` (None: not given)."""
    parser.add_argument("--seed", type=int_at_least(0), default=default, help=f"seed of {what}")


def add_random_bits(parser: argparse.ArgumentParser, note: str) -> None:
    """``--random-bits``: the random bits of ``stochastic_k``, >= 1 (``note`` in brackets)."""
    parser.add_argument("--random-bits", type=int_at_least(1), default=None,
                        help=f"random bits of stochastic_k ({note})")


def add_limit(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--limit``: use only this many train and test samples (``note`` added in brackets)."""
    parser.add_argument("--limit", type=int_at_least(1), default=None,
                        help="use only this many train and test samples"
                             + (f" ({note})" if note else ""))


def add_workers(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    """``--workers``: how many processes (``what`` they are) work at once, >= 1."""
    parser.add_argument("--workers", type=int_at_least(1), default=default, help=what)


def add_csv(parser: argparse.ArgumentParser, what: str = "the table") -> None:
    """``--csv``: a file to write ``what`` to as CSV as well (None: not given)."""
    parser.add_argument("--csv", default=None, help=f"also write {what} to this CSV file")


def add_out_folder(parser: argparse.ArgumentParser, what: str, note: str = "") -> None:
    """``--out``, required: the folder ``what`` is written into (``note`` in brackets)."""
    parser.add_argument("--out", required=True, help=f"folder to write {what} into"
                                                     + (f" ({note})" if note else ""))
