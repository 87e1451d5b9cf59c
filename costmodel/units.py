"""Unit costs: a MAC, rounding (and the LFSR of stochastic rounding), saturation and statistics
units, priced from primitives.

What each unit is made of (which primitives, how many, at which widths) is the data file
``costmodel/data/units.csv``; this module evaluates those definitions with the scaling laws of
:class:`costmodel.scaling.Technology`. All energies are pJ per element (per MAC for ``mac``),
areas um^2 per lane.

Requantizing an accumulator of ``acc`` bits to ``out`` bits: the unit is sized for any split of
the ``acc - out`` extra bits between dropped low bits (``drop``, rounded) and checked high bits
(``high``, saturated), as a runtime-configurable shift needs; both are ``acc - out``.
A stochastic unit uses ``k = min(random_bits, drop)`` random bits: random bits beyond the dropped
ones do not change the rounding probability (see :mod:`fxsim.numeric.rounding`), so a 62-bit
``stochastic`` mode costs what ``drop`` random bits cost.

A real step (``scale = "real"``) moves an ``acc``-bit value with a fixed-point multiplier ``M`` of
``m`` bits before the rounding shift (DESIGN.md, "Scales that are not powers of two"): the
rescale unit is an ``acc x m`` multiplier, and the rounding then drops up to ``acc + m - out``
bits of the product.
"""

from __future__ import annotations

import ast
import operator

from costmodel.scaling import ZERO, Cost, Technology
from costmodel.tables import PathLike, UnitRow, load_units
from fxsim.numeric.formats import MULTIPLIER_BITS
from fxsim.numeric.rounding import STOCHASTIC_BITS, canonical_rounding, check_overflow
from fxsim.ranges import RANGE_RULES

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.USub: operator.neg}


def evaluate(text: str, names: dict[str, float]) -> float:
    """Value of an arithmetic expression over ``names`` (+ - * / ( ) min max, numbers)."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in names:
            return float(names[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("min", "max") and node.args and not node.keywords):
            return (min if node.func.id == "min" else max)(ev(a) for a in node.args)
        raise ValueError(
            f"unit expression {text!r}: only numbers, {', '.join(sorted(names))}, "
            "+ - * / ( ) min() max() are allowed"
        )

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ValueError(f"unit expression {text!r} is not an arithmetic expression") from None
    return ev(tree)


class Units:
    """Unit costs at a technology: ``Units(Technology(node_nm=28))``."""

    def __init__(self, tech: Technology | None = None, path: PathLike | None = None) -> None:
        self.tech = Technology() if tech is None else tech
        self.defs: dict[str, list[UnitRow]] = load_units(path)
        self._memo: dict[tuple, Cost] = {}

    def unit(self, name: str, **params: float) -> Cost:
        """Cost of the unit ``name`` of the units table with widths ``params`` (bits)."""
        key = (name, *sorted(params.items()))
        if key not in self._memo:
            self._memo[key] = self._evaluate(name, params)
        return self._memo[key]

    def _evaluate(self, name: str, params: dict[str, float]) -> Cost:
        if name not in self.defs:
            raise ValueError(f"unit {name!r} is not defined; the units table has "
                             f"{', '.join(self.defs)}")
        total = ZERO
        for row in self.defs[name]:
            if row.primitive == "none":
                continue
            count = evaluate(row.count, params)
            width = evaluate(row.width, params)
            if count <= 0 or width <= 0:
                continue
            width_b = evaluate(row.width_b, params) if row.width_b else None
            total = total + self.tech.primitive(row.primitive, width, width_b).scaled(count)
        return total

    def mac(self, a_bits: int, b_bits: int, acc_bits: int) -> Cost:
        """One integer MAC: ``a x b`` multiplier, ``acc``-bit adder and accumulator register."""
        return self.unit("mac", a=a_bits, b=b_bits, acc=acc_bits)

    def mac_fp32(self) -> Cost:
        """One float32 MAC (multiplier, adder, register): the unquantized baseline."""
        return self.unit("mac_fp32")

    def rounding(self, mode: str, acc_bits: int, out_bits: int, random_bits: int | None = None,
                 share: int = 1) -> Cost:
        """Per-element rounding of ``mode`` (an fxsim rounding name) taking ``acc_bits`` to
        ``out_bits``, with ``1/share`` of the LFSR that feeds it (``share`` lanes share one LFSR
        for the stochastic modes): :meth:`rounder` + :meth:`lfsr` / ``share``."""
        if share < 1:
            raise ValueError(f"share (lanes per LFSR) must be >= 1, got {share}")
        unit = self.rounder(mode, acc_bits, out_bits, random_bits)
        k = self.random_bits_used(mode, acc_bits, out_bits, random_bits)
        return unit + self.lfsr(k).scaled(1 / share) if k else unit

    def random_bits_used(self, mode: str, acc_bits: int, out_bits: int,
                         random_bits: int | None = None) -> int:
        """Random bits a stochastic rounding unit uses per element, ``k = min(random_bits,
        drop)`` (``stochastic``: 62 random bits); 0 for the deterministic modes and when
        nothing is dropped."""
        mode = canonical_rounding(mode)
        if mode not in ("stochastic", "stochastic_k"):
            return 0
        bits = STOCHASTIC_BITS if mode == "stochastic" else random_bits
        if bits is None:
            raise ValueError("rounding 'stochastic_k' needs random_bits")
        return min(bits, max(acc_bits - out_bits, 0))

    def rounder(self, mode: str, acc_bits: int, out_bits: int,
                random_bits: int | None = None) -> Cost:
        """Per-element rounding unit of ``mode`` taking ``acc_bits`` to ``out_bits``, without
        the LFSR a stochastic mode reads its random bits from (:meth:`lfsr`)."""
        drop = max(acc_bits - out_bits, 0)
        k = self.random_bits_used(mode, acc_bits, out_bits, random_bits)
        if drop == 0:
            return ZERO
        if k:
            return self.unit("round_stochastic_k", out=out_bits, drop=drop, k=k)
        return self.unit(f"round_{canonical_rounding(mode)}", out=out_bits, drop=drop)

    def lfsr(self, bits: int) -> Cost:
        """A ``bits``-bit LFSR supplying the random bits of stochastic rounding units."""
        return self.unit("lfsr", k=bits) if bits > 0 else ZERO

    def overflow(self, mode: str, acc_bits: int, out_bits: int) -> Cost:
        """Per-element overflow unit: ``saturate`` (detect and clamp) or ``wrap`` (nothing)."""
        mode = check_overflow(mode)
        return self.unit(f"overflow_{mode}", out=out_bits, high=max(acc_bits - out_bits, 0))

    def stats(self, rule: str, width: int) -> Cost:
        """Per-element statistics unit of a range rule (:data:`fxsim.ranges.RANGE_RULES`)
        observing ``width``-bit values: the unit ``stats_<rule>`` of the units table."""
        if f"stats_{rule}" not in self.defs:
            known = [r for r in RANGE_RULES if f"stats_{r}" in self.defs]
            raise ValueError(f"range rule {rule!r} has no cost definition (unit "
                             f"'stats_{rule}'); defined: {', '.join(known)}")
        return self.unit(f"stats_{rule}", w=width)

    def rescale(self, acc_bits: int, multiplier_bits: int = MULTIPLIER_BITS) -> Cost:
        """Per-element fixed-point multiplier of a real-step requantization: ``acc_bits`` by
        ``multiplier_bits`` (fxsim uses :data:`fxsim.numeric.convert.MULTIPLIER_BITS`)."""
        return self.unit("rescale_real", acc=acc_bits, m=multiplier_bits)
