"""Trace files: ``trace.json`` (the index), ``trace.npz`` (the tensors) and ``hex/*.hex`` (the
same tensors as ``$readmemh`` words). The format is documented in docs/trace-format.md."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from fxsim.io import write_atomic
from fxsim.layers.tracing import TracedTensor, TraceEvent

FORMAT_NAME = "fxsim-trace"
FORMAT_VERSION = 1


def event_id(seq: int, event: TraceEvent) -> str:
    """``NNNN_<kind>_<layer>_<label>[_p<part>]``: the label is the role of quantizer and
    straight-through events, the phase of MAC products, the parameter of updates."""
    if event.kind == "mac":
        label = event.phase
    elif event.kind == "update":
        label = event.fields.get("label", "param")
    else:
        label = event.role
    part = f"_p{event.part}" if event.part else ""
    return f"{seq:04d}_{event.kind}_{event.layer}_{label}{part}"


def hex_words(tensor: TracedTensor) -> str:
    """One word per line: the element in two's complement reduced to ``bits`` bits, as
    ``ceil(bits / 4)`` lower-case hex digits (float64: the IEEE-754 bit pattern), C order."""
    array = tensor.array.reshape(-1)
    digits = -(-tensor.bits // 4)
    if array.dtype == np.bool_:
        words = array.astype(np.uint64)
    elif tensor.float64 or tensor.bits == 64:
        words = np.ascontiguousarray(array).view(np.uint64)
    else:
        words = array.astype(np.int64) & np.int64((1 << tensor.bits) - 1)
    return "".join(f"{w:0{digits}x}\n" for w in words.tolist())


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_trace(events: list[TraceEvent], folder: Path, run: dict[str, Any],
               hex_files: bool = True) -> Path:
    """Write the events into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    index, arrays = [], {}
    for seq, event in enumerate(events):
        eid = event_id(seq, event)
        tensors = {}
        for name, tensor in event.tensors.items():
            key = f"{eid}/{name}"
            arrays[key] = tensor.array
            entry = {**tensor.meta(), "npz": key}
            if hex_files:
                entry["hex"] = f"hex/{eid}.{name}.hex"
                write_atomic(folder / entry["hex"], hex_words(tensor))
            tensors[name] = entry
        index.append({"id": eid, "kind": event.kind, "layer": event.layer, "role": event.role,
                      "phase": event.phase, "step": event.step, "training": event.training,
                      "part": event.part, "group": event.group, **_plain(event.fields),
                      "tensors": tensors})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(folder / "trace.npz", buffer.getvalue())
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "run": _plain(run),
                "events": index}
    write_atomic(folder / "trace.json", json.dumps(document, indent=1) + "\n")
    return folder


def load_trace(folder: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(run, events)`` of a saved trace: each event is its ``trace.json`` entry with
    ``arrays`` added (tensor name -> numpy array from ``trace.npz``)."""
    folder = Path(folder)
    document = json.loads((folder / "trace.json").read_text())
    if document.get("format") != FORMAT_NAME:
        raise ValueError(f"{folder / 'trace.json'} is not an fxsim trace")
    with np.load(folder / "trace.npz", allow_pickle=False) as data:
        for event in document["events"]:
            event["arrays"] = {name: data[meta["npz"]]
                               for name, meta in event["tensors"].items()}
    return document["run"], document["events"]
