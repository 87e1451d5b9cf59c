"""Scaling laws: the cost of a primitive at any bit width and technology node, from table points.

Each law is fitted through the table's points and reproduces them exactly at the table's node:

* integer adder, energy and area **linear in bits** (a ripple or prefix adder has one cell per
  bit; Horowitz's 8/32-bit adds at 0.03/0.1 pJ fit ``E = 0.00667 + 0.00292 * bits`` pJ);
* integer multiplier **affine in bits_a * bits_b** (an array multiplier has ``a * b``
  partial-product cells: Weste & Harris, CMOS VLSI Design, ch. 11): Horowitz's 8x8 and 32x32
  multipliers give ``E = 0.00667 + 0.00302 * a * b`` pJ and ``A = 67.8 + 3.35 * a * b`` um^2;
* register and memory access **linear in bits** through the origin: a register of ``n`` bits is
  ``n`` flip-flops, and an SRAM or DRAM access of ``n`` bits costs ``n/64`` of the tabled 64-bit
  access of the same array (the word-width scaling Accelergy uses);
* float16/float32 adders and multipliers only at the tabled widths.

With more than two points a law is piecewise linear between neighbouring points and continues the
end segments outside them. Technology nodes follow Stillmaker & Baas 2017 (see
:mod:`costmodel.tables`): ``energy(node) / energy(45 nm)`` and ``area_factor``, linearly
interpolated in nm between listed nodes; other nodes are refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

from costmodel import tables
from costmodel.tables import NodeRow, PathLike, Primitive, TableError, TablePaths

REFERENCE_NODE_NM = 45.0


class Cost(NamedTuple):
    """Energy in pJ (per operation) and area in um^2 (per unit)."""

    energy_pj: float
    area_um2: float

    def __add__(self, other):  # type: ignore[override]
        return Cost(self.energy_pj + other.energy_pj, self.area_um2 + other.area_um2)

    def scaled(self, energy: float, area: float | None = None) -> Cost:
        return Cost(self.energy_pj * energy, self.area_um2 * (energy if area is None else area))


ZERO = Cost(0.0, 0.0)


class Line:
    """Piecewise-linear ``y(x)`` through the points, exact at each point, extended by the end
    segments; a single point gives the proportional law ``y = y0 * x / x0``."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], what: str) -> None:
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        self.xs = [float(xs[i]) for i in order]
        self.ys = [float(ys[i]) for i in order]
        self.what = what
        for i in range(1, len(self.xs)):
            if self.xs[i] == self.xs[i - 1]:
                raise TableError(f"{what}: two table rows at the same width {self.xs[i]:g}")
            if not self.ys[i] > self.ys[i - 1] and not math.isnan(self.ys[i]):
                raise TableError(
                    f"{what}: cost must grow with width, but {self.ys[i - 1]:g} at "
                    f"{self.xs[i - 1]:g} is not below {self.ys[i]:g} at {self.xs[i]:g}"
                )

    def __call__(self, x: float) -> float:
        xs, ys = self.xs, self.ys
        for xi, yi in zip(xs, ys, strict=True):
            if x == xi:
                return yi
        if len(xs) == 1:
            return ys[0] * x / xs[0]
        j = 0 if x < xs[0] else len(xs) - 2
        for i in range(len(xs) - 1):
            if xs[i] < x < xs[i + 1]:
                j = i
        y = ys[j] + (ys[j + 1] - ys[j]) * (x - xs[j]) / (xs[j + 1] - xs[j])
        if not y > 0 and not math.isnan(y):
            raise ValueError(f"{self.what}: the law gives {y:g} <= 0 at width {x:g}")
        return y


class Technology:
    """The fitted primitive laws of a primitive table, priced at ``node_nm``.

    ``primitives``: a path, several paths or None (the default tables); ``nodes``: the node
    table path or None (Stillmaker & Baas 2017).
    """

    def __init__(self, node_nm: float = 45, primitives: TablePaths = None,
                 nodes: PathLike | None = None, scales: dict[str, float] | None = None,
                 register_calibration: bool = True) -> None:
        self.scales = dict(scales or {})
        unknown = sorted(set(self.scales) - set(tables.PRIMITIVE_KINDS))
        if unknown:
            raise ValueError(f"scales given for unknown primitive kind(s) {', '.join(unknown)}; "
                             f"kinds: {', '.join(tables.PRIMITIVE_KINDS)}")
        self.register_calibration = register_calibration
        self.primitives: list[Primitive] = tables.load_primitives(primitives)
        self.nodes: list[NodeRow] = tables.load_nodes(nodes)
        self.node_nm = float(node_nm)
        self._target = self._node_point(self.node_nm)
        self._laws: dict[str, tuple[Line, Line]] = {}
        for kind, x_of in (("int_add", lambda p: p.bits),
                           ("int_mult", lambda p: p.bits * (p.bits_b or p.bits)),
                           ("register", lambda p: p.bits)):
            rows = [p for p in self.primitives if p.kind == kind]
            if rows:
                energy, area = zip(*(self._to_node(p) for p in rows), strict=True)
                what = f"{kind} rows of {', '.join(sorted({p.file for p in rows}))}"
                xs = [x_of(p) for p in rows]
                self._laws[kind] = (Line(xs, energy, what), Line(xs, area, what + " (area)"))

    # --- technology nodes -------------------------------------------------------------------
    def allowed_nodes(self) -> list[float]:
        return [r.node_nm for r in self.nodes]

    def _node_point(self, node_nm: float) -> tuple[float, float]:
        """(energy, area_factor) at ``node_nm``: a listed node, or linear in nm between two."""
        rows = self.nodes
        for row in rows:
            if node_nm == row.node_nm:
                return row.energy, row.area_factor
        for big, small in pairwise(rows):
            if small.node_nm < node_nm < big.node_nm:
                t = (big.node_nm - node_nm) / (big.node_nm - small.node_nm)
                return (big.energy + t * (small.energy - big.energy),
                        big.area_factor + t * (small.area_factor - big.area_factor))
        listed = ", ".join(f"{n:g}" for n in self.allowed_nodes())
        raise ValueError(
            f"technology node {node_nm:g} nm is outside the node table: allowed are the listed "
            f"nodes {listed} nm and nodes between two of them (interpolated)"
        )

    def node_factors(self, from_nm: float, to_nm: float | None = None) -> tuple[float, float]:
        """(energy factor, area factor) from ``from_nm`` to ``to_nm`` (default: this node)."""
        e0, a0 = self._node_point(float(from_nm))
        e1, a1 = self._target if to_nm is None else self._node_point(float(to_nm))
        return e1 / e0, a1 / a0

    def _to_node(self, p: Primitive, scaled: bool = True) -> Cost:
        """A row at this node, times its kind's ``scales`` factor (unless ``scaled`` is
        false). DRAM is off chip: its energy per access does not follow the logic node (it
        is a separate DRAM process)."""
        fe, fa = self.node_factors(p.node_nm)
        if p.kind == "dram_read":
            fe = 1.0
        k = self.scales.get(p.kind, 1.0) if scaled else 1.0
        return Cost(p.energy_pj * fe * k, p.area_um2 * fa * k)

    # --- primitive laws ---------------------------------------------------------------------
    def _law(self, kind: str, x: float) -> Cost:
        if kind not in self._laws:
            raise ValueError(f"the primitive tables have no {kind!r} rows")
        energy, area = self._laws[kind]
        return Cost(energy(x), area(x))

    def adder(self, bits: float) -> Cost:
        """Integer adder of ``bits`` bits: pJ per add, um^2; linear in bits."""
        return self._law("int_add", bits)

    def multiplier(self, bits_a: float, bits_b: float) -> Cost:
        """Integer ``bits_a x bits_b`` multiplier: pJ per multiply, um^2; affine in a*b."""
        return self._law("int_mult", bits_a * bits_b)

    def register(self, bits: float) -> Cost:
        """Register of ``bits`` flip-flops: pJ per write, um^2; proportional to bits.

        Calibrated to the adder table: the register rows (Aladdin) are multiplied by the ratio
        of the adder law (Horowitz) to the Aladdin adder of the same width (a ``ref_add`` row),
        energy and area separately, so that registers and adders are in one table's terms
        (Aladdin's 32-bit adder is 2.4x Horowitz's energy and 2.6x its area at 45 nm).
        ``register_calibration=False`` uses the raw register rows."""
        cost = self._law("register", bits)
        refs = [p for p in self.primitives if p.kind == "ref_add"]
        if not self.register_calibration or not refs or "int_add" not in self._laws:
            return cost
        ref = refs[0]
        # unscaled: a ``ref_add`` scale would divide out of the ratio and multiply back in
        # (the calibration is relative), so it has no effect and is not applied
        own, law = self._to_node(ref, scaled=False), self.adder(ref.bits)
        return Cost(cost.energy_pj * law.energy_pj / own.energy_pj,
                    cost.area_um2 * law.area_um2 / own.area_um2)

    def sram_cell_area(self) -> float:
        """um^2 of one SRAM bit cell at this node (a ``sram_cell`` row)."""
        rows = [p for p in self.primitives if p.kind == "sram_cell"]
        if not rows:
            raise ValueError("the primitive tables have no sram_cell row (SRAM area)")
        return self._to_node(rows[0]).area_um2

    def wire_per_bit_mm(self) -> float:
        """pJ per bit per mm of on-chip wire at this node (a ``wire`` row)."""
        rows = [p for p in self.primitives if p.kind == "wire"]
        if not rows:
            raise ValueError("the primitive tables have no wire row (on-chip network energy)")
        return self._to_node(rows[0]).energy_pj

    def sram_points(self) -> list[tuple[int, float]]:
        """(capacity in bytes, pJ per bit) of every sram_read row at this node, by capacity."""
        return sorted((p.array_bytes, self._to_node(p).energy_pj / p.bits)
                      for p in self.primitives if p.kind == "sram_read")

    def float_unit(self, kind: str, bits: int) -> Cost:
        """``fp_add`` or ``fp_mult`` at a tabled width (16 or 32 in the Horowitz table)."""
        rows = [p for p in self.primitives if p.kind == kind and p.bits == bits]
        if not rows:
            widths = sorted({p.bits for p in self.primitives if p.kind == kind})
            raise ValueError(f"no {kind} row at {bits} bits; the tables have {widths}")
        return self._to_node(rows[0])

    def memory_names(self) -> list[str]:
        return [p.name for p in self.primitives if p.kind in ("sram_read", "dram_read")]

    def memory_per_bit(self, name: str) -> float:
        """Energy in pJ per bit moved to or from memory ``name`` (a table row such as
        ``sram_32KB`` or ``dram``): the row's access energy / its access width."""
        for p in self.primitives:
            if p.name == name and p.kind in ("sram_read", "dram_read"):
                return self._to_node(p).energy_pj / p.bits
        raise ValueError(f"memory {name!r} is not a table row; choose one of "
                         f"{', '.join(self.memory_names())}")

    def primitive(self, kind: str, width: float, width_b: float | None = None) -> Cost:
        """Any primitive by kind, as :mod:`costmodel.units` names them."""
        if kind == "int_add":
            return self.adder(width)
        if kind == "int_mult":
            return self.multiplier(width, width if width_b is None else width_b)
        if kind == "register":
            return self.register(width)
        if kind in ("fp_add", "fp_mult"):
            return self.float_unit(kind, int(width))
        raise ValueError(f"primitive {kind!r} cannot be part of an arithmetic unit")
