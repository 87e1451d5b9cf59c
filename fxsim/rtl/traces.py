"""Co-simulation on a real run's tensors: the events of an ``fxsim trace`` folder.

A trace folder (docs/trace-format.md: ``trace.json`` and ``trace.npz``) holds, per event, the
integer tensors of one training step. Each ``requantize`` event becomes a requantizer (or, with
a real step's multiplier ``M != 1``, a rescale) of exactly the event's widths, shift, rounding,
random source, clip and overflow, fed the event's input codes ``x`` in their flat order (which is
also the random words' element order); each ``mac`` event of a ``linear`` or forward ``conv2d``
product becomes a MAC fed the products of up to ``max_outputs`` outputs in the documented
accumulation order (input channel, kernel row, kernel column; padding adds nothing). The unit is
compared with fxsim's kernels as for any vectors, and its outputs with the event's own output
tensor (``q``, ``acc``): what the run computed. Other events (``quantize`` from float64, the
backward products, biases, updates) are listed as skipped with the reason.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fxsim.numeric.lfsr import RandomSource
from fxsim.rtl.golden import Check
from fxsim.rtl.spec import MacSpec, RequantSpec, RescaleSpec, UnitSpec, code_range

TRACE_FORMAT = "fxsim-trace"


@dataclass
class TraceCase:
    """One event as a co-simulation: the unit, its input rows, the keys of its random integers,
    and a check against the event's recorded output."""

    event: str
    spec: UnitSpec
    inputs: dict[str, np.ndarray]
    seed: int
    stream: int
    source: RandomSource | None
    check: Check


def read_trace(folder: str | Path) -> list[dict]:
    """The events of a trace folder, each with ``arrays`` (tensor name -> numpy array)."""
    folder = Path(folder)
    index = folder / "trace.json"
    if not index.exists():
        raise FileNotFoundError(f"{folder} is not a trace folder (no trace.json; write one with "
                                "fxsim trace)")
    document = json.loads(index.read_text())
    if document.get("format") != TRACE_FORMAT:
        raise ValueError(f"{index} is not an fxsim trace (format {document.get('format')!r})")
    with np.load(folder / "trace.npz", allow_pickle=False) as data:
        for event in document["events"]:
            event["arrays"] = {name: data[meta["npz"]] for name, meta in event["tensors"].items()}
    return document["events"]


def _same_output(what: str, port: str, rows: np.ndarray, recorded: np.ndarray,
                 width: int) -> Check:
    mask = (1 << width) - 1

    def verify(outputs):
        got = [int(v) & mask if v is not None else None for v in outputs[port][rows]]
        want = [int(v) & mask for v in recorded]
        bad = sum(1 for g, w in zip(got, want, strict=True) if g != w)
        return None if not bad else f"{what}: {bad} of {len(want)} elements differ"

    return Check(what, verify)


def _source(event: dict) -> RandomSource | None:
    random = event.get("random")
    return None if not random else RandomSource(random["kind"], random["width"], random["lanes"])


def requantize_case(event: dict) -> TraceCase:
    """The requantizer (or rescale) of a ``requantize`` event."""
    x, q = event["tensors"]["x"], event["tensors"]["q"]
    lo, hi = code_range(q["bits"], q["signed"])
    keys = dict(in_bits=x["bits"], in_signed=x["signed"], out_bits=q["bits"],
                out_signed=q["signed"], rounding=event["rounding"], shift=event["shift"],
                overflow=event["overflow"])
    if event["rounding"] == "stochastic_k":
        keys["k"] = event["random_bits"]
    if event["overflow"] == "saturate" and (event["code_min"], event["code_max"]) != (lo, hi):
        keys.update(clip_lo=event["code_min"], clip_hi=event["code_max"])
    if event["multiplier"] == 1:
        spec: UnitSpec = RequantSpec(**keys)
    else:
        spec = RescaleSpec(m=event["multiplier_bits"], multiplier=event["multiplier"], **keys)
    codes = event["arrays"]["x"].reshape(-1).astype(np.int64)
    recorded = event["arrays"]["q"].reshape(-1)
    check = _same_output(f"{event['id']}: the run's q", "y", np.arange(codes.size), recorded,
                         q["bits"])
    return TraceCase(event["id"], spec, {"x": codes}, event.get("seed") or 0, event["stream"],
                     _source(event), check)


def _conv_products(a: np.ndarray, b: np.ndarray, geometry: dict, n: int, o: int, oh: int,
                   ow: int) -> Iterator[tuple[int, int]]:
    """The products of forward conv output ``(n, o, oh, ow)`` in accumulation order."""
    (sh, sw), (ph, pw), (dh, dw) = geometry["stride"], geometry["padding"], geometry["dilation"]
    cg, kh, kw = b.shape[1:]
    c0 = (o // (b.shape[0] // geometry["groups"])) * cg
    for ci in range(cg):
        for ki in range(kh):
            ih = oh * sh - ph + ki * dh
            if not 0 <= ih < a.shape[2]:
                continue
            for kj in range(kw):
                iw = ow * sw - pw + kj * dw
                if 0 <= iw < a.shape[3]:
                    yield int(a[n, c0 + ci, ih, iw]), int(b[o, ci, ki, kj])


def mac_case(event: dict, max_outputs: int) -> TraceCase:
    """The MAC of a ``linear`` or forward ``conv2d`` event, on its first ``max_outputs``
    outputs (C order)."""
    t, arrays = event["tensors"], event["arrays"]
    a, b, acc = arrays["a"], arrays["b"], arrays["acc"]
    acc_bits = event["acc_bits"] or t["acc"]["bits"]
    spec = MacSpec(a=t["a"]["bits"], b=t["b"]["bits"], a_signed=t["a"]["signed"],
                   b_signed=t["b"]["signed"], acc=acc_bits,
                   overflow=event["acc_overflow"] if event["acc_bits"] else "wrap")
    rows: dict[str, list[int]] = {"en": [], "first": [], "a": [], "b": []}
    shown = []
    for index in range(min(acc.size, max_outputs)):
        where = np.unravel_index(index, acc.shape)
        if event["op"] == "linear":
            products = [(int(x), int(w)) for x, w in zip(a[where[0]], b[where[1]], strict=True)]
        else:
            products = list(_conv_products(a, b, event["geometry"], *map(int, where)))
        for j, (x, w) in enumerate(products):
            for name, value in (("en", 1), ("first", int(j == 0)), ("a", x), ("b", w)):
                rows[name].append(value)
        shown.append(len(rows["en"]))  # the result shows on the row after its last product
    for name in rows:
        rows[name].append(0)
    recorded = acc.reshape(-1)[:len(shown)]
    check = _same_output(f"{event['id']}: the run's acc", "acc", np.array(shown), recorded,
                         acc_bits)
    inputs = {name: np.array(values, dtype=np.int64) for name, values in rows.items()}
    return TraceCase(event["id"], spec, inputs, 0, 0, None, check)


def trace_cases(folder: str | Path, pattern: str = "*",
                max_outputs: int = 2000) -> tuple[list[TraceCase], list[str]]:
    """The co-simulations of the events of ``folder`` whose id matches ``pattern`` (a shell
    pattern), and the skipped events with the reason."""
    cases, skipped = [], []
    for event in read_trace(folder):
        if not fnmatch.fnmatch(event["id"], pattern):
            continue
        kind = event["kind"]
        try:
            if kind == "requantize":
                cases.append(requantize_case(event))
            elif kind == "mac" and event["op"] in ("linear", "conv2d"):
                cases.append(mac_case(event, max_outputs))
            else:
                reason = ("no RTL unit (float64 input)" if kind == "quantize"
                          else "not a unit of fxsim.rtl" if kind != "mac"
                          else f"op {event['op']}: only linear and forward conv2d are fed")
                skipped.append(f"{event['id']}: {reason}")
        except ValueError as error:
            skipped.append(f"{event['id']}: {error}")
    return cases, skipped
