"""``fxsim sweep report DIR``: Pareto fronts and break points of a sweep, as PNG and CSV.

Writes into ``DIR/report/``:

- ``pareto.png``: mean test accuracy over seeds against energy per training step (left) and
  against area (right), one colour per scheme; configurations dominated on that plot are grey.
  ``pareto.csv``: the configurations with ``front_energy`` and ``front_area``.
- ``breakpoints.png``: per block axis of bit widths, accuracy (mean and std over seeds)
  against the width, one line per value of the block's other axes (rounding mode, range
  rule, ...), the reference's accuracy and the tolerance band. ``breakpoints.csv``: the break
  point of every line (:func:`fxsim.sweep.analysis.break_points`).
- ``configurations.csv``: every configuration's mean, std, drop and costs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from fxsim.io import write_atomic, write_csv
from fxsim.sweep.analysis import (
    Blocks,
    bits_axes,
    break_index,
    break_points,
    configurations,
    curves,
    pareto,
    trains,
)
from fxsim.sweep.execute import FINISHED
from fxsim.sweep.grid import REFERENCE_BLOCK
from fxsim.sweep.run import GRID_FILE
from fxsim.sweep.table import read_table

GREY = "#b8b8b8"
FAR = 1.5  # a reference costing more than this times the other points is drawn off-axis


def _figure_png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _short(row: pd.Series, blocks: Blocks) -> str:
    """A point's label: its block's axis values (the reference: its policy)."""
    if row["block"] == REFERENCE_BLOCK:
        return str(row["policy"])
    parts = [f"{'.'.join(a.split('.')[-2:])}={row[a]}"
             for a, values in blocks.get(row["block"], {}).items() if len(values) > 1]
    return f"{row['block']}: {', '.join(parts)}" if parts else str(row["block"])


def _far_references(frame: pd.DataFrame, learns: pd.Series, cost: str) -> pd.Series:
    """Where a reference configuration (fp) that trains costs over :data:`FAR` times the
    dearest other one that trains: named under the axis instead of drawn as a point that
    squeezes the rest."""
    ref = (frame["block"] == REFERENCE_BLOCK) & learns
    others = frame.loc[learns & ~ref, cost]
    if others.empty:
        return ref & False
    return ref & (frame[cost] > FAR * others.max())


def plot_pareto(frame: pd.DataFrame, blocks: Blocks, title: str) -> bytes:
    """Accuracy against energy and against area; front points coloured by scheme and
    numbered (the key below each plot names them), dominated ones grey; configurations that
    fail to train (:func:`fxsim.sweep.analysis.trains`) are left out and counted. A reference
    far dearer than every other point is named under the axis, not drawn. The cost axis
    is logarithmic where the points span more than a decade."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unique = frame.drop_duplicates("config")
    learns = trains(unique)
    schemes = sorted(unique["scheme"].unique())
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(schemes)}
    from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter

    fronts = int(unique["front_energy"].sum() + unique["front_area"].sum())
    fig = plt.figure(figsize=(15, 7 + 0.16 * (fronts + 4)))
    layout = fig.add_gridspec(2, 2, height_ratios=(7, 0.16 * (fronts + 4)))
    key = fig.add_subplot(layout[1, :])
    key.axis("off")
    legend_lines = []
    for ax, cost, front, unit in (
            (fig.add_subplot(layout[0, 0]), "energy_pj", "front_energy",
             "energy per training step (pJ, 45 nm)"),
            (fig.add_subplot(layout[0, 1]), "area_um2", "front_area", "area (um$^2$, 45 nm)")):
        far = _far_references(unique, learns, cost)
        drawn = learns & ~far
        off = unique[drawn & ~unique[front]]
        ax.scatter(off[cost], 100 * off["acc_mean"], color=GREY, s=18, zorder=2,
                   label="dominated")
        on = unique[unique[front] & ~far].sort_values(cost)
        ax.plot(on[cost], 100 * on["acc_mean"], color="black", lw=0.8, zorder=3,
                drawstyle="steps-post")
        for scheme in schemes:
            mine = on[on["scheme"] == scheme]
            if len(mine):
                ax.errorbar(mine[cost], 100 * mine["acc_mean"],
                            yerr=100 * mine["acc_std"].fillna(0), fmt="o", ms=6,
                            color=colours[scheme], zorder=4, label=scheme, capsize=2)
        lines = [f"{unit.split(' (')[0]}: the front"]
        for i, (_, row) in enumerate(on.iterrows(), 1):
            ax.annotate(str(i), (row[cost], 100 * row["acc_mean"]), textcoords="offset points",
                        xytext=(4, 4 if i % 2 else -11), fontsize=8, weight="bold")
            lines.append(f"{i}. {_short(row, blocks)} [{row['scheme']}]: "
                         f"{100 * row['acc_mean']:.1f}%, {row[cost]:.3g}")
        failing = int((~learns).sum())
        low = 100 * on["acc_mean"].min() if len(on) else 0
        ax.set_ylim(max(0, low - 8), 100.5)
        if not learns.any():
            ax.text(0.5, 0.5, "no configuration trains (all below twice chance)",
                    ha="center", transform=ax.transAxes)
            continue
        shown = unique.loc[drawn, cost]
        if shown.max() > 10 * shown.min():  # a log axis only where it spans a decade
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.xaxis.set_major_formatter(EngFormatter())
        notes = [f"{_short(row, blocks)} off the axis: {100 * row['acc_mean']:.1f}% at "
                 f"{row[cost]:.3g}" + (" (on the front)" if row[front] else "")
                 for _, row in unique[far].iterrows()]
        ax.set_xlabel("\n".join([unit, *notes]))
        ax.set_ylabel("test accuracy (%), mean over seeds")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"accuracy against {cost.split('_')[0]}: the Pareto front numbered"
                     + (f"\n({failing} configurations below twice chance not shown)"
                        if failing else ""), fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        legend_lines += [*lines, ""]
    key.text(0, 1, "\n".join(legend_lines), va="top", ha="left", fontsize=7.5,
             family="monospace", transform=key.transAxes)
    fig.suptitle(title)
    data = _figure_png(fig)
    plt.close(fig)
    return data


def plot_break_points(frame: pd.DataFrame, blocks: Blocks, tolerance: float,
                      title: str) -> bytes | None:
    """Accuracy against bits, one panel per block axis of bit widths, one line per curve, its
    break point starred; each panel's accuracy axis ends a little below its lowest point."""
    panels = bits_axes(blocks)
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 4.6 * rows), squeeze=False)
    for ax, (block, axis) in zip(axes.flat, panels, strict=False):
        lines = curves(frame, block, axis, blocks)
        finite = sorted({b for _, g in lines for b in g["bits"] if math.isfinite(b)})
        wide_at = (max(finite) + 2) if finite else 1
        lowest = 100.0
        for i, (label, group) in enumerate(lines):
            x = [b if math.isfinite(b) else wide_at for b in group["bits"]]
            colour = plt.get_cmap("tab10")(i % 10)
            ax.errorbar(x, 100 * group["acc_mean"], yerr=100 * group["acc_std"].fillna(0),
                        marker="o", ms=4, capsize=2, label=label, color=colour)
            star = break_index(group["within"].to_numpy())  # the break point: a star
            if star is not None:
                ax.plot(x[star], 100 * group["acc_mean"].iloc[star], marker="*", ms=13,
                        color=colour, markeredgecolor="black", zorder=5)
            lowest = min(lowest, 100 * (group["acc_mean"] - group["acc_std"].fillna(0)).min())
        ref = frame[frame["block"] == block]["ref_acc"].dropna()
        if len(ref):
            level = 100 * ref.iloc[0]
            ax.axhline(level, color="black", lw=0.8, ls="--", label="fp (reference)")
            ax.axhspan(level - 100 * tolerance, level, color="green", alpha=0.08,
                       label=f"within {100 * tolerance:g} points")
        has_wide = any(not math.isfinite(b) for _, g in lines for b in g["bits"])
        ticks = finite + ([wide_at] if has_wide else [])
        ax.set_xticks(ticks)
        ax.set_xticklabels(["wide" if has_wide and t == wide_at else f"{t:g}" for t in ticks])
        ax.set_xlabel(f"{axis} (bits)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(max(0, lowest - 3), 100.5)
        ax.set_title(f"block {block!r}" + ("" if lines else ": no finished run yet"),
                     fontsize=10)
        ax.grid(True, alpha=0.3)
        if lines:
            ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    data = _figure_png(fig)
    plt.close(fig)
    return data


def report(out: str | os.PathLike, tolerance: float | None = None) -> list[Path]:
    """Write the report of the sweep folder ``out`` into ``out/report``; returns the files.
    ``tolerance`` (an accuracy fraction) overrides the grid's."""
    out = Path(out)
    record_file = out / GRID_FILE
    if not record_file.is_file():
        raise FileNotFoundError(f"{out} holds no {GRID_FILE}: not a folder made by fxsim sweep")
    record = json.loads(record_file.read_text())
    tolerance = record["tolerance"] if tolerance is None else tolerance
    if not 0 <= tolerance < 1:
        raise ValueError(f"--tolerance must be an accuracy fraction in [0, 1), got {tolerance}")
    table = read_table(out)
    frame = configurations(table, tolerance)
    if frame.empty:
        raise ValueError(f"{out}: no finished run to report on yet")
    frame["front_energy"] = pareto(frame, "energy_pj")
    frame["front_area"] = pareto(frame, "area_um2")
    folder = out / "report"
    blocks = record["blocks"]
    title = f"sweep {record['name']!r}: {', '.join(sorted(frame['net'].unique()))} on " \
            f"{', '.join(sorted(frame['data'].unique()))}"
    files = [write_csv(frame, folder / "configurations.csv")]
    files.append(write_atomic(folder / "pareto.png", plot_pareto(frame, blocks, title)))
    files.append(write_csv(frame.drop_duplicates("config")[
        ["scheme", "block", "policy", *[a for a in record["axes"]], "acc_mean", "acc_std",
         "energy_pj", "area_um2", "front_energy", "front_area"]], folder / "pareto.csv"))
    points = break_points(frame, blocks)
    if len(points):
        files.append(write_csv(points, folder / "breakpoints.csv"))
        png = plot_break_points(frame, blocks, tolerance,
                                f"{title}: accuracy against bit width (break points)")
        files.append(write_atomic(folder / "breakpoints.png", png))
    files.append(write_atomic(folder / "summary.md",
                              summary_markdown(table, frame, points, blocks, record, tolerance)))
    return files


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def summary_markdown(table: pd.DataFrame, frame: pd.DataFrame, points: pd.DataFrame,
                     blocks: Blocks, record: dict, tolerance: float) -> str:
    """The break points and the energy Pareto front as markdown tables (``summary.md``)."""
    from fxsim.io import markdown_table

    finished = table["status"].isin(FINISHED)
    runs = table.drop_duplicates("key")
    done = runs["status"].isin(FINISHED)
    seeds = sorted(int(s) for s in table.loc[finished, "seed"].unique())
    lines = [f"Sweep `{record['name']}`: {int(done.sum())} of {len(runs)} runs finished "
             f"(seeds {seeds}); tolerance {100 * tolerance:g} points of test accuracy below "
             f"the reference ({record.get('reference') or 'none'}).", ""]
    if len(points):
        shown = points[["block", "axis", "curve", "tested", "break_point", "acc_at_break",
                        "fails_at", "acc_at_fail", "ref_acc", "seeds"]]
        lines += ["Break points (the lowest width from which every wider tested width is "
                  "within tolerance; accuracy in %, mean over seeds):", "",
                  markdown_table(shown, {"acc_at_break": _percent, "acc_at_fail": _percent,
                                         "ref_acc": _percent, "fails_at": "g"},
                                 {"break_point": "break point", "acc_at_break": "acc at break",
                                  "fails_at": "widest failing", "acc_at_fail": "acc at failing",
                                  "ref_acc": "ref acc"})]
    front = frame[frame["front_energy"]].drop_duplicates("config").sort_values("energy_pj")
    front = front.assign(point=[_short(row, blocks) for _, row in front.iterrows()])
    lines += ["Pareto front of accuracy against energy per training step:", "",
              markdown_table(front[["scheme", "point", "acc_mean", "acc_std", "seeds",
                                    "energy_pj", "area_um2"]],
                             {"acc_mean": _percent, "acc_std": _percent, "energy_pj": ".3g",
                              "area_um2": ".3g"},
                             {"acc_mean": "acc %", "acc_std": "std", "energy_pj": "pJ/step",
                              "area_um2": "area um^2"})]
    return "\n".join(lines)
