"""Energy per training step by component, schemes side by side (a PNG)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

# what each bar segment sums (estimate's energy_<component>_pj columns)
GROUPS = {
    "MAC": ("mac", "reg"),
    "RF": ("rf",),
    "buffer + network": ("glb", "network"),
    "DRAM": ("dram",),
    "rounding, rescale, random bits": ("rounding", "rescale", "rng", "saturation"),
    "statistics": ("stats",),
    "float islands, adds, pools": ("float", "elementwise"),
}


def components(frame: pd.DataFrame) -> dict[str, float]:
    """Energy per step (pJ) of an :func:`costmodel.estimate` frame by :data:`GROUPS`."""
    return {name: float(sum(frame[f"energy_{c}_pj"].sum() for c in parts))
            for name, parts in GROUPS.items()}


def plot_components(frames: Mapping[str, pd.DataFrame], path: str) -> None:
    """A stacked bar per scheme (``{label: estimate frame}``) of energy per step by
    component, in uJ, written atomically to ``path`` (PNG)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fxsim.io import write_atomic

    data = pd.DataFrame({label: components(f) for label, f in frames.items()}).T / 1e6
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(data) + 3.5), 5.0))
    bottom = pd.Series(0.0, index=data.index)
    colors = plt.get_cmap("tab10").colors
    for i, column in enumerate(data.columns):
        ax.bar(data.index, data[column], bottom=bottom, label=column, color=colors[i])
        bottom += data[column]
    first = next(iter(frames.values()))
    ax.set_ylabel("energy per training step (uJ)")
    ax.set_title(f"Energy by component, batch {first.attrs['batch']}, "
                 f"{first.attrs['node_nm']:g} nm, {first.attrs['arch'].name}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
