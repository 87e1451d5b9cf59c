"""Rebuild the state of a run folder before one of its training steps, and trace that step."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fxsim.training.loop import Trainer, resume_config
from fxsim.training.runfolder import CHECKPOINT, Checkpoint


def replay_step(run: Path, step: int, layers: Iterable[str] | None,
                roles: Iterable[str] | None, kinds: Iterable[str] | None):
    """See :func:`fxsim.tracing.trace_run`."""
    from fxsim.tracing import Trace, trace

    config = resume_config(run)
    with tempfile.TemporaryDirectory() as scratch:  # the trainer writes nothing here
        trainer = Trainer(config, scratch)
        total = trainer.steps_per_epoch * config.epochs
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < total:
            raise ValueError(f"--step must be a training step of the run, 0..{total - 1} "
                             f"({config.epochs} epochs of {trainer.steps_per_epoch} steps); "
                             f"got {step!r}")
        epoch, within = divmod(step, trainer.steps_per_epoch)
        checkpoint = run / CHECKPOINT
        if checkpoint.is_file():
            saved = Checkpoint.load(run)
            if saved.epoch <= epoch:
                trainer._load_checkpoint(run, saved, write=False)
        while trainer.epoch < epoch:
            trainer.train_epoch(None)
            trainer.network.take_accumulator_stats()
            trainer.epoch += 1
        recorded = []

        def around(i: int):
            if i != within:
                return contextlib.nullcontext()
            block = trace(layers, roles, [step], kinds)
            recorded.append(block)
            return _Entered(block, recorded)

        trainer.train_epoch(None, stop_step=within + 1, around=around)
    info = {"folder": str(run), "config": config.to_dict(), "seed": config.seed,
            "steps_per_epoch": trainer.steps_per_epoch, "epoch": epoch + 1,
            "step_in_epoch": within, "fxsim_source": trainer.source}
    return Trace(recorded[-1]._recorder, info)


class _Entered:
    """Enter a :func:`fxsim.tracing.trace` block, keeping the Trace it yields in ``found``."""

    def __init__(self, block, found: list) -> None:
        self.block, self.found = block, found

    def __enter__(self):
        self.found[-1] = self.block.__enter__()
        return self.found[-1]

    def __exit__(self, *exc):
        return self.block.__exit__(*exc)
