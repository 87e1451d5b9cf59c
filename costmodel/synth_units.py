"""Unit costs synthesized from fxsim's RTL (``costmodel/data/synth_units.csv``), for
``--units synth`` in place of the textbook unit definitions.

The table (written by ``fxsim rtl size --table``; its header says how) holds, per cost-model
unit, rows at several widths: area (um^2) and energy (pJ per operation) at 45 nm. A query at
widths in the table returns that row. At other widths: a unit of one width (``lfsr``, the
statistics units) is interpolated linearly between its neighbouring rows (and extended by the
end segments, never below 0); a unit of several widths takes a law fitted through its rows by
non-negative least squares on the features of :data:`FEATURES` (so cost never falls as a width
grows), whose largest relative error on the table's own rows :meth:`SynthUnits.fit_errors`
reports. Units the table lacks (``mac_fp32``, the statistics of percentile, mse, cqat, dorefa)
return None: the caller prices them from the textbook definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from costmodel.scaling import Cost
from costmodel.tables import DATA_DIR, PathLike, TableError, _read_rows

SYNTH_FILE = DATA_DIR / "synth_units.csv"
PARAMS = ("a", "b", "acc", "out", "drop", "high", "k", "w", "m", "n")
COLUMNS = ("unit", *PARAMS, "area_um2", "energy_pj", "node_nm", "source")

# features of each unit's law, products of its parameters ("a*b"); a constant term is added
FEATURES: dict[str, tuple[str, ...]] = {
    "mac": ("a*b", "acc"),
    "round": ("out", "drop"),
    "round_stochastic_k": ("out", "drop", "k"),
    "overflow_saturate": ("out", "high"),
    "lfsr": ("k", "k*k"),
    "rng_leap_forward": ("n", "n*n"),
    "rescale_real": ("acc*m", "acc", "m"),
    "stats_minmax": ("w",),
    "stats_zscore": ("w", "w*w"),
    "stats_large_grad_interval": ("w",),
}


def features_of(unit: str) -> tuple[str, ...]:
    if unit in FEATURES:
        return FEATURES[unit]
    if unit.startswith("round_"):
        return FEATURES["round"]
    raise KeyError(unit)


def _feature_row(unit: str, params: dict[str, float]) -> np.ndarray:
    values = [1.0]
    for feature in features_of(unit):
        value = 1.0
        for name in feature.split("*"):
            value *= float(params[name])
        values.append(value)
    return np.array(values)


@dataclass
class _Law:
    names: tuple[str, ...]
    points: dict[tuple[float, ...], Cost]
    energy: np.ndarray
    area: np.ndarray
    error: float

    def __call__(self, unit: str, params: dict[str, float]) -> Cost:
        key = tuple(float(params[n]) for n in self.names)
        if key in self.points:
            return self.points[key]
        if len(self.names) == 1:
            return Cost(*(_interpolate(self.points, key[0], i) for i in (0, 1)))
        x = _feature_row(unit, params)
        return Cost(float(x @ self.energy), float(x @ self.area))


def _interpolate(points: dict[tuple[float, ...], Cost], x: float, column: int) -> float:
    """Piecewise linear through the points, the end segments extended, at least 0."""
    xs = sorted(points)
    if len(xs) == 1:
        return points[xs[0]][column] * x / xs[0][0]
    j = 0 if x < xs[0][0] else len(xs) - 2
    for i in range(len(xs) - 1):
        if xs[i][0] <= x <= xs[i + 1][0]:
            j = i
    (x0,), (x1,) = xs[j], xs[j + 1]
    y0, y1 = points[xs[j]][column], points[xs[j + 1]][column]
    return max(y0 + (y1 - y0) * (x - x0) / (x1 - x0), 0.0)


class SynthUnits:
    """The synthesized unit table; ``energy`` picks the energy column (``energy_pj``: switching
    activity, or ``energy_area_pj``: area-proportional)."""

    def __init__(self, path: PathLike | None = None, energy: str = "energy_pj") -> None:
        from scipy.optimize import nnls

        self.path = SYNTH_FILE if path is None else path
        rows: dict[str, list[tuple[dict[str, float], Cost]]] = {}
        for number, row in _read_rows(self.path, (*COLUMNS, energy)):
            try:
                params = {p: float(row[p]) for p in PARAMS if row[p] != ""}
                cost = Cost(float(row[energy]), float(row["area_um2"]))
                if float(row["node_nm"]) != 45:
                    raise ValueError("node_nm must be 45")
            except ValueError as error:
                raise TableError(f"{self.path}, row {number}: {error}") from None
            rows.setdefault(row["unit"], []).append((params, cost))
        self.laws: dict[str, _Law] = {}
        for unit, points in rows.items():
            names = tuple(sorted(points[0][0]))
            x = np.array([_feature_row(unit, p) for p, _ in points])
            fits = [nnls(x, np.array([c[i] for _, c in points]))[0] for i in (0, 1)]
            predicted = x @ np.stack(fits, axis=1)
            actual = np.array([[c.energy_pj, c.area_um2] for _, c in points])
            scale = np.where(actual > 0, actual, 1.0)
            error = float(np.max(np.abs(predicted - actual) / scale))
            if len(names) == 1:
                error = 0.0  # interpolated: exact at every row
            self.laws[unit] = _Law(names, {tuple(p[n] for n in names): c for p, c in points},
                                   fits[0], fits[1], error)

    def cost(self, unit: str, **params: float) -> Cost | None:
        """Energy (pJ) and area (um^2) at 45 nm of ``unit`` at widths ``params``; None if the
        table has no such unit."""
        law = self.laws.get(unit)
        if law is None:
            return None
        missing = [n for n in law.names if n not in params]
        if missing:
            raise ValueError(f"synthesized unit {unit!r} needs widths {', '.join(law.names)}; "
                             f"got {', '.join(sorted(params))}")
        return law(unit, params)

    def fit_errors(self) -> dict[str, float]:
        """The largest relative error of each unit's fitted law on the table's own rows (0 for
        interpolated units)."""
        return {unit: law.error for unit, law in self.laws.items()}


@cache
def default_synth_units() -> SynthUnits:
    return SynthUnits()
