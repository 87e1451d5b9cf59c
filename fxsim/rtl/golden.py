"""Expected outputs of the RTL units, computed by fxsim's own kernels.

The golden model of every unit is the simulator itself: :func:`fxsim.requantize` for the
requantizer and the real-step rescale, :mod:`fxsim.ops` with an :class:`fxsim.Accumulator` for
the MAC, the range rules of :mod:`fxsim.ranges` for the statistics units and the simulator's
random source for the LFSR. Nothing here re-implements a rounding.

What fxsim reports only in aggregate (``stats.saturated``, ``AccStats.events``) is compared in
aggregate (:class:`Check`): the sum of the unit's per-vector flags must equal it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import fxsim
from fxsim.numeric import lfsr
from fxsim.numeric.lfsr import RandomSource
from fxsim.numeric.rng import random_word_py, stream_key
from fxsim.rtl.spec import RescaleSpec, UnitSpec

WIDE = fxsim.QFormat(62, 0)


@dataclass
class Check:
    """A comparison beyond per-vector equality: ``verify(outputs)`` returns None when it holds,
    else a message saying what differs."""

    what: str
    verify: Callable[[dict[str, np.ndarray]], str | None]


@dataclass
class Expected:
    """Expected output per port and row (``None``: not compared on that row), inputs that the
    golden model supplies (the random integers ``r``), and aggregate :class:`Check` s."""

    outputs: dict[str, np.ndarray]
    derived: dict[str, np.ndarray] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)


def empty(rows: int) -> np.ndarray:
    return np.full(rows, None, dtype=object)


def total_check(what: str, port: str, rows: np.ndarray, expected: int,
                absolute: bool = False) -> Check:
    """The sum of ``port`` (absolute values if ``absolute``) over ``rows`` equals ``expected``."""

    def verify(outputs):
        values = [int(v) for v in outputs[port][rows]]
        got = sum(abs(v) for v in values) if absolute else sum(values)
        return None if got == expected else f"{what}: fxsim {expected}, RTL {got}"

    return Check(what, verify)


def random_ints(seed: int, stream: int, count: int, k: int,
                source: RandomSource | None = None) -> np.ndarray:
    """The random integers fxsim's stochastic rounding draws for elements ``0..count-1`` of a
    call keyed by ``(seed, stream)``: the top ``k`` bits of each counter-based word, or of the
    LFSR ``source``'s words."""
    if source is not None:
        from fxsim.numeric._lfsr_kernels import lfsr_words

        return np.array([int(w) >> (64 - k) for w in lfsr_words(count, k, source, seed, stream)],
                        dtype=object)
    key = stream_key(seed, stream)
    return np.array([random_word_py(key, j) >> (64 - k) for j in range(count)], dtype=object)


def _requantize(spec, codes: np.ndarray, shift: int, mult: int | None, out: fxsim.QFormat,
                overflow: str, seed: int, stream: int, clip,
                source: RandomSource | None = None) -> fxsim.FxArray:
    """fxsim's requantize of ``codes`` by ``shift`` (after the multiplier ``mult``)."""
    k = spec.k if spec.rounding == "stochastic_k" else None
    if mult is None:
        q = fxsim.FxArray(codes, fxsim.QFormat(spec.in_bits, shift, spec.in_signed))
        return fxsim.requantize(q, out, spec.rounding, overflow, seed, random_bits=k,
                                stream=stream, clip=clip, random_source=source)
    ratio = math.ldexp(mult, -shift)
    if fxsim.fixed_point_multiplier(ratio, spec.m) != (mult, shift):
        raise AssertionError(f"internal error: fxsim's multiplier of {ratio!r} is not "
                             f"({mult}, {shift})")
    q = fxsim.FxArray(codes, fxsim.QFormat(spec.in_bits, 0, spec.in_signed), step=ratio)
    return fxsim.requantize(q, out, spec.rounding, overflow, seed, random_bits=k,
                            stream=stream, step=1.0, multiplier_bits=spec.m, clip=clip,
                            random_source=source)


def _row_shifts(spec, inputs: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """Each row's shift: the ``shift`` input of a runtime shift, else the spec's fixed one."""
    if spec.runtime_shift:
        return np.asarray(inputs["shift"], dtype=np.int64)
    return np.full(rows, spec.shift, dtype=np.int64)


def _output(spec) -> tuple[int, int, fxsim.QFormat, tuple[int, int] | None]:
    """``(lo, hi, out_fmt, clip)``: the output range, its format and the clip bounds a
    requantize call takes (None when the spec sets neither clip_lo nor clip_hi)."""
    lo, hi = spec.out_range
    clip = None if (spec.clip_lo, spec.clip_hi) == (None, None) else (lo, hi)
    return lo, hi, fxsim.QFormat(spec.out_bits, 0, spec.out_signed), clip


def requant_golden(spec, inputs: dict[str, np.ndarray], seed: int, stream: int,
                   source: RandomSource | None = None) -> Expected:
    """Requantizer and rescale: vectors are grouped by (shift, multiplier); each group is one
    :func:`fxsim.requantize` call keyed by ``(seed, stream + group)``, whose random integers
    become the input ``r``. ``ovf`` per vector comes from a second call into a 62-bit format
    (the rounded value before fitting) where that format holds the bounds with a margin; the
    count of ``ovf`` per group must equal fxsim's ``stats.saturated`` / ``stats.wrapped``.
    ``source``: the LFSR source the call draws its random integers from (None: the counter
    generator)."""
    x = np.asarray(inputs["x"], dtype=np.int64)
    rows = x.size
    shift = _row_shifts(spec, inputs, rows)
    rescale = isinstance(spec, RescaleSpec)
    if rescale:
        mult = (np.asarray(inputs["mult"], dtype=np.int64) if spec.multiplier == "runtime"
                else np.full(rows, spec.multiplier, dtype=np.int64))
    else:
        mult = np.zeros(rows, dtype=np.int64)
    lo, hi, out_fmt, clip = _output(spec)
    wide_ok = lo - 1 >= WIDE.min_code and hi + 1 <= WIDE.max_code
    y, ovf, r = empty(rows), empty(rows), np.zeros(rows, dtype=object)
    checks = []
    keys = np.stack([shift, mult], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    for g, (s, m) in enumerate(groups.tolist()):
        idx = np.flatnonzero(inverse.reshape(-1) == g)
        m_arg = m if rescale else None
        result = _requantize(spec, x[idx], s, m_arg, out_fmt, spec.overflow, seed, stream + g,
                             clip, source)
        y[idx] = result.raw.astype(np.int64).tolist()
        if spec.k:
            r[idx] = random_ints(seed, stream + g, idx.size, spec.k, source)
        if wide_ok:
            wide = _requantize(spec, x[idx], s, m_arg, WIDE, "saturate", seed, stream + g, None,
                               source)
            ovf[idx] = ((wide.raw < lo) | (wide.raw > hi)).astype(np.int64).tolist()
        stats = result.stats
        label = f"shift {s}" + (f", multiplier {m}" if rescale else "")
        checks.append(total_check(f"vectors out of range with {label} (fxsim stats."
                                  f"{'wrapped' if spec.overflow == 'wrap' else 'saturated'})",
                                  "ovf", idx, stats.saturated + stats.wrapped))
    derived = {"r": r} if spec.k else {}
    return Expected({"y": y, "ovf": ovf}, derived, checks)


def requant_lfsr_golden(spec, inputs: dict[str, np.ndarray], seed: int,
                        stream: int) -> Expected:
    """A requantizer fed by its own LFSR (``random=lfsr``): each ``load`` row starts a tensor,
    the ``en`` rows up to the next load are its elements (one shift for all). Tensor ``g`` is
    one :func:`fxsim.requantize` call with ``random_source=RandomSource("lfsr", width, 1)`` keyed
    by ``(seed, stream + g)``; the load row's ``seed`` is that source's seed
    (:func:`fxsim.numeric.lfsr.seed_state`), so the unit's LFSR runs the simulator's sequence."""
    load = np.asarray(inputs["load"], dtype=np.int64)
    en = np.asarray(inputs["en"], dtype=np.int64)
    x = np.asarray(inputs["x"], dtype=np.int64)
    rows = x.size
    shift = _row_shifts(spec, inputs, rows)
    source = RandomSource("lfsr", spec.lfsr_width, 1)
    lo, hi, out_fmt, clip = _output(spec)
    y, ovf, seeds, checks = empty(rows), empty(rows), np.zeros(rows, dtype=object), []
    starts = np.flatnonzero(load)
    for g, begin in enumerate(starts.tolist()):
        end = starts[g + 1] if g + 1 < starts.size else rows
        idx = begin + 1 + np.flatnonzero(en[begin + 1:end])
        seeds[begin] = lfsr.seed_state(spec.lfsr_width, seed, stream + g, 0)
        if not idx.size:
            continue
        shifts = np.unique(shift[idx])
        if shifts.size != 1:
            raise ValueError(f"rows {begin + 1}..{end - 1}: one tensor (between two loads) "
                             f"must have one shift, got {shifts.tolist()}")
        s = int(shifts[0])
        result = _requantize(spec, x[idx], s, None, out_fmt, spec.overflow, seed, stream + g,
                             clip, source)
        wide = _requantize(spec, x[idx], s, None, WIDE, "saturate", seed, stream + g, None,
                           source)
        y[idx] = result.raw.astype(np.int64).tolist()
        ovf[idx] = ((wide.raw < lo) | (wide.raw > hi)).astype(np.int64).tolist()
        checks.append(total_check(f"tensor {g} out of range (fxsim stats)", "ovf", idx,
                                  result.stats.saturated + result.stats.wrapped))
    return Expected({"y": y, "ovf": ovf}, {"seed": seeds}, checks)


def golden(spec: UnitSpec, inputs: dict[str, np.ndarray], seed: int, stream: int = 0,
           source: RandomSource | None = None) -> Expected:
    """Expected outputs of ``spec`` on ``inputs`` (the rows of :mod:`fxsim.rtl.vectors`);
    ``source``: the LFSR source of a requantizer's random port (None: the counter generator)."""
    from fxsim.rtl import golden_seq

    if spec.kind == "requant" and spec.random == "lfsr":
        return requant_lfsr_golden(spec, inputs, seed, stream)
    if spec.kind in ("requant", "rescale"):
        return requant_golden(spec, inputs, seed, stream, source)
    if spec.kind == "mac":
        return golden_seq.mac_golden(spec, inputs)
    if spec.kind == "lfsr":
        return golden_seq.lfsr_golden(spec, inputs)
    return golden_seq.stat_golden(spec, inputs, seed)
