"""What every ``fxsim`` subcommand's parser shares: one way to register a subcommand, the
``--help`` formatter, and argument types that refuse bad numbers with the option's name."""

from __future__ import annotations

import argparse
from collections.abc import Callable


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` except where there is no default to show (None or False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.help is None:
            return action.help
        return super()._get_help_string(action)


def add_command(subparsers: argparse._SubParsersAction, name: str, *, help: str,
                description: str, func: Callable[[argparse.Namespace], int]
                ) -> argparse.ArgumentParser:
    """Register subcommand ``name`` (its one-line ``help``, its ``--help`` ``description``)
    running ``func(args) -> exit code``; returns its parser for the arguments."""
    parser = subparsers.add_parser(name, help=help, description=description,
                                   formatter_class=DefaultsFormatter)
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
