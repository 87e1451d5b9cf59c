"""Declared parameters of the range rules: defaults, checks, and errors that name them.

Each rule declares its parameters as :class:`RuleParam` objects; :func:`resolve_params` fills in
defaults and checks what a caller gave. Parameter values are JSON-able (int, float, str,
bool), so a rule's parameters go into its state dict unchanged.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()  # the default of a parameter that has none


@dataclass(frozen=True)
class RuleParam:
    """One parameter: its ``default`` (or :data:`REQUIRED`), a ``convert`` that returns the
    checked value or None if the value is not allowed, and ``allowed``, a phrase saying what is
    (used in errors)."""

    default: object
    convert: Callable[[object], object | None]
    allowed: str


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def int_param(default: object, low: int | None = None, high: int | None = None) -> RuleParam:
    """An integer parameter in ``[low, high]`` (either bound may be None)."""

    def convert(value: object) -> int | None:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return None
        value = int(value)
        ok = (low is None or value >= low) and (high is None or value <= high)
        return value if ok else None

    if low is None and high is None:
        allowed = "an integer"
    elif high is None:
        allowed = f"an integer >= {low}"
    else:
        allowed = f"an integer in {low}..{high}"
    return RuleParam(default, convert, allowed)


def real_param(default: object, low: float, high: float, *, low_open: bool = False,
               high_open: bool = False) -> RuleParam:
    """A finite real parameter in the interval from ``low`` to ``high`` (open ends as told)."""

    def convert(value: object) -> float | None:
        if not _is_real(value) or not math.isfinite(float(value)):
            return None
        value = float(value)
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return value if above and below else None

    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return RuleParam(default, convert, f"a real number in {interval}")


def choice_param(default: str, choices: tuple[str, ...]) -> RuleParam:
    """A string parameter, one of ``choices``."""
    return RuleParam(default, lambda value: value if value in choices else None,
                 "one of " + ", ".join(repr(c) for c in choices))


def bool_param(default: bool) -> RuleParam:
    """True or False (not 0/1)."""
    return RuleParam(default, lambda value: value if isinstance(value, bool) else None,
                 "True or False")


def resolve_params(rule: str, declared: Mapping[str, RuleParam], given: Mapping[str, object]
                   ) -> dict[str, object]:
    """The full, checked parameter dict of ``rule``: ``given`` over the declared defaults.

    Raises ValueError naming the rule, the parameter, the value given and what is allowed, for
    an unknown parameter, a value that is not allowed, or a required parameter not given.
    """
    for name, value in given.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ValueError(
                f"range rule {rule!r} has no parameter {name!r} (given {name}={value!r}); "
                f"its parameters are: {known}"
            )
    resolved: dict[str, object] = {}
    for name, param in declared.items():
        if name not in given:
            if param.default is REQUIRED:
                raise ValueError(f"range rule {rule!r} needs parameter {name} ({param.allowed})")
            resolved[name] = param.default
            continue
        value = param.convert(given[name])
        if value is None:
            raise ValueError(
                f"range rule {rule!r}: parameter {name} must be {param.allowed}, "
                f"got {given[name]!r}"
            )
        resolved[name] = value
    return resolved
