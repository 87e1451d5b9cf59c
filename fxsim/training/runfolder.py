"""The run folder of a training run: its files, the order they are written in, and how a resumed
run reconciles them.

- ``config.toml``, ``policy.toml``, ``quantizers.csv``: the settings, written at the start;
- ``checkpoint.npz``: the state after the last finished epoch *and* every metrics and
  histogram row so far;
- ``metrics.csv``, ``grad_histograms.csv``, ``summary.json``: derived from the checkpoint.

Every file is written atomically (:func:`fxsim.io.write_atomic`). Each epoch writes the
checkpoint first, then the files derived from it. A run killed at any point (even mid-write) is
resumed from its last checkpoint: resuming first clears the temporary files the kill left and
rewrites the derived files from the checkpoint, so rows the kill kept from being written are
restored and the folder ends byte for byte as an uninterrupted run's (wall times apart).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from fxsim.io import remove_temporaries, toml_text, write_atomic, write_csv
from fxsim.layers.quantizer import HISTOGRAM_EDGES

CHECKPOINT = "checkpoint.npz"
CONFIG = "config.toml"
POLICY = "policy.toml"
QUANTIZERS = "quantizers.csv"
METRICS = "metrics.csv"
HISTOGRAMS = "grad_histograms.csv"
SUMMARY = "summary.json"
WALL_TIME_KEYS = ("wall_time_s", "elapsed")  # what differs between two runs of one config


@dataclass
class Checkpoint:
    """What ``checkpoint.npz`` holds: the state after ``epoch`` finished epochs, and the rows
    of ``metrics.csv`` and ``grad_histograms.csv`` up to it.

    ``net``: :meth:`fxsim.training.network.Network.state_dict`; ``difficulty``: the class
    difficulty tracker's arrays; ``rules``: the quantizers' range-rule states (JSON);
    ``rows``: one dict per epoch (the metrics row); ``hist_names`` and ``hist_counts``
    (epochs x quantizers x bins, int64): the gradient histograms; ``elapsed``: training wall
    time in seconds; ``source``: :func:`fxsim.training.provenance.source_digest`."""

    epoch: int
    config: dict[str, Any]
    net: dict[str, np.ndarray]
    rules: dict[str, Any]
    rows: list[dict[str, Any]]
    hist_names: list[str]
    hist_counts: np.ndarray
    elapsed: float = 0.0
    source: str = ""
    difficulty: dict[str, np.ndarray] = field(default_factory=dict)

    def save(self, out: Path) -> Path:
        arrays = {f"net/{k}": v for k, v in self.net.items()}
        arrays.update({f"difficulty/{k}": v for k, v in self.difficulty.items()})
        arrays["hist/counts"] = np.asarray(self.hist_counts, dtype=np.int64)
        meta = {"epoch": self.epoch, "elapsed": self.elapsed, "config": self.config,
                "rules": self.rules, "source": self.source, "hist_names": self.hist_names,
                "rows": [{k: plain(v) for k, v in row.items()} for row in self.rows]}
        arrays["meta"] = np.array(json.dumps(meta))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return write_atomic(out / CHECKPOINT, buffer.getvalue())

    @classmethod
    def load(cls, out: Path) -> Checkpoint:
        path = out / CHECKPOINT
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                net = {k[4:]: data[k] for k in data.files if k.startswith("net/")}
                difficulty = {k[11:]: data[k] for k in data.files
                              if k.startswith("difficulty/")}
                counts = data["hist/counts"] if "hist/counts" in data.files else None
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{path} is not a checkpoint fxsim can read ({error}); delete the "
                             "run folder to start over") from None
        names = meta.get("hist_names", [])
        if counts is None:  # written before rows lived in the checkpoint
            counts = np.zeros((meta["epoch"], len(names), len(HISTOGRAM_EDGES) - 1), np.int64)
        return cls(meta["epoch"], meta["config"], net, meta["rules"], meta.get("rows", []),
                   names, counts, meta.get("elapsed", 0.0), meta.get("source", ""), difficulty)


def plain(value: Any) -> Any:
    """A JSON-able Python value of a metrics cell (numpy scalars unwrapped; floats round-trip
    exactly through JSON, NaN included)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def require_run(out: Path) -> None:
    """FileNotFoundError unless a run was started in ``out`` (its ``config.toml`` exists)."""
    if not (Path(out) / CONFIG).is_file():
        raise FileNotFoundError(f"--resume: nothing to resume in {out}: no run was started there "
                                f"({CONFIG} does not exist); run without --resume to start one")


def read_config(out: Path) -> dict[str, Any]:
    """The settings in ``out/config.toml``, or FileNotFoundError if no run was started there."""
    require_run(out)
    return tomllib.loads((Path(out) / CONFIG).read_text())


def write_settings(out: Path, config: dict[str, Any], policy_toml: str,
                   quantizers: pd.DataFrame) -> None:
    """``config.toml``, ``policy.toml`` and ``quantizers.csv``."""
    write_atomic(out / CONFIG, toml_text(config))
    write_atomic(out / POLICY, policy_toml)
    write_csv(quantizers, out / QUANTIZERS)


def recorded_policy_differs(out: Path, policy_toml: str) -> bool | None:
    """Whether the policy the run in ``out`` recorded (its ``policy.toml``, as resolved when it
    started) differs from ``policy_toml``; None when ``out`` holds no ``policy.toml`` (a folder
    written before it was kept)."""
    recorded = out / POLICY
    return recorded.read_text() != policy_toml if recorded.is_file() else None


def judged_by_policy(out: Path, saved: dict[str, Any], policy_toml: str,
                     policy_name: str) -> dict[str, Any]:
    """A checkpoint's settings ``saved`` judged by the policy itself, not by its name: the
    policy the run in ``out`` was started with (its ``policy.toml``, as resolved then) must be
    ``policy_toml``, whatever file or name gives it now (a sweep folder moved or mounted at
    another path names its policy files by other paths; an edited policy file keeps its name).
    Returns ``saved`` with the policy named ``policy_name``; raises ValueError when the policy
    differs."""
    differs = recorded_policy_differs(out, policy_toml)
    if differs is None:  # a folder written before policy.toml was kept
        return saved
    if differs:
        recorded = out / POLICY
        raise ValueError(f"--resume: the run in {out} was made with another policy than "
                         f"{policy_name!r} now holds; {recorded} is the one it was started with: "
                         f"put it back in {policy_name!r}, or start a new run")
    return {**saved, "policy": policy_name}


def histogram_frame(names: list[str], counts: np.ndarray) -> pd.DataFrame:
    """``grad_histograms.csv``: one row per epoch, quantizer and bin (``log2_lo``, ``count``)."""
    epochs, quantizers, bins = counts.shape
    lows = HISTOGRAM_EDGES[:-1]
    return pd.DataFrame({
        "epoch": np.repeat(np.arange(1, epochs + 1), quantizers * bins),
        "quantizer": np.tile(np.repeat(np.array(names, dtype=object), bins), epochs),
        "log2_lo": np.tile(lows, epochs * quantizers),
        "count": counts.reshape(-1),
    })


def write_records(out: Path, checkpoint: Checkpoint, summary: dict[str, Any]) -> None:
    """The files derived from the checkpoint: ``metrics.csv``, ``grad_histograms.csv``,
    ``summary.json``."""
    if checkpoint.rows:
        write_csv(pd.DataFrame(checkpoint.rows), out / METRICS)
    if checkpoint.hist_names and checkpoint.epoch:
        write_csv(histogram_frame(checkpoint.hist_names, checkpoint.hist_counts),
                  out / HISTOGRAMS)
    write_summary(out, summary)


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    write_atomic(out / SUMMARY, json.dumps(summary, indent=2) + "\n")


def clear_interrupted_writes(out: Path) -> list[Path]:
    """Remove the temporary files a killed run left in ``out`` (:func:`remove_temporaries`)."""
    return remove_temporaries(out)


def legacy_rows(out: Path, epoch: int, hist_names: list[str]
                ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The rows of the first ``epoch`` epochs from ``metrics.csv`` and
    ``grad_histograms.csv``, for a checkpoint written before it held them."""
    rows: list[dict[str, Any]] = []
    counts = np.zeros((epoch, len(hist_names), len(HISTOGRAM_EDGES) - 1), dtype=np.int64)
    if (out / METRICS).is_file():
        rows = pd.read_csv(out / METRICS).iloc[:epoch].to_dict("records")
    if (out / HISTOGRAMS).is_file():
        frame = pd.read_csv(out / HISTOGRAMS)
        for (at, name), part in frame[frame["epoch"] <= epoch].groupby(["epoch", "quantizer"]):
            if name in hist_names:
                counts[at - 1, hist_names.index(name)] = part["count"].to_numpy()
    return rows, counts
