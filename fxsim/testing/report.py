"""Every invariant, which built-in mode keeps which, and :func:`check_all`: run them all on one
mode and tell which it keeps and which it breaks, with minimal counterexamples.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from fxsim.numeric.rounding import ROUNDING_MODES
from fxsim.numeric.user_rounding import registered_rounding
from fxsim.testing import compose, elementwise, statistics, system
from fxsim.testing.core import InvariantBroken, Mode, resolve_mode


@dataclass(frozen=True)
class Invariant:
    """One invariant: ``name``, its ``check`` function, the modes it ``applies`` to (``all``,
    ``deterministic``, ``random``, ``ties``: modes with a declared tie rule, ``compiled``:
    registered rules numba compiled), what it says (``meaning``) and its default
    ``max_examples``."""

    name: str
    check: Callable[..., None]
    applies: str
    meaning: str
    max_examples: int = 100

    def applies_to(self, mode: Mode) -> bool:
        if self.applies == "deterministic":
            return not mode.is_random
        if self.applies == "random":
            return mode.is_random
        if self.applies == "ties":
            return mode.ties is not None and not mode.is_random
        if self.applies == "compiled":
            rule = registered_rounding(mode.name)
            if rule is None:
                return False
            from fxsim.numeric._user_convert import implementation

            implementation(rule)
            return bool(rule.compiled)
        return True


# The report's rows in order: the invariant (its check is ``check_<name>`` in one of the
# modules below), the modes it applies to, what it says.
_TABLE = """
error_below_one_lsb          all            |q - y| < 1 LSB: q is floor(y) or ceil(y)
error_half_lsb               all            |q - y| <= 1/2 LSB: a nearest rounding
monotone                     all            x1 <= x2 gives q(x1) <= q(x2) (random modes: for \
the same random integer)
idempotent                   all            a representable value keeps its code (quantize \
and requantize)
sign_symmetric               deterministic  q(-y) = -q(y)
rounds_down                  all            q <= y
rounds_up                    all            q >= y
toward_zero                  all            |q| <= |y|, sign kept or zero
ties                         ties           y = n + 1/2 rounds by the declared tie rule
composes                     deterministic  rounding via a finer grid equals rounding once
double_rounding              deterministic  via a finer grid differs only at ties the first \
rounding made, by 1
requantize_matches_quantize  all            requantize(codes) = quantize(their values), codes \
and counts
saturate                     all            saturate clamps the rounded integer and counts it
wrap                         all            wrap keeps the rounded integer's low bits and \
counts it
unbiased                     random         E[q] = y (within 2**-k off the k-bit grid)
variance_bound               random         E[(q - y)^2] <= f(1 - f), that of exact \
stochastic rounding
thread_independent           all            codes depend on value and index only: not \
threads, chunks, size
reproducible                 all            the seed repeats a call; another seed or stream \
changes it
compiled_matches_numpy       compiled       a numba-compiled registered rule equals its numpy \
form
"""


def _invariant(row: str) -> Invariant:
    """The invariant of a row of :data:`_TABLE`: its check function found by name, its
    ``max_examples`` the function's default."""
    name, applies, meaning = row.split(maxsplit=2)
    check = next(getattr(module, f"check_{name}")
                 for module in (elementwise, compose, statistics, system)
                 if hasattr(module, f"check_{name}"))
    default = inspect.signature(check).parameters["max_examples"].default
    return Invariant(name, check, applies, meaning, default)


INVARIANTS: tuple[Invariant, ...] = tuple(_invariant(row) for row in _TABLE.strip().splitlines())
BY_NAME = {inv.name: inv for inv in INVARIANTS}

_EVERY_MODE = ("error_below_one_lsb", "monotone", "idempotent", "requantize_matches_quantize",
               "saturate", "wrap", "thread_independent", "reproducible")
_NEAREST = (*_EVERY_MODE, "error_half_lsb", "ties", "double_rounding")
BUILTIN_KEEPS: dict[str, frozenset[str]] = {
    "nearest_even": frozenset((*_NEAREST, "sign_symmetric")),
    "nearest_away": frozenset((*_NEAREST, "sign_symmetric")),
    "nearest_up": frozenset(_NEAREST),
    "toward_zero": frozenset((*_EVERY_MODE, "sign_symmetric", "toward_zero", "composes",
                              "double_rounding")),
    "floor": frozenset((*_EVERY_MODE, "rounds_down", "composes", "double_rounding")),
    "ceil": frozenset((*_EVERY_MODE, "rounds_up", "composes", "double_rounding")),
    "stochastic": frozenset((*_EVERY_MODE, "unbiased", "variance_bound")),
    "stochastic_k": frozenset((*_EVERY_MODE, "unbiased", "variance_bound")),
}
"""The invariants each built-in mode keeps (of those that apply to it); it breaks the rest."""


def default_claims(mode: Mode) -> frozenset[str]:
    """What ``mode`` is expected to keep: a built-in its row of :data:`BUILTIN_KEEPS`; a
    registered rule every invariant any sound rounding keeps, plus ``ties`` if it declares a
    tie rule, ``unbiased`` and ``variance_bound`` if it is random, ``compiled_matches_numpy``
    if numba compiled it."""
    if not mode.registered:
        return BUILTIN_KEEPS[mode.name]
    extra = {inv.name for inv in INVARIANTS
             if inv.applies in ("ties", "random", "compiled") and inv.applies_to(mode)}
    return frozenset((*_EVERY_MODE, *extra))


def _claims(mode: Mode, expect: str | Iterable[str] | None) -> frozenset[str]:
    """:func:`default_claims` plus ``expect``: a built-in mode's name (what it keeps, of what
    applies to ``mode``) or invariant names."""
    if expect is None:
        return default_claims(mode)
    if isinstance(expect, str):
        if expect not in BUILTIN_KEEPS:
            raise ValueError(f"expect must be a built-in mode ({', '.join(BUILTIN_KEEPS)}) or a "
                             f"list of invariants; got {expect!r}")
        names = frozenset(name for name in BUILTIN_KEEPS[expect]
                          if BY_NAME[name].applies_to(mode))
    else:
        names = frozenset(expect)
        unknown = sorted(names - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown invariant {unknown[0]!r}; invariants: "
                             f"{', '.join(BY_NAME)}")
    return default_claims(mode) | names


class RoundingReport:
    """The verdicts of :func:`check_all` for one mode: ``table`` (a DataFrame with columns
    invariant, meaning, verdict (``kept``, ``broken``, ``error``: the check itself failed,
    ``n/a``), claimed, counterexample, explanation), ``mode`` and ``ok`` (no claimed invariant
    broken)."""

    def __init__(self, mode: Mode, table: pd.DataFrame, description: str) -> None:
        self.mode = mode
        self.table = table
        self.description = description

    @property
    def failed(self) -> pd.DataFrame:
        """Rows of claimed invariants that are broken (or whose check failed)."""
        t = self.table
        return t[t["claimed"] & t["verdict"].isin(["broken", "error"])]

    @property
    def ok(self) -> bool:
        return self.failed.empty

    def verdict(self, invariant: str) -> str:
        return str(self.table.set_index("invariant").loc[invariant, "verdict"])

    def __str__(self) -> str:
        t = self.table
        lines = [f"Invariants of {self.description}:"]
        width = max(len(n) for n in t["invariant"])
        for row in t.itertuples():
            mark = "claimed" if row.claimed else ""
            lines.append(f"  {row.invariant:<{width}}  {row.verdict:<6}  {mark:<7}  "
                         f"{row.meaning}")
        broken = t[t["verdict"].isin(["broken", "error"])]
        if len(broken):
            lines.append("Counterexamples (minimal, found and shrunk by hypothesis):")
            for row in broken.itertuples():
                lines.append(f"  {row.invariant}: {row.counterexample}")
                lines.append(f"    {row.explanation}")
        kept = int((t["verdict"] == "kept").sum())
        lines.append(f"{kept} kept, {len(broken)} broken, "
                     f"{int((t['verdict'] == 'n/a').sum())} not applicable; "
                     + ("every claimed invariant holds." if self.ok else
                        f"claimed but broken: {', '.join(self.failed['invariant'])}."))
        return "\n".join(lines)


class InvariantsBroken(AssertionError):
    """Raised by :func:`check_all` when a claimed invariant is broken; ``report`` holds the
    whole :class:`RoundingReport`."""

    def __init__(self, report: RoundingReport) -> None:
        self.report = report
        super().__init__(str(report))


def _describe(mode: Mode) -> str:
    rule = registered_rounding(mode.name)
    return rule.describe() if rule is not None else f"built-in rounding {mode.label}"


def check_all(mode: str, *, random_bits: int | None = None,
              expect: str | Iterable[str] | None = None, max_examples: int | None = None,
              raise_on_failure: bool = True) -> RoundingReport:
    """Run every invariant of :data:`INVARIANTS` on ``mode`` (a built-in or registered name;
    ``random_bits`` for ``stochastic_k``, default 8).

    ``expect``: invariants the mode claims to keep besides :func:`default_claims`: a built-in
    mode's name (all that mode keeps, of those that apply) or a list of names. ``max_examples``
    scales every check's number of examples (None: each check's default; 100 for the
    per-value ones). Raises :class:`InvariantsBroken` (an AssertionError, so it fails a pytest
    test with the table) if a claimed invariant is broken and ``raise_on_failure``; else
    returns the :class:`RoundingReport`.
    """
    m = resolve_mode(mode, random_bits)
    claims = _claims(m, expect)
    rows = []
    for inv in INVARIANTS:
        row = {"invariant": inv.name, "meaning": inv.meaning, "verdict": "n/a",
               "claimed": inv.name in claims, "counterexample": "", "explanation": ""}
        if inv.applies_to(m):
            n = inv.max_examples if max_examples is None else max(
                1, round(max_examples * inv.max_examples / 100))
            try:
                inv.check(m, max_examples=n)
                row["verdict"] = "kept"
            except InvariantBroken as broken:
                row.update(verdict="broken", counterexample=broken.counterexample,
                           explanation=broken.explanation)
            except Exception as error:  # the check could not run: the rule raised, ...
                row.update(verdict="error", counterexample="(the check could not run)",
                           explanation=f"{type(error).__name__}: {error}")
        rows.append(row)
    report = RoundingReport(m, pd.DataFrame(rows), _describe(m))
    if raise_on_failure and not report.ok:
        raise InvariantsBroken(report)
    return report


def builtin_table(max_examples: int | None = None) -> pd.DataFrame:
    """Verdicts of every built-in mode (columns) on every invariant (rows): ``kept``,
    ``broken`` or ``n/a``, as :func:`check_all` finds them."""
    columns = {}
    for name in ROUNDING_MODES:
        report = check_all(name, max_examples=max_examples, raise_on_failure=False)
        columns[name] = report.table.set_index("invariant")["verdict"]
    return pd.DataFrame(columns)
