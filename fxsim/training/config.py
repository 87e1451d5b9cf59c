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
    """Everything a run depends on, besides the data files: a run is a pure function of it.

    Every value is checked here (ValueError naming it), before anything is trained or
    written: counts, ``seed``, ``limit``, ``momentum`` and ``weight_decay`` in [0, 1), the
    schedule (:func:`~fxsim.training.optim.check_schedule`).

    Parameters
    ----------
    net : str, default "digits_cnn"
        A reference net: ``digits_cnn``, ``mnist_cnn``, ``resnet20``/``32``/``56``, ``vgg_small``.
    data, data_dir : str or None, default None
        Dataset: ``digits``, ``mnist``, ``mnist5k``, ``cifar10``, ``cifar100`` or ``random``
        (None: the net's own); the folder of the mnist and CIFAR files (others ignore it).
    policy : str, default "int8"
        A shipped policy's name or a TOML path (:meth:`fxsim.policy.Policy.load`).
    epochs, batch : int, default 5 and 32
        Passes over the training set (>= 1); training images per step (>= 1; an epoch's last
        step takes the rest).
    lr : float, default 0.05
        Learning rate (finite, > 0): the schedule's peak.
    momentum, weight_decay : float, default 0.9 and 5e-4
        Of SGD (:mod:`fxsim.training.optim`), each in [0, 1); linear biases do not decay.
    schedule : {"cosine", "constant", "step"}, default "cosine"
        Per step: ``cosine`` from ``lr`` to 0 over all steps, ``constant``, or ``step``: 0.1x
        per milestone passed.
    milestones : tuple of int, default ()
        The ``step`` schedule's epochs, counted from 0: ``(80,)`` decays from the 81st epoch;
        increasing, in ``1..epochs-1`` (needed by ``step``, refused with another schedule).
    warmup_epochs : int, default 0
        Epochs (>= 0) of linear warm-up first, from ``lr / n`` to ``lr`` over its ``n`` steps.
    seed : int, default 0
        0..2**64-1: keys split, batch order, augmentation, initial weights, stochastic rounding.
    limit : int or None, default None
        Keep the first ``limit`` (>= 1) train and test images after the seeded shuffle.
    augment : bool or None, default None
        Random crop (padding 4) and horizontal flip of training images; None: CIFAR only.
    eval_batch : int, default 500
        Test images per evaluation batch, >= 1.
    extended_from : tuple of int, default ()
        The epoch counts this run had before ``--epochs`` extended it (increasing, below
        ``epochs``): an epoch is trained with the cosine schedule of the count in force when it
        ran (:class:`~fxsim.training.optim.Schedule`).
    extra : dict, default {}
        Free-form settings written to ``config.toml`` (and compared on resume); unused here.
    """

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
    must equal the saved one: a ValueError names each that differs. A run whose policy file
    is gone (the folder was moved, or mounted elsewhere) resumes with the policy it recorded,
    ``out/policy.toml``."""
    from fxsim.training.runfolder import POLICY, read_config

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
    recorded = Path(out) / POLICY
    if saved.policy.endswith(".toml") and not Path(saved.policy).is_file() and recorded.is_file():
        saved = replace(saved, policy=str(recorded))
    return saved if epochs is None else saved.extended_to(epochs)
