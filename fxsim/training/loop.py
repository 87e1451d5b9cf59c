"""The training loop and its run directory.

A run is a pure function of its :class:`TrainConfig` (net, data, policy, hyper-parameters, seed):
batch order, augmentation, initial weights and stochastic rounding are all keyed by the seed,
so the same configuration gives bit-identical integer state for any thread count, and a run
resumed from its last checkpoint continues exactly as if never interrupted.

The run directory (every file written atomically: complete or absent):

- ``config.toml``: the resolved run configuration; ``policy.toml``: the policy;
  ``quantizers.csv``: every quantizer of the net with its fully resolved settings;
- ``metrics.csv``: one row per epoch: learning rate, train loss and accuracy, test loss and
  accuracy, per-class test accuracy, the class-difficulty split, wall time, and per quantizer
  (``layer.role[.group]``) its saturation rate and last fraction length or interval;
- ``grad_histograms.csv``: per epoch and gradient quantizer, counts of ``log2 |g|``;
- ``checkpoint.npz``: the state after the last finished epoch (weights, momentum, batch-norm
  statistics, range-rule and class-difficulty state);
- ``summary.json``: final accuracy, SHA-256 of the weights and of the whole state, versions.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fxsim.io import toml_text, write_atomic, write_csv
from fxsim.layers.base import Context, check_seed
from fxsim.layers.quantizer import HISTOGRAM_EDGES
from fxsim.policy import Policy
from fxsim.training.difficulty import ClassDifficulty
from fxsim.training.network import Network
from fxsim.training.optim import SGD, Schedule
from fxsim.training.provenance import source_digest, versions

CHECKPOINT = "checkpoint.npz"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on. ``data=None`` takes the net's own dataset; ``augment=None``
    augments CIFAR data only (random crop with padding 4 and horizontal flip)."""

    net: str = "digits_cnn"
    data: str | None = None
    data_dir: str | None = None
    policy: str = "int8"
    epochs: int = 5
    batch: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    warmup_epochs: int = 0
    seed: int = 0
    limit: int | None = None
    augment: bool | None = None
    eval_batch: int = 500
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch", 1), ("eval_batch", 1), ("warmup_epochs", 0)):
            check_count(name, getattr(self, name), low)
        check_seed(self.seed)
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"limit must be a positive integer, got {self.limit!r}")

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        data["milestones"] = list(self.milestones)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown run setting {unknown[0]!r}; allowed: "
                             f"{', '.join(sorted(known))}")
        data = dict(data)
        data["milestones"] = tuple(data.get("milestones", ()))
        return cls(**data)


@dataclass
class Run:
    """What :func:`train` returns: the run folder, the metrics and the summary."""

    out: Path
    metrics: pd.DataFrame
    summary: dict[str, Any]


def check_count(name: str, value: object, low: int) -> int:
    """``value`` unchanged if it is an int ``>= low``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _split_by_group(labels: np.ndarray, class_group: np.ndarray | None):
    """Sample order putting group 0 first, then group 1, ... (stable), and the part sizes."""
    if class_group is None:
        return None, [(0, len(labels))]
    groups = class_group[labels]
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=int(class_group.max()) + 1)
    parts, start = [], 0
    for g, c in enumerate(counts):
        if c:
            parts.append((g, int(c)))
        start += c
    return order, parts


class Trainer:
    """One run: data, net, optimizer and run directory. Use :func:`train`."""

    def __init__(self, config: TrainConfig, out: str | Path) -> None:
        from reference_nets import build_net, default_dataset
        from reference_nets.datasets import load_dataset

        self.config = config
        self.out = Path(out)
        data_name = config.data or default_dataset(config.net)
        self.dataset = load_dataset(data_name, config.data_dir, seed=config.seed,
                                    limit=config.limit).normalize()
        self.augment = data_name.startswith("cifar") if config.augment is None else config.augment
        self.policy = Policy.load(config.policy)
        body = build_net(config.net, self.dataset.input_shape, self.dataset.num_classes)
        self.network = Network(body, self.dataset.input_shape, self.dataset.num_classes,
                               self.policy, config.seed)
        self.optimizer = SGD(self.network.params, config.momentum,
                             config.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.dataset.train_y) / config.batch)
        self.schedule = Schedule(config.lr, config.schedule, config.epochs, config.milestones,
                                 warmup_epochs=config.warmup_epochs)
        self.difficulty = None
        self.easy_group = None
        if self.policy.class_difficulty is not None:
            cd = self.policy.class_difficulty
            self.difficulty = ClassDifficulty(self.dataset.num_classes, cd["threshold"],
                                              cd["window"])
            self.easy_group = self.policy.group_names.index(cd["easy_group"])
        self.rows: list[dict[str, Any]] = []
        self.histograms: list[dict[str, Any]] = []
        self.epoch = 0
        self.elapsed = 0.0

    # ---- run folder ------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        checkpoint = self.out / CHECKPOINT
        if resume:
            if not checkpoint.is_file():
                raise FileNotFoundError(f"--resume: {checkpoint} does not exist (nothing to "
                                        "resume; run without --resume to start)")
            self._load_checkpoint(checkpoint)
            return
        if checkpoint.exists():
            raise FileExistsError(f"{self.out} already holds a run; pass --resume to continue "
                                  "it or choose another --out")
        write_atomic(self.out / "config.toml", toml_text(self.config.to_dict()))
        write_atomic(self.out / "policy.toml", self.policy.to_toml())
        write_csv(self.network.quantizer_table(), self.out / "quantizers.csv")

    def _save_checkpoint(self) -> None:
        arrays = {f"net/{k}": v for k, v in self.network.state_dict().items()}
        if self.difficulty is not None:
            arrays.update({f"difficulty/{k}": v
                           for k, v in self.difficulty.state_dict().items()})
        meta = {"epoch": self.epoch, "elapsed": self.elapsed, "config": self.config.to_dict(),
                "rules": self.network.rule_states(), "source": source_digest()}
        arrays["meta"] = np.array(json.dumps(meta))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomic(self.out / CHECKPOINT, buffer.getvalue())

    def _load_checkpoint(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta["config"] != self.config.to_dict():
                saved = meta["config"]
                diff = sorted(k for k in set(saved) | set(self.config.to_dict())
                              if saved.get(k) != self.config.to_dict().get(k))
                raise ValueError(f"--resume: the run in {self.out} was made with other "
                                 f"settings ({', '.join(diff)} differ); resume with the same "
                                 "settings")
            if meta.get("source") != source_digest():
                warnings.warn(f"--resume: the checkpoint in {self.out} was written by other "
                              f"fxsim source (digest {meta.get('source')}, now "
                              f"{source_digest()}): the resumed run equals an uninterrupted "
                              "one only if the change left the arithmetic alone",
                              RuntimeWarning, stacklevel=2)
            self.network.load_state_dict({k[4:]: data[k] for k in data.files
                                          if k.startswith("net/")})
            if self.difficulty is not None:
                self.difficulty.load_state_dict({k[11:]: data[k] for k in data.files
                                                 if k.startswith("difficulty/")})
        self.network.load_rule_states(meta["rules"])
        self.epoch = meta["epoch"]
        self.elapsed = meta["elapsed"]
        metrics = self.out / "metrics.csv"
        if metrics.is_file():
            self.rows = pd.read_csv(metrics).iloc[: self.epoch].to_dict("records")
        hist = self.out / "grad_histograms.csv"
        if hist.is_file():
            frame = pd.read_csv(hist)
            self.histograms = frame[frame["epoch"] <= self.epoch].to_dict("records")

    # ---- one epoch -------------------------------------------------------------------------
    def class_groups(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(group index per class, easy mask) for this epoch, or (None, None)."""
        if self.difficulty is None:
            return None, None
        easy = self.difficulty.easy_classes()
        return np.where(easy, self.easy_group, 0).astype(np.int64), easy

    def train_epoch(self, progress: Callable | None) -> dict[str, Any]:
        from reference_nets.datasets import augment, batches

        cfg = self.config
        data = self.dataset
        class_group, easy = self.class_groups()
        losses, correct, seen, easy_samples = 0.0, 0, 0, 0
        lr = cfg.lr
        for i, index in enumerate(batches(len(data.train_y), cfg.batch, seed=cfg.seed,
                                          epoch=self.epoch)):
            step = self.epoch * self.steps_per_epoch + i
            x, y = data.train_x[index], data.train_y[index]
            if self.augment:
                x = augment(x, seed=cfg.seed, epoch=self.epoch, step=i)
            order, parts = _split_by_group(y, class_group)
            if order is not None:
                x, y = x[order], y[order]
            bounds = np.cumsum([0] + [n for _, n in parts])
            xs = [x[a:b] for a, b in itertools.pairwise(bounds)]
            ys = [y[a:b] for a, b in itertools.pairwise(bounds)]
            ctx = Context(cfg.seed, step, True, tuple(g for g, _ in parts))
            loss, pred = self.network.train_step(xs, ys, ctx)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {self.epoch + 1}, step {i + 1}: the loss is {loss}; lower --lr or "
                    "widen the formats")
            lr = self.schedule.lr_at(self.epoch, i, self.steps_per_epoch)
            self.optimizer.step(lr, cfg.seed, step)
            if self.difficulty is not None:
                self.difficulty.record(y, pred)
                easy_samples += sum(n for g, n in parts if g == self.easy_group)
            losses += loss * len(y)
            correct += int((pred == y).sum())
            seen += len(y)
            if progress is not None:
                progress({"phase": "train", "epoch": self.epoch + 1, "epochs": cfg.epochs,
                          "step": i + 1, "steps": self.steps_per_epoch,
                          "loss": losses / seen, "acc": correct / seen})
        row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": losses / seen,
               "train_acc": correct / seen}
        if easy is not None:
            row["easy_classes"] = " ".join(str(c) for c in np.flatnonzero(easy)) or "-"
            row["easy_share"] = easy_samples / seen
        return row

    def evaluate(self) -> dict[str, Any]:
        """Test loss, accuracy and per-class accuracy (default group's formats)."""
        cfg = self.config
        data = self.dataset
        step = (self.epoch + 1) * self.steps_per_epoch
        losses = 0.0
        predictions = []
        for start in range(0, len(data.test_y), cfg.eval_batch):
            x = data.test_x[start:start + cfg.eval_batch]
            y = data.test_y[start:start + cfg.eval_batch]
            ctx = Context(cfg.seed, step + start // cfg.eval_batch, False, (0,))
            loss, pred = self.network.evaluate(x, y, ctx)
            losses += loss * len(y)
            predictions.append(pred)
        pred = np.concatenate(predictions)
        y = data.test_y
        row = {"test_loss": losses / len(y), "test_acc": float((pred == y).mean())}
        for c in range(data.num_classes):
            mine = y == c
            row[f"test_acc_class_{c}"] = float((pred[mine] == c).mean()) if mine.any() else np.nan
        return row

    def quantizer_columns(self) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for where, q in self.network.quantizers.items():
            taken = q.take_epoch_stats()
            for key, value in taken["stats"].items():
                row[f"{where}.{key}"] = value
            if q.histogram:
                for lo, count in zip(HISTOGRAM_EDGES[:-1], taken["histogram"], strict=True):
                    self.histograms.append({"epoch": self.epoch + 1, "quantizer": where,
                                            "log2_lo": lo, "count": int(count)})
        return row

    def summary(self, finished: bool) -> dict[str, Any]:
        last = self.rows[-1] if self.rows else {}
        return {
            "net": self.config.net, "policy": self.policy.name,
            "epochs_done": self.epoch, "finished": finished,
            "test_acc": last.get("test_acc"), "train_acc": last.get("train_acc"),
            "test_loss": last.get("test_loss"),
            "weights_sha256": self.network.weights_sha256(),
            "state_sha256": self.network.state_sha256(),
            "wall_time_s": self.elapsed, "config": self.config.to_dict(),
            "versions": versions(),
        }

    def run(self, progress: Callable | None = None, stop_after: int | None = None) -> Run:
        """Train the remaining epochs (all, or up to epoch ``stop_after``)."""
        cfg = self.config
        last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
        summary = None  # that of the last epoch trained here, if any
        while self.epoch < last:
            started = time.perf_counter()
            row = self.train_epoch(progress)
            if progress is not None:
                progress({"phase": "eval", "epoch": self.epoch + 1, "epochs": cfg.epochs})
            row.update(self.evaluate())
            self.elapsed += time.perf_counter() - started
            row["wall_time_s"] = self.elapsed
            row.update(self.quantizer_columns())
            self.rows.append(row)
            self.epoch += 1
            self._save_checkpoint()
            write_csv(pd.DataFrame(self.rows), self.out / "metrics.csv")
            if self.histograms:
                write_csv(pd.DataFrame(self.histograms), self.out / "grad_histograms.csv")
            summary = self.summary(self.epoch >= cfg.epochs)
            write_atomic(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
            if progress is not None:
                progress({"phase": "epoch", **{k: row[k] for k in
                                               ("epoch", "train_loss", "train_acc", "test_acc")},
                          "epochs": cfg.epochs})
        if summary is None:
            summary = self.summary(self.epoch >= cfg.epochs)
        return Run(self.out, pd.DataFrame(self.rows), summary)


def train(config: TrainConfig, out: str | Path, resume: bool = False,
          progress: Callable | None = None, stop_after: int | None = None) -> Run:
    """Run (or, with ``resume``, continue) the training described by ``config`` into the run
    folder ``out``; ``progress`` receives a dict per batch and per epoch; ``stop_after`` stops
    after that epoch (as an interruption would)."""
    trainer = Trainer(config, out)
    trainer.start(resume)
    return trainer.run(progress, stop_after)
