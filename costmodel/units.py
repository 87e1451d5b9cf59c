"""Unit costs: a MAC, rounding (and the LFSR of stochastic rounding), saturation and statistics
units, priced from primitives.

What each unit is made of (which primitives, how many, at which widths) is the data file
``costmodel/data/units.csv``; this module evaluates those definitions with the scaling laws of
:class:`costmodel.scaling.Technology`. All energies are pJ per element (per MAC for ``mac``),
areas um^2 per lane.

Requantizing an accumulator of ``acc`` bits to ``out`` bits: the unit is sized for any split of
the ``acc - out`` extra bits between dropped low bits (``drop``, rounded) and checked high bits
(``high``, saturated), as a runtime-configurable shift needs; both are ``acc - out``.
A stochastic unit uses ``k = min(r, drop)`` random bits (``r``: the policy's ``random_bits`` for
``stochastic_k``, else the priced default, 8) from shared leap-forward generators, priced per
random bit (:meth:`Units.random_bit`); bits beyond the dropped ones do not change the rounding
probability (see :mod:`fxsim.numeric.rounding`). A role with ``random = "lfsr"`` is priced with
the generators it simulates instead (:mod:`costmodel.random_bits`).

A real step (``scale = "real"``) moves an ``acc``-bit value with a fixed-point multiplier ``M`` of
``m`` bits before the rounding shift (DESIGN.md, "Scales that are not powers of two"): the
rescale unit is an ``acc x m`` multiplier, and the rounding then drops up to ``acc + m - out``
bits of the product.
"""

from __future__ import annotations

import ast
import operator

from costmodel.random_bits import lfsr_of, simulated_random_bits
from costmodel.scaling import ZERO, Cost, Technology
from costmodel.tables import PathLike, UnitRow, load_assumptions, load_units
from fxsim.numeric.formats import MULTIPLIER_BITS
from fxsim.numeric.lfsr import RandomSource
from fxsim.numeric.rounding import STOCHASTIC_BITS, canonical_rounding, check_overflow
from fxsim.policy import RoleSpec
from fxsim.ranges import RANGE_RULES

DEFAULT_GENERATOR_BITS = 32  # state bits of the random-bit generator rounding() charges
SYNTH = "synth"  # Units(path=SYNTH): the synthesized unit table
TEXTBOOK = ("textbook", "default")  # Units(path="textbook"): data/units.csv, as path=None

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
    """Unit costs at a technology: ``Units(Technology(node_nm=28))``.

    ``path``: a unit-definition CSV (default, also ``"textbook"`` or ``"default"``:
    ``costmodel/data/units.csv``, the textbook definitions), or ``"synth"``: the units
    synthesized from fxsim's RTL (:mod:`costmodel.synth_units`, 45 nm, scaled to the node like
    every primitive) wherever that table has the unit, the textbook definitions elsewhere.
    """

    def __init__(self, tech: Technology | None = None, path: PathLike | None = None,
                 assumptions: dict[str, float] | None = None,
                 generator_bits: int = DEFAULT_GENERATOR_BITS) -> None:
        self.tech = Technology() if tech is None else tech
        self.synth = None
        if path in TEXTBOOK:
            path = None
        if path == SYNTH:
            from costmodel.synth_units import default_synth_units

            self.synth, path = default_synth_units(), None
        self.defs: dict[str, list[UnitRow]] = load_units(path)
        self._memo: dict[tuple, Cost] = {}
        given = {a.name: a.value for a in load_assumptions().values()}
        given.update(assumptions or {})
        self.assumptions = given
        self.sr_bits = int(given["sr_bits"])
        self.sr_override: int | None = None  # priced random bits for every stochastic unit
        self.generator_bits = generator_bits

    def unit(self, name: str, **params: float) -> Cost:
        """Cost of the unit ``name`` of the units table with widths ``params`` (bits); the
        assumption-valued parameters ``x`` (``rng_xor_per_bit``) and ``e`` (``exp_fp32_macs``)
        default to their assumptions."""
        params = {"x": self.assumptions["rng_xor_per_bit"],
                  "e": self.assumptions["exp_fp32_macs"], **params}
        key = (name, *sorted(params.items()))
        if key not in self._memo:
            self._memo[key] = self._evaluate(name, params)
        return self._memo[key]

    def _evaluate(self, name: str, params: dict[str, float]) -> Cost:
        if self.synth is not None:
            synthesized = self.synth.cost(name, **params)
            if synthesized is not None:
                return synthesized.scaled(*self.tech.node_factors(45.0))
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
                 share: int = 1, source: RandomSource | None = None) -> Cost:
        """Per-element rounding of ``mode`` (an fxsim rounding name) taking ``acc_bits`` to
        ``out_bits``: :meth:`rounder` plus, for the stochastic modes, its random bits. From the
        counter source (``source=None``): the ``k`` bits it uses, each a share of a shared
        generator (:meth:`random_bit`, energy and area per bit a cycle; ``share`` is kept for
        callers of v1 and divides that part). From an LFSR ``source`` (``random = "lfsr"``):
        one generator of ``source.width`` bits of its own, leaping the simulated bits
        (``random_bits``; 62 for ``stochastic``) per element, one word a clock
        (:mod:`costmodel.random_bits`)."""
        if share < 1:
            raise ValueError(f"share (lanes per generator) must be >= 1, got {share}")
        if source is not None and source.kind == "lfsr" and canonical_rounding(mode) in (
                "stochastic", "stochastic_k"):
            bits = self.priced_random_bits(STOCHASTIC_BITS if random_bits is None and
                                           canonical_rounding(mode) == "stochastic"
                                           else random_bits)
            unit = self.rounder(mode, acc_bits, out_bits, bits)
            if acc_bits <= out_bits:
                return unit
            return unit + self.lfsr_leap(source.width, bits)
        unit = self.rounder(mode, acc_bits, out_bits, random_bits)
        k = self.random_bits_used(mode, acc_bits, out_bits, random_bits)
        return unit + self.random_bit().scaled(k / share) if k else unit

    def role_random_bits(self, spec: RoleSpec) -> int:
        """Random bits per element priced for the role ``spec`` (0: deterministic): ``sr_override``
        when set (``--sr-bits``); from an LFSR source the simulated bits
        (:func:`costmodel.random_bits.simulated_random_bits`); from the counter source
        :meth:`priced_random_bits` of its ``random_bits``."""
        simulated = simulated_random_bits(spec)
        if simulated is None:
            return 0
        if lfsr_of(spec) is not None and self.sr_override is None:
            return simulated
        return self.priced_random_bits(spec.random_bits)

    def random_bits_used(self, mode: str, acc_bits: int, out_bits: int,
                         random_bits: int | None = None) -> int:
        """Random bits a stochastic rounding unit uses per element, ``k = min(r, drop)``:
        ``r`` is ``random_bits`` (a ``stochastic_k`` policy's own), else the priced default
        (assumption ``sr_bits``, 8: fxsim's ``stochastic`` uses 62 random bits per element, which
        no hardware unit does; simulate ``stochastic_k`` to train with what is priced); 0 for the
        deterministic modes and when nothing is dropped."""
        mode = canonical_rounding(mode)
        if mode not in ("stochastic", "stochastic_k"):
            return 0
        return min(self.priced_random_bits(random_bits), max(acc_bits - out_bits, 0))

    def priced_random_bits(self, random_bits: int | None) -> int:
        """Random bits a stochastic unit is priced with: ``sr_override`` when set (``--sr-bits``),
        else the policy's ``random_bits`` (``stochastic_k``), else ``sr_bits`` (8)."""
        if self.sr_override is not None:
            return self.sr_override
        return self.sr_bits if random_bits is None else random_bits

    def random_bit(self) -> Cost:
        """One random bit a cycle from a shared leap-forward LFSR of ``generator_bits`` state
        bits: the generator's energy per cycle and area, divided by the bits it gives."""
        return self.generator().scaled(1 / self.generator_bits)

    def lfsr_leap(self, width: int, leap: int) -> Cost:
        """A ``width``-bit LFSR leaping ``leap`` steps a clock (a policy's ``random = "lfsr"``
        generator; energy per clock, area)."""
        return self.unit("lfsr_leap", n=width, k=leap)

    def generator(self) -> Cost:
        """One shared leap-forward LFSR (energy per cycle, area)."""
        return self.unit("rng_leap_forward", n=self.generator_bits)

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
        """A ``bits``-bit LFSR (v1's per-lane random source; v2 prices :meth:`generator`)."""
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

    def node(self, name: str, width: int = 32) -> Cost:
        """Per-element cost of a layer without MACs (units ``bn_forward``, ``bn_backward``,
        ``loss_per_class``, ``residual_add``, ``pool_sum``, ``pool_max`` and their fp32
        forms): ``w`` its integer width, ``e`` the exp assumption."""
        return self.unit(name, w=width)

    def rescale(self, acc_bits: int, multiplier_bits: int = MULTIPLIER_BITS) -> Cost:
        """Per-element fixed-point multiplier of a real-step requantization: ``acc_bits`` by
        ``multiplier_bits`` (fxsim uses :data:`fxsim.numeric.convert.MULTIPLIER_BITS`)."""
        return self.unit("rescale_real", acc=acc_bits, m=multiplier_bits)
