"""The sweep's results table: one row per point (a run in two blocks has a row in each).

Columns: the sweep, block and scheme; each axis of the grid (the point's value where its block
varies the axis, else the value at the base point); the run settings and seed; ``key`` (the
run folder's name) and ``status``; test and train accuracy and loss after the last epoch;
saturation summaries (per role, the mean and the largest saturation rate over the net's
quantizers in the last epoch); cost columns from :mod:`costmodel` (energy per training step at
the run's batch in pJ, area in um^2, traffic bits, and the savings against the fp32 baseline;
45 nm and the default tables); the run's wall time, its fxsim source digest, its weights'
SHA-256 and its folder. Costs come from the current cost model each time the table is built,
so a reused run is priced as a new one would be.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fxsim.io import write_atomic
from fxsim.policy import QUANTIZER_ROLES
from fxsim.sweep.grid import Grid
from fxsim.sweep.paths import UNSET, parse_path
from fxsim.sweep.points import Point, digest
from fxsim.training.loop import TrainConfig
from fxsim.training.runfolder import METRICS, SUMMARY

RESULTS = "results"  # results.parquet and results.csv
RUN_COLUMNS = ("net", "data", "epochs", "batch", "lr", "limit", "seed")
METRIC_COLUMNS = ("test_acc", "test_loss", "train_acc", "train_loss")
COST_COLUMNS = ("energy_pj", "area_um2", "traffic_bits", "energy_saving", "area_saving")
RECORD_COLUMNS = ("wall_time_s", "fxsim_source", "weights_sha256", "run_dir", "error")
TAIL_COLUMNS = (*COST_COLUMNS, *RECORD_COLUMNS)  # the table's last columns, in this order
# what differs between the runs (seeds) of one configuration, besides the sat_* columns
PER_RUN_COLUMNS = ("seed", "key", "status", *METRIC_COLUMNS, "epochs_done", *RECORD_COLUMNS)


def axis_value(grid: Grid, point: Point, name: str) -> str:
    """The point's value of axis ``name``: its label where the point's block varies the axis,
    else the value the point has at the axis' path (a linked axis: the label of the first of
    its values whose every setting the point has, else ``base``)."""
    from fxsim.sweep.grid import value_label

    if name in point.values:
        return point.values[name]
    axis = next(a for a in grid.axes if a.name == name)

    def current(path: str) -> Any:
        parsed = parse_path(path, "axis")
        if parsed == "policy":
            return point.base_policy
        if isinstance(parsed, str):
            return point.train.get(parsed, UNSET)
        return parsed.lookup(point.policy)

    if len(axis.paths) == 1 and axis.name == axis.paths[0]:
        return value_label(current(axis.name))
    for value in axis.values:
        if all(current(p) == v for p, v in value.sets):
            return value.label
    return "base"


def scheme_label(grid: Grid, point: Point, row: dict[str, Any]) -> str:
    """The point's scheme: the values of ``grid.scheme``'s entries joined by ``/`` (an axis:
    its value; ``policy``: the base policy; a policy path: the point's value there, a
    ``stochastic_k`` rounding with its random bits, e.g. ``stochastic_k4``; unset values are
    left out); the base policy's name where nothing is left (``fp``)."""
    parts = []
    for entry in grid.scheme:
        if entry == "policy":
            parts.append(point.base_policy)
        elif entry in row:
            parts.append(str(row[entry]))
        else:
            path = parse_path(entry, "scheme")
            value = path.lookup(point.policy)
            if value == "stochastic_k" and path.key == "rounding":
                sibling = parse_path(entry[: -len("rounding")] + "random_bits", "scheme")
                value = f"stochastic_k{sibling.lookup(point.policy)}"
            if value != UNSET:
                parts.append(str(value))
    return "/".join(parts) or point.base_policy  # a float policy (fp) sets none of them


def _last_epoch(run_dir: Path) -> pd.Series | None:
    """The last row of the run's metrics.csv (None without one)."""
    metrics = run_dir / METRICS
    return pd.read_csv(metrics).iloc[-1] if metrics.is_file() else None


def _saturation(last: pd.Series | None) -> dict[str, float]:
    """Per quantizer role, the mean and the largest saturation rate of the last epoch."""
    out: dict[str, float] = {}
    if last is None:
        return out
    for role in QUANTIZER_ROLES:
        rates = [float(last[c]) for c in last.index
                 if c.endswith(".sat_rate") and c.split(".")[1] == role]
        if rates:
            out[f"sat_{role}_mean"] = sum(rates) / len(rates)
            out[f"sat_{role}_max"] = max(rates)
    return out


class CostCache:
    """Cost columns per (net, batch, policy contents), from ``costmodel.compare`` against the
    fp32 baseline; a policy with class groups is priced with the shares its run measured."""

    def __init__(self) -> None:
        self._costs: dict[str, dict[str, float]] = {}
        self._shares: dict[tuple[str, int, int], dict | None] = {}

    def _measured_shares(self, run_dir: Path) -> dict | None:
        """The class-group shares the run's metrics.csv measured (read again only when the
        file changed: the table is rewritten while runs go on)."""
        import costmodel

        metrics = run_dir / METRICS
        if not metrics.is_file():
            return None
        stat = metrics.stat()
        version = (str(metrics), stat.st_mtime_ns, stat.st_size)
        if version not in self._shares:
            self._shares[version] = costmodel.shares_from_run(run_dir) or None
        return self._shares[version]

    def columns(self, point: Point, run_dir: Path) -> dict[str, float]:
        import costmodel

        net, batch = point.train["net"], point.train.get("batch", TrainConfig.batch)
        shares = self._measured_shares(run_dir) if point.policy.get("groups") else None
        key = digest([net, batch, point.policy_key, shares])
        if key not in self._costs:
            frame = costmodel.compare({"point": point.policy}, net=net, batch=batch,
                                      shares=shares)
            row = frame.iloc[-1]
            self._costs[key] = {c: float(row[c]) for c in COST_COLUMNS if c in row}
        return self._costs[key]


def point_row(grid: Grid, point: Point, out: Path, status: str, error: str,
              costs: CostCache) -> dict[str, Any]:
    """The table row of one point (from its run folder, where the run left anything)."""
    run_dir = point.run_dir(out)
    row: dict[str, Any] = {"sweep": grid.name, "block": point.block, "scheme": "",
                           "policy": point.base_policy}
    for axis in grid.axes:
        row[axis.name] = axis_value(grid, point, axis.name)
    row["scheme"] = scheme_label(grid, point, row)
    settings = point.config(out)
    for name in RUN_COLUMNS:
        row[name] = getattr(settings, name)
    row["data"] = row["data"] or _default_data(settings.net)
    row.update(key=point.key, config=point.config_key, status=status)
    summary_file = run_dir / SUMMARY
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    for name in METRIC_COLUMNS:
        row[name] = summary.get(name)
    last = _last_epoch(run_dir)
    if row["train_loss"] is None and last is not None:
        row["train_loss"] = float(last["train_loss"])
    row["epochs_done"] = summary.get("epochs_done", 0)
    row.update(_saturation(last))
    row.update(costs.columns(point, run_dir))
    row["wall_time_s"] = summary.get("wall_time_s")
    row["fxsim_source"] = summary.get("versions", {}).get("fxsim_source")
    row["weights_sha256"] = summary.get("weights_sha256")
    row["run_dir"] = str(run_dir)
    row["error"] = error
    return row


def _default_data(net: str) -> str:
    from reference_nets import default_dataset

    return default_dataset(net)


def build_table(grid: Grid, points: Sequence[Point], out: str | Path,
                outcomes: dict[str, tuple[str, str]], costs: CostCache | None = None
                ) -> pd.DataFrame:
    """The results table of ``points``; ``outcomes`` maps a run's key to (status, error);
    runs not in it are ``pending``."""
    costs = costs or CostCache()
    rows = [point_row(grid, p, Path(out), *outcomes.get(p.key, ("pending", "")), costs)
            for p in points]
    frame = pd.DataFrame(rows)
    sat = sorted(c for c in frame.columns if c.startswith("sat_"))
    first = [c for c in frame.columns
             if not c.startswith("sat_") and c not in TAIL_COLUMNS]
    tail = [c for c in TAIL_COLUMNS if c in frame.columns]
    return frame[first + sat + tail]


def write_table(frame: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """Write ``results.parquet`` and ``results.csv`` into ``out``, atomically."""
    out = Path(out)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = write_atomic(out / f"{RESULTS}.parquet", buffer.getvalue())
    csv = write_atomic(out / f"{RESULTS}.csv", frame.to_csv(index=False))
    return parquet, csv


def read_table(out: str | Path) -> pd.DataFrame:
    """The results table of a sweep folder (Parquet, else CSV)."""
    out = Path(out)
    if (out / f"{RESULTS}.parquet").is_file():
        return pd.read_parquet(out / f"{RESULTS}.parquet")
    if (out / f"{RESULTS}.csv").is_file():
        return pd.read_csv(out / f"{RESULTS}.csv", dtype=str).pipe(_numeric)
    raise FileNotFoundError(f"{out} holds no {RESULTS}.parquet or {RESULTS}.csv (made by "
                            "fxsim sweep GRID --out DIR)")


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    for column in (*METRIC_COLUMNS, *COST_COLUMNS, "wall_time_s", "seed", "epochs_done"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column])
    return frame
