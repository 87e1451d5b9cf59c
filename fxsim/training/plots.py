"""Plots of a run folder (``fxsim report RUN``), as PNG files next to its metrics.

- ``curves.png``: train and test loss and accuracy per epoch;
- ``saturation.png``: a heat map per role (weights, activations, activation and weight
  gradients, and the accumulators of each MAC phase), layers (forward order) by epochs, colour
  the share of elements saturated or clipped (of sums that overflowed, for accumulators);
  blank where a layer has no such role;
- ``grad_histograms.png``: per layer, the distribution of ``log2 |g|`` of the activation
  gradients entering the layer's quantizer, first and last epoch, with the quantizer's LSB
  and range top at the last epoch marked (values below half an LSB round to zero or to
  one LSB; values above the range saturate).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from fxsim.io import write_atomic
from fxsim.ranges.scale import symmetric_codes

SAT = ".sat_rate"
ROLE_ORDER = ("weights", "activations", "act_grads", "weight_grads", "bias_grads",
              "accumulator.forward", "accumulator.backward_input",
              "accumulator.backward_weight")
RATE_FLOOR = 1e-5  # the colour scale is logarithmic from here to 1


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())
    return path


def read_run(run: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(metrics, gradient histograms or None)`` of a run folder."""
    run = Path(run)
    metrics_path = run / "metrics.csv"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run} is not a run folder: {metrics_path} does not exist "
                                "(a run writes it after its first epoch)")
    hist_path = run / "grad_histograms.csv"
    hist = pd.read_csv(hist_path) if hist_path.is_file() else None
    return pd.read_csv(metrics_path), hist


def plot_curves(metrics: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    epochs = metrics["epoch"]
    loss_ax.plot(epochs, metrics["train_loss"], "o-", label="train")
    loss_ax.plot(epochs, metrics["test_loss"], "s-", label="test")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    acc_ax.plot(epochs, 100 * metrics["train_acc"], "o-", label="train")
    acc_ax.plot(epochs, 100 * metrics["test_acc"], "s-", label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    out = _save(fig, path)
    plt.close(fig)
    return out


def saturation_table(metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per role (and class group), a layers x epochs table of saturation rates from the
    ``.sat_rate`` columns of ``metrics.csv``: ``layer.role[.group].sat_rate`` and
    ``layer.accumulator.phase.sat_rate``. Layers in column (forward) order."""
    layers: list[str] = []
    cells: dict[str, dict[str, pd.Series]] = {}
    for column in metrics.columns:
        if not column.endswith(SAT):
            continue
        layer, role = column[: -len(SAT)].split(".", 1)
        if layer not in layers:
            layers.append(layer)
        cells.setdefault(role, {})[layer] = metrics[column].astype(float)
    roles = sorted(cells, key=_role_key)
    epochs = metrics["epoch"].astype(int).tolist()
    return {role: pd.DataFrame({layer: cells[role].get(layer, pd.Series(np.nan,
                                                                        index=metrics.index))
                                for layer in layers}).T.set_axis(epochs, axis=1)
            for role in roles}


def _role_key(role: str) -> tuple[int, str]:
    """Roles in :data:`ROLE_ORDER`, a class group's right after its role."""
    base = role if role.startswith("accumulator") else role.split(".")[0]
    return (ROLE_ORDER.index(base) if base in ROLE_ORDER else len(ROLE_ORDER), role)


def plot_saturation(metrics: pd.DataFrame, path: Path) -> Path:
    """The heat maps of :func:`saturation_table`, side by side, one shared layer axis."""
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    tables = saturation_table(metrics)
    layers = next(iter(tables.values())).index.tolist()
    epochs = metrics["epoch"].astype(int).tolist()
    width = max(1.2, min(3.0, 0.08 * len(epochs) + 0.9))
    fig, axes = plt.subplots(1, len(tables), sharey=True, squeeze=False, layout="constrained",
                             figsize=(1.6 + width * len(tables), 1.2 + 0.16 * len(layers)))
    cmap = plt.get_cmap("magma_r").with_extremes(bad="white", under="#e0e0e0")
    norm = LogNorm(vmin=RATE_FLOOR, vmax=1.0)
    image = None
    for ax, (role, table) in zip(axes[0], tables.items(), strict=True):
        values = table.to_numpy(dtype=float)
        shown = np.where(np.isnan(values), np.nan, np.maximum(values, RATE_FLOOR / 2))
        image = ax.imshow(np.ma.masked_invalid(shown), aspect="auto", cmap=cmap, norm=norm,
                          interpolation="nearest",
                          extent=(epochs[0] - 0.5, epochs[-1] + 0.5, len(layers) - 0.5, -0.5))
        ax.set_title(role.replace("accumulator.", "accumulator\n").replace("_", " "),
                     fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].set_yticks(range(len(layers)))
    axes[0][0].set_yticklabels(layers, fontsize=max(4, min(7, 400 // max(len(layers), 1))))
    bar = fig.colorbar(image, ax=axes[0].tolist(), extend="min", shrink=0.9,
                       aspect=max(10, 2 * len(layers) // 3))
    bar.set_label("share saturated", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    fig.suptitle("saturation per layer and epoch: share of elements saturated or clipped "
                 "(accumulators: of sums that overflowed)\nlight grey: none saturated; "
                 "white: the layer has no such role", fontsize=8)
    out = _save(fig, path)
    plt.close(fig)
    return out


def _marks(metrics: pd.DataFrame, quantizers: pd.DataFrame | None,
           name: str) -> tuple[float, float] | None:
    """``(log2 LSB, log2 range top)`` of quantizer ``name`` at the last epoch, or None."""
    if quantizers is None or name not in quantizers.index:
        return None
    last = metrics.iloc[-1]
    step, frac = last.get(f"{name}.step", np.nan), last.get(f"{name}.frac", np.nan)
    lsb = float(step) if np.isfinite(step) else (2.0 ** -float(frac) if np.isfinite(frac)
                                                  else np.nan)
    if not np.isfinite(lsb) or lsb <= 0:
        return None
    row = quantizers.loc[name]
    _, top = symmetric_codes(int(row["bits"]), bool(row["signed"]))
    return float(np.log2(lsb)), float(np.log2(top * lsb))


def plot_histograms(hist: pd.DataFrame, path: Path, metrics: pd.DataFrame | None = None,
                    quantizers: pd.DataFrame | None = None) -> Path:
    plt = _pyplot()
    names = list(dict.fromkeys(hist["quantizer"]))
    cols = min(5, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.7 * cols, 2.1 * rows + 0.6), squeeze=False,
                             sharex=True, layout="constrained")
    first, last = hist["epoch"].min(), hist["epoch"].max()
    seen = hist.loc[hist["count"] > 0, "log2_lo"]
    span = [seen.min() - 2, seen.max() + 3] if len(seen) else [-40, 8]
    for ax, name in zip(axes.flat, names, strict=False):
        mine = hist[hist["quantizer"] == name]
        for epoch, style in ((first, "-"), (last, "--")):
            rows_e = mine[mine["epoch"] == epoch]
            total = max(int(rows_e["count"].sum()), 1)
            ax.step(rows_e["log2_lo"], rows_e["count"] / total, style, where="post",
                    label=f"epoch {epoch}")
        marks = None if metrics is None else _marks(metrics, quantizers, name)
        if marks is not None:
            span = [min(span[0], marks[0] - 1), max(span[1], marks[1] + 1)]
            ax.axvline(marks[0], color="tab:red", lw=0.8, ls=":", label="LSB")
            ax.axvline(marks[1], color="tab:green", lw=0.8, ls=":", label="range top")
        ax.set_title(name.removesuffix(".act_grads"), fontsize=7, pad=2)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].set_xlim(*span)
    for ax in axes[-1]:
        ax.set_xlabel("log2 |gradient|", fontsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7)
    fig.suptitle("activation gradients entering each layer's act_grads quantizer (share per "
                 f"bin; LSB and range top at epoch {last})", fontsize=9)
    out = _save(fig, path)
    plt.close(fig)
    return out


def report(run: str | Path) -> list[Path]:
    """Write the plots of run folder ``run`` into it; returns their paths."""
    run = Path(run)
    metrics, hist = read_run(run)
    quantizers = None
    if (run / "quantizers.csv").is_file():
        quantizers = pd.read_csv(run / "quantizers.csv").set_index("quantizer")
    written = [plot_curves(metrics, run / "curves.png")]
    if any(c.endswith(SAT) for c in metrics.columns):
        written.append(plot_saturation(metrics, run / "saturation.png"))
    if hist is not None and len(hist):
        written.append(plot_histograms(hist, run / "grad_histograms.png", metrics, quantizers))
    return written
