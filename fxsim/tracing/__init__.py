"""Traces of training steps: the integer tensors of every quantization, product, straight-through
mask and optimizer update, for co-simulation and independent re-computation.

``with fxsim.trace(layers=..., roles=..., steps=..., kinds=...) as t:`` around training steps
records the selected events (:class:`fxsim.layers.tracing.TraceEvent`) in ``t.events``;
``t.save(folder)`` writes them as NPZ, JSON and hex files (docs/trace-format.md).
:func:`trace_run` replays one step of a run folder and traces it (``fxsim trace RUN --step S``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fxsim.layers import tracing as _hooks
from fxsim.layers.tracing import EVENT_KINDS, Recorder, TracedTensor, TraceEvent
from fxsim.tracing.files import load_trace, save_trace

__all__ = ["EVENT_KINDS", "Trace", "TraceEvent", "TracedTensor", "load_trace", "trace",
           "trace_run"]


class Trace:
    """The events recorded by a :func:`trace` block, in the order they happened."""

    def __init__(self, recorder: Recorder, run: dict[str, Any] | None = None) -> None:
        self._recorder = recorder
        self.run = dict(run or {})

    @property
    def events(self) -> list[TraceEvent]:
        return self._recorder.events

    def select(self, kind: str | None = None, layer: str | None = None,
               role: str | None = None, phase: str | None = None) -> list[TraceEvent]:
        """The events matching every criterion given."""
        return [e for e in self.events
                if (kind is None or e.kind == kind) and (layer is None or e.layer == layer)
                and (role is None or e.role == role) and (phase is None or e.phase == phase)]

    def save(self, folder: str | Path, hex_files: bool = True) -> Path:
        """Write ``trace.json``, ``trace.npz`` and (``hex_files``) ``hex/*.hex`` into
        ``folder`` (docs/trace-format.md); returns the folder."""
        return save_trace(self.events, Path(folder), self.run, hex_files)


@contextlib.contextmanager
def trace(layers: Iterable[str] | None = None, roles: Iterable[str] | None = None,
          steps: Iterable[int] | None = None, kinds: Iterable[str] | None = None,
          evaluation: bool = False) -> Iterator[Trace]:
    """Record the events of the training steps run inside the block.

    Select by ``layers`` (names, or shell patterns such as ``"s1b*"``), ``roles``
    (``weights``, ``activations``, ``act_grads``, ``weight_grads``, ``bias_grads``,
    ``accumulator`` for MAC products, ``bias``, ``master`` for updates), ``steps`` (global
    training step indices) and ``kinds`` (:data:`EVENT_KINDS`); None records everything (a
    digits step is about a megabyte; a ResNet-20 step at batch 128 is gigabytes: select).
    ``evaluation``: also record evaluation passes. Blocks do not nest. Outside a block the
    hooks cost one global lookup each."""
    if _hooks.RECORDER is not None:
        raise RuntimeError("fxsim.trace blocks do not nest: one trace is already recording")
    recorder = Recorder(layers, roles, steps, kinds, evaluation)
    _hooks.RECORDER = recorder
    try:
        yield Trace(recorder)
    finally:
        _hooks.RECORDER = None


def trace_run(run: str | Path, step: int, layers: Iterable[str] | None = None,
              roles: Iterable[str] | None = None, kinds: Iterable[str] | None = None) -> Trace:
    """Replay training step ``step`` (global, 0-based) of the run folder ``run`` and trace it.

    The run is a pure function of its settings: the state before ``step`` is rebuilt from the
    run's last checkpoint when it is at or before the start of the step's epoch, else by
    training from the start (nothing is written to the run folder). Then the epoch's steps up
    to ``step`` run untraced and ``step`` itself (forward, backward, update) traced."""
    from fxsim.tracing.replay import replay_step

    if not (Path(run) / "config.toml").is_file():
        raise FileNotFoundError(f"{run} is not a run folder of fxsim train (it has no "
                                "config.toml): trace a folder that fxsim train wrote")
    return replay_step(Path(run), step, layers, roles, kinds)
