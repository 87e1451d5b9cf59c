"""Reading the cost model's data files: primitive costs, technology nodes, unit definitions.

Every table is a CSV file; lines starting with ``#`` are comments (the files say there where their
numbers come from). A bad row is a :class:`TableError` naming the file, the row (1-based, counting
data rows after the header) and the column. The numbers live in these files, never in code.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_PRIMITIVE_FILES: tuple[Path, ...] = (
    DATA_DIR / "horowitz_45nm.csv",
    DATA_DIR / "aladdin_40nm.csv",
    DATA_DIR / "memory_45nm.csv",
)
DEFAULT_NODE_FILE = DATA_DIR / "stillmaker_baas_2017.csv"
DEFAULT_UNIT_FILE = DATA_DIR / "units.csv"

PRIMITIVE_KINDS = (
    "int_add", "int_mult", "fp_add", "fp_mult", "sram_read", "dram_read", "register",
    "sram_cell", "wire", "ref_add",
)
AREA_ONLY_KINDS = ("sram_cell",)  # rows giving an area and no energy
PRIMITIVE_COLUMNS = (
    "name", "kind", "bits", "bits_b", "array_bytes", "node_nm", "energy_pj", "area_um2", "source",
)
NODE_COLUMNS = ("node_nm", "vdd_v", "energy_a2", "energy_a1", "energy_a0", "area_factor", "source")
UNIT_COLUMNS = ("unit", "primitive", "count", "width", "width_b", "note")

PathLike = str | os.PathLike
TablePaths = PathLike | Iterable[PathLike] | None


class TableError(ValueError):
    """A data file that cannot be used: names the file, the row and the column."""


@dataclass(frozen=True)
class Primitive:
    """One measured primitive: ``energy_pj`` per operation (or per access of ``bits`` bits) and
    ``area_um2`` per unit (``nan`` where the source gives none), at ``node_nm``."""

    name: str
    kind: str
    bits: int
    bits_b: int | None
    array_bytes: int | None
    node_nm: float
    energy_pj: float
    area_um2: float
    source: str
    file: str


@dataclass(frozen=True)
class NodeRow:
    """One technology node: the energy polynomial ``a2*V^2 + a1*V + a0`` evaluated at ``vdd_v``
    (arbitrary units, only ratios count) and the area relative to 45 nm."""

    node_nm: float
    vdd_v: float
    energy: float
    area_factor: float
    source: str


@dataclass(frozen=True)
class UnitRow:
    """One line of a unit definition: ``count`` primitives of ``primitive`` at ``width`` bits
    (``width_b`` for a multiplier's second operand); count and widths may be expressions."""

    unit: str
    primitive: str
    count: str
    width: str
    width_b: str
    note: str


def _read_rows(path: PathLike, columns: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    """``(row number, {column: text})`` for each data row, after checking the header."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cost table {path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        lines = [line for line in handle if not line.lstrip().startswith("#") and line.strip()]
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TableError(f"{path}: no header row") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise TableError(
            f"{path}: header lacks column(s) {', '.join(missing)}; expected {', '.join(columns)}"
        )
    rows = []
    for number, values in enumerate(reader, start=1):
        if len(values) != len(header):
            raise TableError(
                f"{path}, row {number}: {len(values)} fields, the header has {len(header)}"
            )
        rows.append((number, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    if not rows:
        raise TableError(f"{path}: no data rows")
    return rows


def _field(path: PathLike, number: int, column: str, text: str, convert: Callable, what: str,
           optional: bool = False):
    """Convert one field or raise a TableError naming file, row, column and the bad text."""
    if text == "":
        if optional:
            return None
        raise TableError(f"{path}, row {number}, column '{column}': empty, expected {what}")
    try:
        value = convert(text)
    except ValueError:
        raise TableError(
            f"{path}, row {number}, column '{column}': expected {what}, got {text!r}"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise TableError(f"{path}, row {number}, column '{column}': expected {what}, got {text!r}")
    return value


def _positive(convert: Callable) -> Callable:
    def check(text: str):
        value = convert(text)
        if value <= 0:
            raise ValueError(text)
        return value
    return check


def load_primitives(paths: TablePaths = None) -> list[Primitive]:
    """Primitive rows from ``paths`` (one file or several; default: the Horowitz 45 nm table and
    the Aladdin register bit). Files given by a user replace the default rows of each ``kind``
    they contain and keep the defaults for the other kinds."""
    if paths is None:
        return _load_primitive_files(DEFAULT_PRIMITIVE_FILES)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    user = _load_primitive_files(paths)
    kinds = {p.kind for p in user}
    defaults = [p for p in _load_primitive_files(DEFAULT_PRIMITIVE_FILES) if p.kind not in kinds]
    return [*defaults, *user]


def _load_primitive_files(paths: Iterable[PathLike]) -> list[Primitive]:
    out: list[Primitive] = []
    names: dict[str, str] = {}
    for path in paths:
        for number, row in _read_rows(path, PRIMITIVE_COLUMNS):
            def get(column, convert, what, optional=False, _n=number, _r=row, _p=path):
                return _field(_p, _n, column, _r[column], convert, what, optional)

            name = get("name", str, "a name")
            if name in names:
                raise TableError(
                    f"{path}, row {number}, column 'name': {name!r} already defined in "
                    f"{names[name]}"
                )
            kind = get("kind", str, f"one of {', '.join(PRIMITIVE_KINDS)}")
            if kind not in PRIMITIVE_KINDS:
                raise TableError(
                    f"{path}, row {number}, column 'kind': {kind!r} is not one of "
                    f"{', '.join(PRIMITIVE_KINDS)}"
                )
            array_bytes = get("array_bytes", _positive(int), "a positive integer (bytes)",
                              optional=kind != "sram_read")
            area = get("area_um2", float, "a number (um^2) or empty", optional=True)
            if area is not None and area < 0:
                raise TableError(f"{path}, row {number}, column 'area_um2': negative, {area}")
            out.append(
                Primitive(
                    name=name,
                    kind=kind,
                    bits=get("bits", _positive(int), "a positive integer (bits)"),
                    bits_b=get("bits_b", _positive(int), "a positive integer (bits) or empty",
                               optional=True),
                    array_bytes=array_bytes,
                    node_nm=get("node_nm", _positive(float), "a positive number (nm)"),
                    energy_pj=_energy_or_nan(get("energy_pj", _positive(float),
                                                 "a positive number (pJ)",
                                                 optional=kind in AREA_ONLY_KINDS)),
                    area_um2=math.nan if area is None else area,
                    source=get("source", str, "a citation of where the numbers come from"),
                    file=str(path),
                )
            )
            names[name] = str(path)
    return out


def _energy_or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def load_nodes(path: PathLike | None = None) -> list[NodeRow]:
    """Technology-node rows, sorted from the largest node to the smallest (default: Stillmaker
    and Baas 2017). The energy column is ``a2*vdd^2 + a1*vdd + a0`` of each row."""
    path = DEFAULT_NODE_FILE if path is None else path
    out = []
    seen: set[float] = set()
    for number, row in _read_rows(path, NODE_COLUMNS):
        def get(column, convert, what, _n=number, _r=row):
            return _field(path, _n, column, _r[column], convert, what)

        node = get("node_nm", _positive(float), "a positive number (nm)")
        if node in seen:
            raise TableError(f"{path}, row {number}, column 'node_nm': {node:g} nm listed twice")
        seen.add(node)
        vdd = get("vdd_v", _positive(float), "a positive number (V)")
        a2, a1, a0 = (get(f"energy_a{i}", float, "a number") for i in (2, 1, 0))
        energy = a2 * vdd * vdd + a1 * vdd + a0
        if energy <= 0:
            raise TableError(
                f"{path}, row {number}, columns 'energy_a2/a1/a0': the polynomial gives "
                f"{energy:g} <= 0 at vdd_v={vdd:g}"
            )
        out.append(
            NodeRow(node, vdd, energy, get("area_factor", _positive(float), "a positive number"),
                    get("source", str, "a citation"))
        )
    return sorted(out, key=lambda r: -r.node_nm)


def load_units(path: PathLike | None = None) -> dict[str, list[UnitRow]]:
    """Unit definitions by unit name (default: ``costmodel/data/units.csv``)."""
    path = DEFAULT_UNIT_FILE if path is None else path
    units: dict[str, list[UnitRow]] = {}
    for number, row in _read_rows(path, UNIT_COLUMNS):
        for column in ("unit", "primitive", "count", "width"):
            if not row[column]:
                raise TableError(f"{path}, row {number}, column '{column}': empty")
        if row["primitive"] != "none" and row["primitive"] not in PRIMITIVE_KINDS:
            raise TableError(
                f"{path}, row {number}, column 'primitive': {row['primitive']!r} is not one of "
                f"none, {', '.join(PRIMITIVE_KINDS)}"
            )
        units.setdefault(row["unit"], []).append(
            UnitRow(row["unit"], row["primitive"], row["count"], row["width"], row["width_b"],
                    row["note"])
        )
    return units


DEFAULT_ASSUMPTION_FILE = DATA_DIR / "assumptions.csv"
ASSUMPTION_COLUMNS = ("name", "value", "low", "high", "unit", "note")


@dataclass(frozen=True)
class Assumption:
    """A number no source gives: its default ``value`` and the range ``low..high`` the
    sensitivity report varies it over."""

    name: str
    value: float
    low: float
    high: float
    unit: str
    note: str


def load_assumptions(path: PathLike | None = None) -> dict[str, Assumption]:
    """The assumptions table (default ``costmodel/data/assumptions.csv``) by name."""
    path = DEFAULT_ASSUMPTION_FILE if path is None else path
    out = {}
    for number, row in _read_rows(path, ASSUMPTION_COLUMNS):
        def get(column, _n=number, _r=row):
            return _field(path, _n, column, _r[column], _positive(float), "a positive number")

        value, low, high = get("value"), get("low"), get("high")
        if not low <= value <= high:
            raise TableError(f"{path}, row {number}: value {value:g} is outside low..high "
                             f"{low:g}..{high:g}")
        out[row["name"]] = Assumption(row["name"], value, low, high, row["unit"], row["note"])
    return out
