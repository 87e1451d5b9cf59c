"""Plots of a run folder (``fxsim report RUN``), as PNG files next to its metrics.

- ``curves.png``: train and test loss and accuracy per epoch;
- ``grad_histograms.png``: per layer, the distribution of ``log2 |g|`` of the activation
  gradients entering the layer's quantizer, first and last epoch;
- ``saturation.png``: per quantizer, the share of elements saturated or clipped, per epoch.

matplotlib is needed (``pip install matplotlib``; the ``test`` extra has it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fxsim.io import write_atomic


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("fxsim report needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
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
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
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


def plot_histograms(hist: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    quantizers = list(dict.fromkeys(hist["quantizer"]))
    cols = min(4, len(quantizers))
    rows = -(-len(quantizers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    first, last = hist["epoch"].min(), hist["epoch"].max()
    for ax, name in zip(axes.flat, quantizers, strict=False):
        mine = hist[hist["quantizer"] == name]
        for epoch, style in ((first, "-"), (last, "--")):
            rows_e = mine[mine["epoch"] == epoch]
            total = max(int(rows_e["count"].sum()), 1)
            ax.step(rows_e["log2_lo"], rows_e["count"] / total, style, where="post",
                    label=f"epoch {epoch}")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("log2 |gradient|", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(quantizers):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("activation gradients entering each layer's quantizer")
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_saturation(metrics: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    columns = [c for c in metrics.columns if c.endswith(".sat_rate")]
    last = metrics.iloc[-1]
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(columns)), 4))
    values = np.array([last[c] for c in columns], dtype=float)
    ax.bar(range(len(columns)), 100 * values)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([c[: -len(".sat_rate")] for c in columns], rotation=90, fontsize=6)
    ax.set_ylabel("saturated or clipped (%)")
    ax.set_title(f"saturation per quantizer, epoch {int(last['epoch'])}")
    out = _save(fig, path)
    plt.close(fig)
    return out


def report(run: str | Path) -> list[Path]:
    """Write the plots of run folder ``run`` into it; returns their paths."""
    run = Path(run)
    metrics, hist = read_run(run)
    written = [plot_curves(metrics, run / "curves.png")]
    if any(c.endswith(".sat_rate") for c in metrics.columns):
        written.append(plot_saturation(metrics, run / "saturation.png"))
    if hist is not None and len(hist):
        written.append(plot_histograms(hist, run / "grad_histograms.png"))
    return written
