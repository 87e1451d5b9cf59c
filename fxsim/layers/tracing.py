"""Recording hooks for :mod:`fxsim.tracing`: what the quantizers, MAC layers and the optimizer
compute, reported to the active :class:`Recorder`.

``RECORDER`` is None unless a ``with fxsim.trace(...)`` block is running: then each hook costs
one global lookup. Events and their fields are documented in ``docs/trace-format.md`` (kinds
``quantize``, ``requantize``, ``mac``, ``bias``, ``ste``, ``update``); this module only builds
them (copies of the tensors, with their formats) and leaves files to :mod:`fxsim.tracing`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxsim.numeric.formats import FxArray

RECORDER: Recorder | None = None  # the active recorder (set by fxsim.tracing.trace)

EVENT_KINDS = ("quantize", "requantize", "mac", "bias", "ste", "update")
ROLE_PHASES = {"weights": "forward", "activations": "forward", "act_grads": "backward",
               "weight_grads": "backward_weight", "bias_grads": "backward_weight"}


@dataclass
class TracedTensor:
    """One tensor of an event: ``array`` (a copy: integer codes, float64 values, int64
    intermediates or a bool mask) and how to read it: a code ``q`` is worth ``q * 2**-frac``,
    or ``q * step`` when ``step`` is set; ``bits`` is the word width of its hex file."""

    array: np.ndarray
    bits: int
    signed: bool
    frac: int | None = None
    step: float | None = None
    float64: bool = False

    def meta(self) -> dict[str, Any]:
        return {"shape": list(self.array.shape), "size": int(self.array.size),
                "bits": self.bits, "signed": self.signed, "frac": self.frac, "step": self.step,
                "float64": self.float64}


@dataclass
class TraceEvent:
    """One recorded computation: ``kind`` (:data:`EVENT_KINDS`), where (``layer``, ``role``,
    ``phase``), when (``step``, ``training``, ``part`` and ``group`` of the batch), its scalar
    ``fields`` (JSON-able) and its ``tensors`` by name."""

    kind: str
    layer: str
    role: str
    phase: str
    step: int
    training: bool
    part: int
    group: int
    fields: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, TracedTensor] = field(default_factory=dict)


class Recorder:
    """Collects the events selected by ``layers`` (names or shell patterns such as
    ``"s1b*"``), ``roles``, ``steps`` (global training steps) and ``kinds``; None selects
    all. Evaluation passes are recorded only with ``evaluation=True``."""

    def __init__(self, layers: Iterable[str] | None = None, roles: Iterable[str] | None = None,
                 steps: Iterable[int] | None = None, kinds: Iterable[str] | None = None,
                 evaluation: bool = False) -> None:
        self.layers = None if layers is None else tuple(layers)
        self.roles = None if roles is None else frozenset(roles)
        self.steps = None if steps is None else frozenset(int(s) for s in steps)
        self.kinds = None if kinds is None else frozenset(kinds)
        unknown = sorted((self.kinds or frozenset()) - set(EVENT_KINDS))
        if unknown:
            raise ValueError(f"kinds: unknown event kind {unknown[0]!r}; allowed: "
                             f"{', '.join(EVENT_KINDS)}")
        self.evaluation = evaluation
        self.events: list[TraceEvent] = []

    def selects(self, kind: str, layer: str, role: str, step: int, training: bool) -> bool:
        return ((training or self.evaluation)
                and (self.kinds is None or kind in self.kinds)
                and (self.steps is None or step in self.steps)
                and (self.roles is None or role in self.roles)
                and (self.layers is None
                     or any(fnmatch.fnmatchcase(layer, p) for p in self.layers)))

    def add(self, event: TraceEvent) -> None:
        self.events.append(event)


def recorder_for(kind: str, layer: str, role: str, step: int, training: bool
                 ) -> Recorder | None:
    """The active recorder if it wants this event, else None."""
    rec = RECORDER
    if rec is None or not rec.selects(kind, layer, role, step, training):
        return None
    return rec


# ---- tensors ---------------------------------------------------------------------------------
def codes(x: FxArray) -> TracedTensor:
    """A code tensor with its format (int64 copy)."""
    return TracedTensor(np.array(x.raw, dtype=np.int64), x.fmt.bits, x.fmt.signed, x.fmt.frac,
                        x.step)


def values(x: np.ndarray) -> TracedTensor:
    """A float64 tensor (hex: the IEEE-754 bit patterns)."""
    return TracedTensor(np.array(x, dtype=np.float64), 64, True, float64=True)


def tensor(x: FxArray | np.ndarray) -> TracedTensor:
    """Codes or float64 values, whichever ``x`` holds."""
    return codes(x) if isinstance(x, FxArray) else values(x)


def wide(x: np.ndarray, frac: int | None = None) -> TracedTensor:
    """A signed int64 intermediate (64-bit words)."""
    return TracedTensor(np.array(x, dtype=np.int64), 64, True, frac)


def mask(m: np.ndarray) -> TracedTensor:
    """A bool mask (1-bit words)."""
    return TracedTensor(np.array(m, dtype=bool), 1, False)
