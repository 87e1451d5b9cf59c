"""What a sweep's table says: per-configuration means, Pareto fronts and break points.

- :func:`configurations`: one row per configuration (the points of one setting over the
  seeds), with the mean and standard deviation of test accuracy over seeds, the reference
  (``fp``) accuracy of the same net, data and run settings, and ``within`` (the mean is at most
  ``tolerance`` below the reference's mean).
- :func:`pareto`: whether each configuration is on the Pareto front of mean test accuracy
  (higher is better) against a cost column (lower is better): no other configuration of the
  same net and data has at least its accuracy at no more cost, better in one of them.
- :func:`break_points`: for every block axis of bit widths (:func:`bits_axes`), and
  every combination of the block's other axes (a "curve": a rounding mode, a range rule...),
  the lowest width from which every wider tested width stays within tolerance of the
  reference (the break point: the next narrower width tested falls out of tolerance).
  ``unset`` (an accumulator without bits: wide) counts as wider than any width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from fxsim.sweep.execute import COMPLETED
from fxsim.sweep.grid import REFERENCE_BLOCK
from fxsim.sweep.paths import UNSET
from fxsim.sweep.table import PER_RUN_COLUMNS

SETTING_COLUMNS = ("net", "data", "epochs", "batch", "lr", "limit")


def _setting(frame: pd.DataFrame) -> pd.Series:
    return frame[list(SETTING_COLUMNS)].apply(lambda column: column.map(str)).agg(
        "|".join, axis=1)


def configurations(table: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Mean and std of test accuracy over seeds per (block, configuration), the reference's
    mean for the same run settings, the drop against it and ``within``. Only finished runs
    count (``seeds`` says how many)."""
    done = table[table["status"].isin(COMPLETED)].copy()
    done["setting"] = _setting(done)
    keys = [c for c in done.columns
            if c not in PER_RUN_COLUMNS and not c.startswith("sat_")]
    grouped = done.groupby(keys, dropna=False, sort=False)
    frame = grouped["test_acc"].agg(["mean", "std", "count"]).reset_index()
    frame = frame.rename(columns={"mean": "acc_mean", "std": "acc_std", "count": "seeds"})
    frame["wall_time_s"] = grouped["wall_time_s"].mean().to_numpy()
    ref = frame[frame["block"] == REFERENCE_BLOCK].groupby("setting")["acc_mean"].mean()
    frame["ref_acc"] = frame["setting"].map(ref)
    frame["drop"] = frame["ref_acc"] - frame["acc_mean"]
    frame["within"] = frame["drop"] <= tolerance + 1e-12
    return frame


def trains(frame: pd.DataFrame) -> pd.Series:
    """True where the mean accuracy is at least twice chance (1 / classes: 100 classes for
    cifar100, 10 for the other data sets); below it a configuration failed to train."""
    classes = frame["data"].map(lambda name: 100 if name == "cifar100" else 10)
    return frame["acc_mean"] >= 2 / classes


def pareto(frame: pd.DataFrame, cost: str) -> pd.Series:
    """True where the configuration is on the front of ``acc_mean`` (up) against ``cost``
    (down), among the configurations of its net and data that train (:func:`trains`; each
    configuration once)."""
    on = pd.Series(False, index=frame.index)
    unique = frame[trains(frame)].drop_duplicates("config")
    for _, group in unique.groupby(["net", "data"]):
        acc, price = group["acc_mean"].to_numpy(), group[cost].to_numpy()
        for i, index in enumerate(group.index):
            dominated = ((acc >= acc[i]) & (price <= price[i])
                         & ((acc > acc[i]) | (price < price[i]))).any()
            if not dominated:
                on[frame["config"] == frame.loc[index, "config"]] = True
    return on


def bits_value(label: Any) -> float:
    """A bit-width label as a number: ``unset`` (wide) is +inf; not a number: NaN."""
    if label == UNSET:
        return math.inf
    try:
        return float(label)
    except (TypeError, ValueError):
        return math.nan


Blocks = dict[str, dict[str, list[str]]]  # block -> axis -> value labels (OUT/grid.json)


def bits_axes(blocks: Blocks) -> list[tuple[str, str]]:
    """(block, axis) of every axis of bit widths with two values or more: a path ending in
    ``.bits``, or a linked axis whose name ends in ``bits`` (``wa_bits``)."""
    return [(block, axis) for block, axes in blocks.items() for axis, values in axes.items()
            if axis.split(".")[-1].endswith("bits") and axis.split(".")[-1] != "random_bits"
            and len(values) > 1]


def curves(frame: pd.DataFrame, block: str, axis: str, blocks: Blocks
           ) -> list[tuple[str, pd.DataFrame]]:
    """The curves of ``axis`` in ``block``: (label of the block's other axes' values, those
    with two values or more, rows sorted by width)."""
    rows = frame[frame["block"] == block].copy()
    rows["bits"] = rows[axis].map(bits_value)
    rows = rows[rows["bits"].notna()]
    others = [a for a, values in blocks[block].items() if a != axis and len(values) > 1]
    out = []
    if others:
        for values, group in rows.groupby(others, sort=False):
            values = values if isinstance(values, tuple) else (values,)
            label = ", ".join(str(v) for v in values)
            out.append((label, group.sort_values("bits")))
    elif len(rows):
        out.append((str(rows["scheme"].iloc[0]), rows.sort_values("bits")))
    return out


def break_index(within: Sequence[bool]) -> int | None:
    """The index of a curve's break point (widths in increasing order): the lowest from which
    every wider width is within tolerance; None when the widest is not (or there is none)."""
    ok = None
    for i in range(len(within) - 1, -1, -1):
        if not within[i]:
            break
        ok = i
    return ok


def break_points(frame: pd.DataFrame, blocks: Blocks) -> pd.DataFrame:
    """One row per curve of every bits axis: the break point (``break_bits``: the lowest
    width from which all wider ones are within tolerance; NaN when even the widest is not),
    the accuracy there, the widest width that fails (``fails_at``, NaN when none fails) and
    its accuracy (``acc_at_fail``), and the reference accuracy."""
    rows = []
    for block, axis in bits_axes(blocks):
        for label, group in curves(frame, block, axis, blocks):
            widths, within = group["bits"].to_numpy(), group["within"].to_numpy()
            ok = break_index(within)
            fails = [i for i, w_in in enumerate(within) if not w_in]
            rows.append({
                "block": block, "axis": axis, "curve": label,
                "tested": " ".join(_bits_text(w) for w in widths),
                "break_bits": math.nan if ok is None else widths[ok],
                "break_point": ("none within" if ok is None else
                                f"<= {_bits_text(widths[ok])}" if ok == 0 else
                                _bits_text(widths[ok])),
                "acc_at_break": math.nan if ok is None else group["acc_mean"].iloc[ok],
                "fails_at": widths[fails[-1]] if fails else math.nan,
                "acc_at_fail": group["acc_mean"].iloc[fails[-1]] if fails else math.nan,
                "ref_acc": group["ref_acc"].iloc[0], "seeds": int(group["seeds"].min()),
            })
    return pd.DataFrame(rows)


def _bits_text(width: float) -> str:
    return "wide" if math.isinf(width) else f"{width:g}"
