"""A sweep's grid file (TOML; schema: ``docs/sweep-schema.md``), read and checked.

A grid names a base point (net, data, base policy, run settings, policy fields set on top) and
one or more blocks; each block is the full product of its axes, every other setting taken from
the base. The sweep is the union of the blocks' points, times the seeds, plus a reference run
(``fp`` by default) per net and run settings. Everything is checked when the grid is read: an
unknown path, an empty axis or a value the policy schema refuses is a ValueError naming the
grid, the axis and the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from fxsim.sweep.paths import POLICY_TABLES, UNSET, flatten, parse_path

GRID_KEYS = ("name", "description", "seeds", "reference", "scheme", "tolerance", "base",
             "axes", "block")
BLOCK_KEYS = ("name", "axes")
DEFAULT_BASE = {"net": "digits_cnn", "policy": "int8"}
DEFAULT_TOLERANCE = 0.01
PRESETS = "fxsim.sweep.presets"
REFERENCE_BLOCK = "reference"


def value_label(value: Any) -> str:
    """A short text for an axis value: numbers and strings as they are, tables as
    ``k=v,k=v``."""
    if isinstance(value, dict):
        return ",".join(f"{k}={value_label(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(value_label(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class AxisValue:
    """One value of an axis: its ``label`` and the ``(path, value)`` pairs it sets."""

    label: str
    sets: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Axis:
    """An axis: a path and its values, or a linked axis (``name`` is not a path) whose every
    value sets several paths at once."""

    name: str
    values: tuple[AxisValue, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for value in self.values:
            for path, _ in value.sets:
                seen.setdefault(path, None)
        return tuple(seen)


@dataclass(frozen=True)
class Block:
    name: str
    axes: tuple[Axis, ...]


@dataclass(frozen=True)
class Grid:
    """A checked grid. ``base`` holds the base run settings (TrainConfig fields and
    ``policy``), ``base_sets`` the policy fields set at the base point, ``seeds`` the seeds,
    ``reference`` the policy every net's accuracy is compared with (None: none), ``scheme``
    the axes whose values name a point's scheme, ``tolerance`` the accuracy drop (a fraction)
    the report still calls "within tolerance" of the reference."""

    name: str
    description: str
    seeds: tuple[int, ...]
    base: dict[str, Any]
    base_sets: tuple[tuple[str, Any], ...]
    blocks: tuple[Block, ...]
    reference: str | None
    scheme: tuple[str, ...]
    tolerance: float
    folder: Path | None = None  # the grid file's folder: policy paths are relative to it

    @property
    def axes(self) -> tuple[Axis, ...]:
        """Every axis of every block, each name once (the first block's values)."""
        seen: dict[str, Axis] = {}
        for block in self.blocks:
            for axis in block.axes:
                seen.setdefault(axis.name, axis)
        return tuple(seen.values())

    def policy_source(self, name: str) -> str:
        """A policy value as the trainer loads it: a shipped name, or a path made absolute
        against the grid file's folder."""
        from fxsim.policy import shipped_policies

        if name in shipped_policies() or self.folder is None or Path(name).is_absolute():
            return name
        return str((self.folder / name).resolve())


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def _check_keys(where: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(where, f"unknown key {key!r}; allowed: {', '.join(allowed)}")


def _axis(where: str, name: str, values: Any) -> Axis:
    where = f"{where} axis {name!r}"
    if not isinstance(values, list):
        raise _fail(where, f"an axis is a list of values, got {values!r}")
    if not values:
        raise _fail(where, "the axis is empty; give at least one value")
    linked = [isinstance(v, dict) and "set" in v for v in values]
    if any(linked) and not all(linked):
        raise _fail(where, "mixes linked values ({ label, set }) with plain ones")
    out = []
    if not all(linked):
        parse_path(name, where)
        for value in values:
            out.append(AxisValue(value_label(value), ((name, value),)))
    else:
        for value in values:
            _check_keys(f"{where} value {value!r}", value, ("label", "set"))
            sets = value["set"]
            if not isinstance(sets, dict) or not sets:
                raise _fail(where, f"'set' must be a non-empty table of path = value, "
                                   f"got {sets!r}")
            pairs = tuple(flatten(sets, stop_at_role=True).items())
            for path, _ in pairs:
                parse_path(path, where)
            label = value.get("label", ",".join(f"{p}={value_label(v)}" for p, v in pairs))
            out.append(AxisValue(str(label), pairs))
    labels = [v.label for v in out]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise _fail(where, f"value {repeated[0]!r} is given twice")
    return Axis(name, tuple(out))


def _axes(where: str, table: Any) -> tuple[Axis, ...]:
    if not isinstance(table, dict) or not table:
        raise _fail(where, f"axes must be a non-empty table of path = [values], got {table!r}")
    return tuple(_axis(where, name, values)
                 for name, values in flatten(table, stop_at_role=False).items())


def _seeds(where: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise _fail(where, f"seeds must be a count >= 1 or a list of seeds, got {value!r}")
        return tuple(range(value))
    if (isinstance(value, list) and value and len(set(value)) == len(value)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        return tuple(value)
    raise _fail(where, f"seeds must be a count >= 1 or a list of distinct seeds >= 0, got "
                       f"{value!r}")


def parse_grid(data: dict[str, Any], where: str = "grid",
               folder: Path | None = None) -> Grid:
    """A :class:`Grid` from the TOML's dict, every path, axis and base setting checked (the
    points' values are checked by :func:`fxsim.sweep.points.plan_points`)."""
    if not isinstance(data, dict):
        raise TypeError(f"{where}: a grid must be a table, got {type(data).__name__}")
    _check_keys(where, data, GRID_KEYS)
    name = data.get("name", "sweep")
    if not isinstance(name, str) or not name:
        raise _fail(where, f"name must be a non-empty string, got {name!r}")
    base_table = dict(data.get("base", {}))
    if not isinstance(data.get("base", {}), dict):
        raise _fail(where, f"[base] must be a table, got {data['base']!r}")
    sets = base_table.pop("set", {})
    if not isinstance(sets, dict):
        raise _fail(f"{where} [base]", f"set must be a table of path = value, got {sets!r}")
    base = dict(DEFAULT_BASE)
    for key, value in base_table.items():
        if key in POLICY_TABLES or parse_path(key, f"{where} [base]") != key:
            raise _fail(f"{where} [base]", f"{key!r} is a policy field: put it in [base.set]")
        base[key] = value
    base_sets = tuple(flatten(sets, stop_at_role=True).items())
    for path, _ in base_sets:
        parse_path(path, f"{where} [base.set]")
    if "axes" in data and "block" in data:
        raise _fail(where, "give either [axes] (one block) or [[block]] tables, not both")
    if "block" in data:
        raw = data["block"]
        if not isinstance(raw, list) or not raw:
            raise _fail(where, "[[block]] must be a non-empty array of tables")
        blocks = []
        for i, block in enumerate(raw):
            label = block.get("name", f"block{i + 1}") if isinstance(block, dict) else None
            bwhere = f"{where} block {label!r}"
            if not isinstance(block, dict):
                raise _fail(where, f"each [[block]] must be a table, got {block!r}")
            _check_keys(bwhere, block, BLOCK_KEYS)
            blocks.append(Block(str(label), _axes(bwhere, block.get("axes"))))
        names = [b.name for b in blocks]
        if len(set(names)) != len(names) or REFERENCE_BLOCK in names:
            raise _fail(where, f"block names must be distinct and not {REFERENCE_BLOCK!r}, "
                               f"got {names}")
    elif "axes" in data:
        blocks = [Block("grid", _axes(where, data["axes"]))]
    else:
        blocks = [Block("base", ())]
    reference = data.get("reference", "fp")
    if not isinstance(reference, str):
        raise _fail(where, f"reference must be a policy name or \"\" (none), got {reference!r}")
    grid_axes = {a.name for b in blocks for a in b.axes}
    scheme = data.get("scheme")
    if scheme is None:
        scheme = ["policy"] + [a for a in grid_axes if a != "policy" and (
            "rounding" in a or "range" in a)]
        scheme = sorted(set(scheme), key=lambda a: (a != "policy", a))
    if not isinstance(scheme, list) or not all(isinstance(s, str) for s in scheme):
        raise _fail(where, f"scheme must be a list of axis names, got {scheme!r}")
    for entry in scheme:
        if entry != "policy" and entry not in grid_axes:
            try:
                parse_path(entry, f"{where} scheme")
            except ValueError:
                raise _fail(where, f"scheme names {entry!r}, which is neither 'policy', an axis "
                                   f"({', '.join(sorted(grid_axes)) or 'none'}) nor a policy "
                                   "path") from None
    tolerance = data.get("tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            0 <= tolerance < 1):
        raise _fail(where, f"tolerance must be an accuracy fraction in [0, 1), got "
                           f"{tolerance!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(where, f"description must be a string, got {description!r}")
    return Grid(name, description, _seeds(where, data.get("seeds", 1)), base, base_sets,
                tuple(blocks), reference or None, tuple(scheme), float(tolerance), folder)


def preset_names() -> tuple[str, ...]:
    """The grids shipped with fxsim (``fxsim sweep --preset NAME``)."""
    folder = resources.files(PRESETS)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise ValueError(f"--preset: unknown preset {name!r}; shipped: "
                         f"{', '.join(preset_names())}")
    return resources.files(PRESETS).joinpath(f"{name}.toml").read_text()


def load_grid(source: str | os.PathLike | dict) -> Grid:
    """A grid from a TOML path, a preset name (:func:`preset_names`) or a dict."""
    if isinstance(source, dict):
        return parse_grid(source)
    path = Path(source)
    if path.is_file():
        text, where, folder = path.read_text(), str(path), path.parent.resolve()
    elif isinstance(source, str) and source in preset_names():
        text, where, folder = preset_text(source), f"preset {source!r}", None
    else:
        raise FileNotFoundError(f"grid {str(source)!r} is neither a file nor a preset; "
                                f"presets: {', '.join(preset_names())}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{where}: not valid TOML: {error}") from None
    data.setdefault("name", path.stem if path.is_file() else str(source))
    return parse_grid(data, where, folder)


__all__ = ["UNSET", "Axis", "AxisValue", "Block", "Grid", "load_grid", "parse_grid",
           "preset_names", "value_label"]
