"""What the cost model reads from a training run folder (``fxsim train``): the measured
class-group shares, to price a class-difficulty policy as it actually ran, and the run's net,
batch and policy.

A run folder (:mod:`fxsim.training.loop`) holds ``config.toml`` (``net``, ``batch``, ...),
``policy.toml`` (the resolved policy; its ``[class_difficulty]`` names the easy group) and
``metrics.csv``, whose column ``easy_share`` is, per epoch, the fraction of that epoch's training
samples that ran in the easy group.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from fxsim.policy import Policy

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

EASY_SHARE_COLUMN = "easy_share"


def _run_file(run_dir: str | Path, name: str) -> Path:
    path = Path(run_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"run folder {Path(run_dir)}: {name} does not exist (expected "
                                "a folder written by fxsim train)")
    return path


def run_settings(run_dir: str | Path) -> dict[str, Any]:
    """``{"net", "batch", "policy"}`` of a run: net name and batch from ``config.toml``, the
    path of its resolved ``policy.toml``."""
    path = _run_file(run_dir, "config.toml")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    missing = [key for key in ("net", "batch") if key not in config]
    if missing:
        raise ValueError(f"{path}: no {' or '.join(missing)} (expected fxsim train's config)")
    return {"net": config["net"], "batch": config["batch"],
            "policy": _run_file(run_dir, "policy.toml")}


def shares_from_run(run_dir: str | Path) -> dict[str, float]:
    """``{easy group: mean of easy_share over the run's epochs}`` (every epoch has the same
    number of samples, so this is the share of all training samples); ``{}`` for a run whose
    policy has no class groups. Pass it as ``costmodel.estimate(..., shares=...)``."""
    policy_path, metrics_path = (_run_file(run_dir, n) for n in ("policy.toml", "metrics.csv"))
    policy = Policy.load(policy_path)
    if policy.class_difficulty is None:
        return {}
    group = policy.class_difficulty["easy_group"]
    try:
        metrics = pd.read_csv(metrics_path, dtype={EASY_SHARE_COLUMN: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{metrics_path}: not a readable CSV table: {error}") from None
    if EASY_SHARE_COLUMN not in metrics.columns:
        raise ValueError(f"{metrics_path}: no column {EASY_SHARE_COLUMN!r} (the policy "
                         f"{policy.name!r} has class groups, so fxsim train writes it); "
                         f"columns: {', '.join(map(str, metrics.columns))}")
    column = metrics[EASY_SHARE_COLUMN]
    if column.empty:
        raise ValueError(f"{metrics_path}: no epochs (no data rows)")
    values = pd.to_numeric(column, errors="coerce")
    for row, value in enumerate(values, start=1):
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"{metrics_path}, row {row}, column {EASY_SHARE_COLUMN!r}: "
                             f"expected a fraction in [0, 1], got {column.iloc[row - 1]!r}")
    return {group: float(values.mean())}
