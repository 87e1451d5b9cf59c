"""The training loop: :func:`train` runs a :class:`TrainConfig` into a run folder, a pure
function of the config (the guarantees and the folder's files: :mod:`fxsim.training`; the order
the files are written in and how a resumed run reconciles them: :mod:`fxsim.training.runfolder`;
the settings and how ``--resume`` reads them: :mod:`fxsim.training.config`)."""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fxsim.layers.base import Context
from fxsim.layers.quantizer import HISTOGRAM_EDGES, NonFiniteError
from fxsim.numeric.heap import keep_freed_pages
from fxsim.policy import Policy
from fxsim.training.config import (
    Diverged,
    Interrupted,
    TrainConfig,
    resume_config,
)
from fxsim.training.difficulty import ClassDifficulty
from fxsim.training.network import ACC_WARN_RATE, Network, accumulator_warning
from fxsim.training.optim import SGD, Schedule
from fxsim.training.provenance import run_source_digest, versions
from fxsim.training.runfolder import (
    CHECKPOINT,
    CONFIG,
    Checkpoint,
    clear_interrupted_writes,
    judged_by_policy,
    legacy_rows,
    require_run,
    write_records,
    write_settings,
    write_summary,
)

__all__ = ["ACC_WARN_RATE", "Diverged", "Interrupted", "Run", "TrainConfig", "Trainer",
           "resume_config", "train"]



@dataclass
class Run:
    """What :func:`train` returns: ``out`` (Path), the run folder; ``metrics`` (DataFrame), one
    row per epoch done (a resumed run's earlier epochs included); ``summary`` (dict), what
    ``summary.json`` holds."""

    out: Path
    metrics: pd.DataFrame
    summary: dict[str, Any]


def _split_by_group(labels: np.ndarray, class_group: np.ndarray | None):
    """Sample order putting group 0 first, then group 1, ... (stable), and the part sizes."""
    if class_group is None:
        return None, [(0, len(labels))]
    groups = class_group[labels]
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=int(class_group.max()) + 1)
    return order, [(g, int(c)) for g, c in enumerate(counts) if c]


class Trainer:
    """One run: data, net, optimizer and run folder. Use :func:`train`."""

    def __init__(self, config: TrainConfig, out: str | Path) -> None:
        from reference_nets import build_net, default_dataset
        from reference_nets.datasets import load_dataset

        keep_freed_pages()  # each step's temporaries reuse the last step's pages
        self.config = config
        self.out = Path(out)
        data_name = config.data or default_dataset(config.net)
        self.policy = Policy.load(config.policy)
        self.source = run_source_digest(self.policy.rounding_modules)  # rules imported by now
        self.dataset = load_dataset(data_name, config.data_dir, seed=config.seed,
                                    limit=config.limit).normalize()
        self.augment = data_name.startswith("cifar") if config.augment is None else config.augment
        body = build_net(config.net, self.dataset.input_shape, self.dataset.num_classes)
        self.network = Network(body, self.dataset.input_shape, self.dataset.num_classes,
                               self.policy, config.seed)
        self.optimizer = SGD(self.network.params, config.momentum, config.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.dataset.train_y) / config.batch)
        self.schedule = Schedule(config.lr, config.schedule, config.epochs, config.milestones,
                                 warmup_epochs=config.warmup_epochs,
                                 extended_from=config.extended_from)
        self.difficulty = None
        self.easy_group = None
        if self.policy.class_difficulty is not None:
            cd = self.policy.class_difficulty
            self.difficulty = ClassDifficulty(self.dataset.num_classes, cd["threshold"],
                                              cd["window"])
            self.easy_group = self.policy.group_names.index(cd["easy_group"])
        self.hist_names = [w for w, q in self.network.quantizers.items() if q.histogram]
        self.rows: list[dict[str, Any]] = []
        self.hist_counts = np.zeros((0, len(self.hist_names), len(HISTOGRAM_EDGES) - 1),
                                    dtype=np.int64)
        self.epoch = 0
        self.elapsed = 0.0
        self.notes: list[str] = []  # what start() found (a restart, an extension)
        self.saved = 0  # epochs the run folder's checkpoint holds

    # ---- run folder ------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """Write the settings of a new run, or (``resume``) continue the one in the folder
        from its last checkpoint: clear what a kill left, restore the files derived from the
        checkpoint. A folder that holds a run's settings but no checkpoint (interrupted in its
        first epoch) starts over."""
        checkpoint = self.out / CHECKPOINT
        if resume:
            require_run(self.out)
            clear_interrupted_writes(self.out)
            if checkpoint.is_file():
                self._load_checkpoint()
                write_records(self.out, self._checkpoint(), self.summary())
                return
            self.notes.append(f"{self.out} holds no checkpoint (no epoch had finished): the "
                              "run starts over from epoch 1")
        elif checkpoint.exists() or (self.out / CONFIG).exists():
            raise FileExistsError(f"{self.out} already holds a run; pass --resume to continue "
                                  "it or choose another --out")
        else:
            clear_interrupted_writes(self.out)  # a run killed before its settings were written
        write_settings(self.out, self.config.to_dict(), self.policy.to_toml(),
                       self.network.quantizer_table())

    def _checkpoint(self) -> Checkpoint:
        return Checkpoint(
            self.epoch, self.config.to_dict(), self.network.state_dict(),
            self.network.rule_states(), self.rows, self.hist_names, self.hist_counts,
            self.elapsed, self.source,
            {} if self.difficulty is None else self.difficulty.state_dict())

    def _load_checkpoint(self, run: Path | None = None, saved: Checkpoint | None = None,
                         write: bool = True) -> None:
        """Continue from the checkpoint ``saved`` (default: read) of the run in ``run`` (default:
        this trainer's folder), checked against its settings; ``write=False`` writes nothing."""
        run = self.out if run is None else run
        saved = Checkpoint.load(run) if saved is None else saved
        wanted = self.config.to_dict()
        saved_config = judged_by_policy(run, saved.config, self.policy.to_toml(),
                                        wanted["policy"])
        if saved_config != wanted:
            if not self.config.is_extension_of(saved_config):
                diff = sorted(k for k in set(saved_config) | set(wanted)
                              if saved_config.get(k) != wanted.get(k))
                raise ValueError(f"--resume: the run in {run} was made with other "
                                 f"settings ({', '.join(diff)} differ); resume with the same "
                                 "settings (only --epochs may grow)")
            self.notes.append(f"extended from {saved_config['epochs']} to "
                              f"{self.config.epochs} epochs"
                              + (" (the cosine schedule continues over the new length)"
                                 if self.config.schedule == "cosine" else ""))
        if write and saved.config != wanted:  # more epochs, or the policy named otherwise
            write_settings(run, wanted, self.policy.to_toml(), self.network.quantizer_table())
        if saved.source != self.source:
            warnings.warn(f"--resume: the checkpoint in {run} was written by other fxsim "
                          f"source or rounding rules (digest {saved.source}, now "
                          f"{self.source}): the resumed run equals an uninterrupted one only if "
                          "the change left the arithmetic alone", RuntimeWarning, stacklevel=3)
        self.network.load_state_dict(saved.net)
        if self.difficulty is not None:
            self.difficulty.load_state_dict(saved.difficulty)
        self.network.load_rule_states(saved.rules)
        self.epoch, self.saved, self.elapsed = saved.epoch, saved.epoch, saved.elapsed
        self.rows = list(saved.rows)
        if saved.hist_names == self.hist_names:
            self.hist_counts = saved.hist_counts
        if self.epoch and not self.rows:  # written before the rows lived in the checkpoint
            self.rows, self.hist_counts = legacy_rows(run, self.epoch, self.hist_names)

    # ---- one epoch -------------------------------------------------------------------------
    def class_groups(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(group index per class, easy mask) for this epoch, or (None, None)."""
        if self.difficulty is None:
            return None, None
        easy = self.difficulty.easy_classes()
        return np.where(easy, self.easy_group, 0).astype(np.int64), easy

    def batch(self, i: int, index: np.ndarray, class_group: np.ndarray | None):
        """The parts of batch ``i`` of this epoch: (images, labels) per part and Context."""
        from reference_nets.datasets import augment

        cfg, data = self.config, self.dataset
        x, y = data.train_x[index], data.train_y[index]
        if self.augment:
            x = augment(x, seed=cfg.seed, epoch=self.epoch, step=i)
        order, parts = _split_by_group(y, class_group)
        if order is not None:
            x, y = x[order], y[order]
        bounds = np.cumsum([0] + [n for _, n in parts])
        xs = [x[a:b] for a, b in itertools.pairwise(bounds)]
        ys = [y[a:b] for a, b in itertools.pairwise(bounds)]
        step = self.epoch * self.steps_per_epoch + i
        return xs, ys, Context(cfg.seed, step, True, tuple(g for g, _ in parts))

    def train_epoch(self, progress: Callable | None, stop_step: int | None = None,
                    around: Callable[[int], Any] | None = None) -> dict[str, Any]:
        """Train this epoch and return its metrics row. ``stop_step``: train only the steps
        before it (0-based within the epoch); ``around(i)``: a context manager to run step
        ``i`` in (what :mod:`fxsim.tracing` uses to trace one step)."""
        from reference_nets.datasets import batches

        cfg = self.config
        class_group, easy = self.class_groups()
        losses, correct, seen, easy_samples = 0.0, 0, 0, 0
        lr = cfg.lr
        for i, index in enumerate(batches(len(self.dataset.train_y), cfg.batch, seed=cfg.seed,
                                          epoch=self.epoch)):
            if stop_step is not None and i >= stop_step:
                break
            xs, ys, ctx = self.batch(i, index, class_group)
            y = np.concatenate(ys)
            lr = self.schedule.lr_at(self.epoch, i, self.steps_per_epoch)
            with contextlib.nullcontext() if around is None else around(i):
                loss, pred = self.step(xs, ys, ctx, lr, i)
            if self.difficulty is not None:
                self.difficulty.record(y, pred)
                easy_samples += sum(len(part) for part, g in
                                    zip(ys, ctx.part_groups, strict=True)
                                    if g == self.easy_group)
            losses += loss * len(y)
            correct += int((pred == y).sum())
            seen += len(y)
            if progress is not None:
                progress({"phase": "train", "epoch": self.epoch + 1, "epochs": cfg.epochs,
                          "step": i + 1, "steps": self.steps_per_epoch,
                          "loss": losses / seen, "acc": correct / seen})
        row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": losses / max(seen, 1),
               "train_acc": correct / max(seen, 1)}
        if easy is not None:
            row["easy_classes"] = " ".join(str(c) for c in np.flatnonzero(easy)) or "-"
            row["easy_share"] = easy_samples / max(seen, 1)
        return row

    def step(self, xs: list, ys: list, ctx: Context, lr: float, i: int) -> tuple[float, Any]:
        """One training step (forward, backward, update); raises :class:`Diverged` on NaN/inf."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                loss, pred = self.network.train_step(xs, ys, ctx)
            except NonFiniteError as error:
                raise Diverged(self.epoch + 1, i + 1, error.layer, error.role, error.detail,
                               self.epoch) from None
            if not math.isfinite(loss):
                raise Diverged(self.epoch + 1, i + 1, "loss", "loss",
                               f"the loss is {loss}", self.epoch)
            self.optimizer.step(lr, self.config.seed, ctx.step)
        return loss, pred

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
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
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
        """This epoch's per-quantizer and per-accumulator columns; appends its histograms."""
        row: dict[str, Any] = {}
        counts = []
        for where, q in self.network.quantizers.items():
            taken = q.take_epoch_stats()
            for key, value in taken["stats"].items():
                row[f"{where}.{key}"] = value
            if q.histogram:
                counts.append(taken["histogram"])
        if self.hist_names:
            self.hist_counts = np.concatenate([self.hist_counts, np.array(counts)[None]])
        for where, (sums, overflows, events) in self.network.take_accumulator_stats().items():
            row[f"{where}.sat_rate"] = overflows / sums if sums else 0.0
            row[f"{where}.overflows"] = overflows
            row[f"{where}.events"] = events
        return row

    def summary(self, status: str | None = None, **extra: Any) -> dict[str, Any]:
        last = self.rows[-1] if self.rows else {}
        finished = self.epoch >= self.config.epochs
        return {
            "net": self.config.net, "policy": self.policy.name,
            "epochs_done": self.epoch, "finished": finished and status is None,
            "status": status or ("finished" if finished else "partial"),
            "test_acc": last.get("test_acc"), "train_acc": last.get("train_acc"),
            "test_loss": last.get("test_loss"),
            "weights_sha256": self.network.weights_sha256(),
            "state_sha256": self.network.state_sha256(),
            "wall_time_s": self.elapsed, "config": self.config.to_dict(),
            "versions": versions(source=self.source), **extra,
        }

    def run(self, progress: Callable | None = None, stop_after: int | None = None) -> Run:
        """Train the remaining epochs (all, or up to epoch ``stop_after``). Ctrl-C raises
        :class:`Interrupted`; a non-finite value :class:`Diverged` (after writing the
        summary)."""
        cfg = self.config
        for note in self.notes:
            if progress is not None:
                progress({"phase": "note", "message": note})
        last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
        try:
            while self.epoch < last:
                self._run_epoch(progress)
        except KeyboardInterrupt:
            raise Interrupted(self.out, self.saved, self.saved + 1) from None
        except Diverged as error:
            write_summary(self.out, self.summary("diverged", diverged={
                "epoch": error.epoch, "step": error.step, "layer": error.layer,
                "role": error.role, "message": str(error)}))
            raise
        return Run(self.out, pd.DataFrame(self.rows), self.summary())

    def _run_epoch(self, progress: Callable | None) -> None:
        started = time.perf_counter()
        row = self.train_epoch(progress)
        if progress is not None:
            progress({"phase": "eval", "epoch": self.epoch + 1, "epochs": self.config.epochs})
        row.update(self.evaluate())
        self.elapsed += time.perf_counter() - started
        row["wall_time_s"] = self.elapsed
        row.update(self.quantizer_columns())
        self.rows.append(row)
        self.epoch += 1
        checkpoint = self._checkpoint()
        checkpoint.save(self.out)  # first: it holds every row the files below derive from
        self.saved = self.epoch
        write_records(self.out, checkpoint, self.summary())
        if progress is not None:
            progress({"phase": "epoch", **{k: row[k] for k in
                                           ("epoch", "train_loss", "train_acc", "test_acc")},
                      "epochs": self.config.epochs})
            message = accumulator_warning(row)
            if message is not None:
                progress({"phase": "warning", "message": message})


def train(config: TrainConfig, out: str | Path, resume: bool = False,
          progress: Callable | None = None, stop_after: int | None = None) -> Run:
    """Run (or, with ``resume``, continue) the training described by ``config`` into ``out``.

    Parameters
    ----------
    config : TrainConfig
        The run's settings.
    out : str or pathlib.Path
        The run folder (its files: :mod:`fxsim.training`).
    resume : bool, default False
        Continue from ``out``'s checkpoint, exactly as an uninterrupted run would.
    progress : callable or None, default None
        Gets a dict per batch (``phase="train"``: epoch, step, loss, acc...), before each
        evaluation (``"eval"``), per epoch (``"epoch"``: train_loss, train_acc, test_acc), and
        ``"note"`` / ``"warning"`` events with a ``message`` (a restart, an extension, an
        accumulator overflowing in more than 1% of its sums).
    stop_after : int or None, default None
        Stop after this epoch (as an interruption would).

    Returns
    -------
    Run
        The run folder, the metrics and the summary.

    Raises
    ------
    FileExistsError, FileNotFoundError, ValueError
        ``out`` holds a run and ``resume`` is False; ``resume`` where no run was started; a
        bad setting, a policy that does not fit the net, or a resume with other settings.
    Diverged
        A non-finite value appeared (a FloatingPointError naming the epoch, step, layer and
        role); the last good checkpoint is kept and ``summary.json`` says ``diverged``.
    Interrupted
        Ctrl-C (a KeyboardInterrupt saying how many epochs are saved).
    """
    trainer = Trainer(config, out)
    trainer.start(resume)
    return trainer.run(progress, stop_after)
