"""A run's settings (:class:`TrainConfig`), how ``--resume`` reads them back, and how a run ends
other than by finishing (:class:`Interrupted`, :class:`Diverged`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fxsim.layers.base import check_seed
from fxsim.numeric.formats import check_int
from fxsim.training.optim import check_schedule


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on. ``data=None`` takes the net's own dataset; ``augment=None``
    augments CIFAR data only (random crop with padding 4 and horizontal flip);
    ``extended_from``: the epoch counts the run had before ``--epochs`` extended it (see
    :class:`~fxsim.training.optim.Schedule`). Every value is checked here, before anything is
    trained or written."""

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
    extended_from: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch", 1), ("eval_batch", 1), ("warmup_epochs", 0)):
            check_int(name, getattr(self, name), low)
        check_seed(self.seed)
        if self.limit is not None:
            check_int("limit", self.limit, 1)
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not (math.isfinite(value) and 0 <= value < 1):
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        check_schedule(self.schedule, self.lr, self.epochs, self.milestones, self.warmup_epochs,
                       self.extended_from)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        data["milestones"] = list(self.milestones)
        if self.extended_from:
            data["extended_from"] = list(self.extended_from)
        else:
            del data["extended_from"]
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
        data["extended_from"] = tuple(data.get("extended_from", ()))
        return cls(**data)

    def extended_to(self, epochs: int) -> TrainConfig:
        """This run with ``epochs`` epochs in all: itself if unchanged; a longer run records
        its present count in ``extended_from``; a shorter one is refused."""
        check_int("epochs", epochs, 1)
        if epochs == self.epochs:
            return self
        if epochs < self.epochs:
            raise ValueError(f"--epochs {epochs} is below the run's {self.epochs} epochs: a run "
                             "can be extended, not shortened")
        return replace(self, epochs=epochs, extended_from=(*self.extended_from, self.epochs))

    def is_extension_of(self, saved: dict[str, Any]) -> bool:
        """Whether this config is the run ``saved`` (a :meth:`to_dict`) extended to more
        epochs."""
        try:
            base = TrainConfig.from_dict(saved)
        except (TypeError, ValueError):
            return False
        return self.epochs > base.epochs and self == base.extended_to(self.epochs)


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C): ``epochs_done`` epochs are saved in ``out`` (0: none,
    only the settings), ``epoch`` is the one that was running (1-based)."""

    def __init__(self, out: Path, epochs_done: int, epoch: int) -> None:
        super().__init__(f"interrupted in epoch {epoch}")
        self.out, self.epochs_done, self.epoch = out, epochs_done, epoch


class Diverged(FloatingPointError):
    """Training produced a non-finite value: at ``epoch`` (1-based), ``step`` (1-based within
    the epoch), in ``layer`` and ``role`` (``loss`` for the loss). The run folder keeps the
    last good checkpoint (``epochs_done`` epochs) and its summary says ``diverged``."""

    def __init__(self, epoch: int, step: int, layer: str, role: str, detail: str,
                 epochs_done: int) -> None:
        self.epoch, self.step, self.layer, self.role = epoch, step, layer, role
        self.epochs_done = epochs_done
        kept = (f"the checkpoint of epoch {epochs_done} is kept" if epochs_done else
                "no epoch had finished")
        super().__init__(f"training diverged at epoch {epoch}, step {step}: the first "
                         f"non-finite value appeared in layer {layer!r}, role {role!r} "
                         f"({detail}); {kept}; lower --lr or widen the formats")


def resume_config(out: str | Path, given: dict[str, Any] | None = None) -> TrainConfig:
    """The config to resume the run in ``out`` with: its own ``config.toml``, extended to
    ``given["epochs"]`` if that is larger. Any other setting in ``given`` (what a user typed)
    must equal the saved one: a ValueError names each that differs."""
    from fxsim.training.runfolder import read_config

    saved = TrainConfig.from_dict(read_config(Path(out)))
    given = dict(given or {})
    epochs = given.pop("epochs", None)
    saved_dict = saved.to_dict()
    differ = [f"{k} (the run has {saved_dict.get(k)!r}, given {v!r})"
              for k, v in given.items()
              if (list(v) if isinstance(v, tuple) else v) != saved_dict.get(k)]
    if differ:
        raise ValueError(f"--resume: {out} was made with other settings: {'; '.join(differ)}. "
                         "Resume with `--out DIR --resume` alone (plus --epochs N to extend), "
                         "or start a new run")
    return saved if epochs is None else saved.extended_to(epochs)
