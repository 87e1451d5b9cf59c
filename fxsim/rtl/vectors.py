"""Test vectors for the RTL units: random inputs plus the edge cases that break rounding units.

:func:`make_inputs` draws, for a unit spec, ``count`` checked results' worth of input rows
(numpy int64 or Python-int object arrays, one entry per clock or per combinational vector):

* requantizer and rescale: uniform codes, codes of log-uniform magnitude, exact ties of the
  rounding (``q * 2**s + 2**(s-1)``) and their neighbours, the codes that round onto the
  saturation bounds and one past them, the largest and smallest codes, 0, +-1; shifts of 0, 1,
  the full width and beyond, and random ones (signed ports: left shifts too);
* MAC: reductions of 1 to 64 products of random, extreme and small codes (so that both narrow
  registers overflow and wide ones do not);
* LFSR: loads of documented and edge seeds (0, 1, all ones), leaps and holds;
* statistics: tensors of 1 to 40 codes, random, all zero, or at the extremes.

Expected outputs come from fxsim's kernels (:mod:`fxsim.rtl.golden`), never from here.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric import lfsr
from fxsim.rtl import spec as rtl_spec
from fxsim.rtl.spec import LfsrSpec, MacSpec, RequantSpec, RescaleSpec, StatSpec, UnitSpec


def random_codes(rng: np.random.Generator, n: int, bits: int, signed: bool) -> np.ndarray:
    """``n`` codes: a third uniform, a third of log-uniform magnitude, a third small or
    extreme (0, +-1, the range ends)."""
    lo, hi = rtl_spec.code_range(bits, signed)
    uniform = rng.integers(lo, hi, n, endpoint=True, dtype=np.int64)
    length = rng.integers(0, bits + 1, n)
    mags = np.array([int(rng.integers(0, 1 << int(b))) if b else 0 for b in length],
                    dtype=np.int64)
    signs = rng.choice([-1, 1], n) if signed else np.ones(n, dtype=np.int64)
    loguni = np.clip(mags * signs, lo, hi)
    extremes = rng.choice(np.array(sorted({lo, hi, 0, 1, min(max(-1, lo), hi), lo + 1, hi - 1}),
                                   dtype=np.int64), n)
    pick = rng.integers(0, 3, n)
    return np.where(pick == 0, uniform, np.where(pick == 1, loguni, extremes))


def _shift_values(spec, rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Runtime shifts: a quarter at 0, 1, the width and its neighbours; the rest uniform."""
    if not spec.runtime_shift:
        return np.full(n, spec.shift, dtype=np.int64)
    sw = spec.shift_bits
    lo, hi = (-(1 << (sw - 1)), (1 << (sw - 1)) - 1) if spec.signed_shift else (0, (1 << sw) - 1)
    special = np.array(sorted({v for v in (0, 1, 2, width - 1, width, width + 1, hi, lo, -1)
                               if lo <= v <= hi}), dtype=np.int64)
    uniform = rng.integers(lo, hi, n, endpoint=True, dtype=np.int64)
    return np.where(rng.random(n) < 0.25, rng.choice(special, n), uniform)


def _edge_codes(rng: np.random.Generator, shift: np.ndarray, in_bits: int, in_signed: bool,
                out_range: tuple[int, int], mult: np.ndarray | None = None) -> np.ndarray:
    """Codes that exercise a rounding shift ``s`` (after a multiplier ``M``): a third land in
    the output range with random dropped bits, a third on ties ``q * 2**s + 2**(s-1)`` or one
    off, a third round onto the bounds ``LO``, ``HI`` or one past them. With ``M``, the code
    is the nearest one whose product lands there."""
    lo, hi = rtl_spec.code_range(in_bits, in_signed)
    out_lo, out_hi = out_range
    out = []
    for i, s in enumerate(shift.tolist()):
        s = min(s, 62)  # beyond, every code is a small fraction of one LSB
        kind = int(rng.integers(0, 3))
        if s <= 0 and mult is None:  # a left shift: the codes that land on or next to the bounds
            left = -s
            base = int(rng.choice([out_hi >> left, -((-out_lo) >> left)]))
            value = base + int(rng.integers(-1, 2))
        else:
            q = int(rng.integers(out_lo - 1, out_hi + 2))
            if kind == 2:  # onto a saturation bound, or one past it
                q = out_hi + int(rng.integers(0, 2)) if rng.random() < 0.5 else \
                    out_lo - int(rng.integers(0, 2))
            half = (1 << (s - 1)) if s > 0 else 0
            if kind == 1:  # a tie of the rounding, or one off
                value = (q << max(s, 0)) + half + int(rng.integers(-1, 2))
            else:
                value = (q << max(s, 0)) + int(rng.integers(0, 1 << max(s, 0)))
            if mult is not None:  # the code whose product with M is nearest the value
                value = round(value / int(mult[i])) if s >= 0 else value >> -s
        out.append(min(max(value, lo), hi))
    return np.array(out, dtype=np.int64)


def requant_inputs(spec: RequantSpec | RescaleSpec, count: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs ``x`` and (runtime) ``shift``, ``mult`` of a requantizer or rescale: a third
    :func:`random_codes`, two thirds :func:`_edge_codes`."""
    rescale = isinstance(spec, RescaleSpec)
    width = spec.in_bits + (spec.m + 1 if rescale else 0) + spec.k
    shift = _shift_values(spec, rng, count, width)
    x = random_codes(rng, count, spec.in_bits, spec.in_signed)
    inputs: dict[str, np.ndarray] = {"x": x}
    mult = None
    if rescale:
        m_lo = 1 << (spec.m - 1)
        if spec.multiplier == "runtime":  # a pool of 8 (each is one fxsim call per shift)
            pool = np.concatenate([[m_lo, 2 * m_lo - 1], rng.integers(m_lo, 2 * m_lo, 6)])
            mult = rng.choice(pool.astype(np.int64), count)
            inputs["mult"] = mult
        else:
            mult = np.full(count, spec.multiplier, dtype=np.int64)
    edges = rng.random(count) < 2 / 3
    x[edges] = _edge_codes(rng, shift[edges], spec.in_bits, spec.in_signed, spec.out_range,
                           None if mult is None else mult[edges])
    if spec.runtime_shift:
        inputs["shift"] = shift
    return inputs


def requant_lfsr_inputs(spec: RequantSpec, count: int,
                        rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A requantizer with its own LFSR: the vectors of :func:`requant_inputs` grouped into
    tensors of one shift each, every tensor opened by a ``load`` row (its seed is set by the
    golden model)."""
    inputs = requant_inputs(spec, count, rng)
    shift = inputs["shift"] if spec.runtime_shift else np.full(count, spec.shift, np.int64)
    order = np.argsort(shift, kind="stable")
    rows = {"load": [], "seed": [], "en": [], "x": [], "shift": []}
    previous = None
    for i in order.tolist():
        if shift[i] != previous:
            for name, value in (("load", 1), ("seed", 0), ("en", 0), ("x", 0),
                                ("shift", shift[i])):
                rows[name].append(value)
            previous = shift[i]
        for name, value in (("load", 0), ("seed", 0), ("en", 1), ("x", inputs["x"][i]),
                            ("shift", shift[i])):
            rows[name].append(value)
    out = {name: np.array(values, dtype=object if name == "seed" else np.int64)
           for name, values in rows.items()}
    del out["seed"]  # the golden model sets each load's seed
    if not spec.runtime_shift:
        del out["shift"]
    return out


def mac_inputs(spec: MacSpec, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``count`` reductions, in groups of equal length (1, 2, 3, 7, 16, 64 products), one
    product a clock, then one idle clock that shows the last result."""
    lengths = [1, 2, 3, 7, 16, 64]
    per = [count // len(lengths) + (1 if i < count % len(lengths) else 0)
           for i in range(len(lengths))]
    rows = {"en": [], "first": [], "a": [], "b": []}
    for length, n in zip(lengths, per, strict=True):
        a = random_codes(rng, n * length, spec.a, spec.a_signed)
        b = random_codes(rng, n * length, spec.b, spec.b_signed)
        first = np.zeros(n * length, dtype=np.int64)
        first[::length] = 1
        rows["en"].append(np.ones(n * length, dtype=np.int64))
        rows["first"].append(first)
        rows["a"].append(a)
        rows["b"].append(b)
    rows = {k: np.concatenate([*v, np.zeros(1, dtype=np.int64)]) for k, v in rows.items()}
    return rows


def lfsr_inputs(spec: LfsrSpec, count: int, rng: np.random.Generator,
                seed: int) -> dict[str, np.ndarray]:
    """``count`` clocks: loads of the documented seeds of lanes 0, 1, ... and of 0, 1 and all
    ones, then runs of leaps with a few holds (``en = 0``)."""
    edge_seeds = [0, 1, (1 << spec.width) - 1, 1 << (spec.width - 1)]
    load, seeds, en = [], [], []
    lane = 0
    while len(load) < count:
        value = (edge_seeds[lane] if lane < len(edge_seeds)
                 else lfsr.seed_state(spec.width, seed, 0, lane))
        run = int(rng.integers(1, 400))
        load += [1] + [0] * run
        seeds += [value] + [0] * run
        en += [0] + [int(v) for v in (rng.random(run) > 0.05)]
        lane += 1
    cut = slice(0, count)
    return {"load": np.array(load[cut], dtype=np.int64),
            "seed": np.array(seeds[cut], dtype=object),
            "en": np.array(en[cut], dtype=np.int64)}


def stat_inputs(spec: StatSpec, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``count`` tensors of 1..40 codes each (all-zero ones, one-element ones and ones at the
    range ends among them), one code a clock, then an idle clock."""
    xs, first = [], []
    lo, hi = rtl_spec.code_range(spec.in_bits, spec.in_signed)
    for t in range(count):
        size = 1 if t % 7 == 1 else int(rng.integers(1, 41))
        if t % 11 == 2:
            codes = np.zeros(size, dtype=np.int64)
        elif t % 13 == 3:
            codes = rng.choice(np.array([lo, hi], dtype=np.int64), size)
        else:
            codes = random_codes(rng, size, spec.in_bits, spec.in_signed)
        xs.append(codes)
        flag = np.zeros(size, dtype=np.int64)
        flag[0] = 1
        first.append(flag)
    # the interval unit's threshold port is set by the golden model (gamma * max|g|)
    return {"en": np.concatenate([np.ones(sum(map(len, xs)), dtype=np.int64), [0]]),
            "first": np.concatenate([*first, [0]]), "x": np.concatenate([*xs, [0]])}


def make_inputs(spec: UnitSpec, count: int, seed: int) -> dict[str, np.ndarray]:
    """The input rows of ``count`` checked results of ``spec`` (see the module docstring)."""
    rng = np.random.default_rng([seed, 0x5EC7])
    if isinstance(spec, RequantSpec) and spec.random == "lfsr":
        return requant_lfsr_inputs(spec, count, rng)
    if isinstance(spec, (RequantSpec, RescaleSpec)):
        return requant_inputs(spec, count, rng)
    if isinstance(spec, MacSpec):
        return mac_inputs(spec, count, rng)
    if isinstance(spec, LfsrSpec):
        return lfsr_inputs(spec, count, rng, seed)
    return stat_inputs(spec, count, rng)


def activity_inputs(spec: UnitSpec, rows: int, seed: int) -> dict[str, np.ndarray]:
    """``rows`` input rows for measuring switching activity (energy): the check vectors of
    :func:`make_inputs` cut to ``rows`` (a requantizer's grouped by shift and multiplier, which
    hold still over a tensor), except for the MAC (uniform random operands in reductions of 64,
    a MAC array's steady state) and the LFSR (one leap a clock)."""
    rng = np.random.default_rng([seed, 0xE7E7])
    if isinstance(spec, MacSpec):
        lo_a, hi_a = rtl_spec.code_range(spec.a, spec.a_signed)
        lo_b, hi_b = rtl_spec.code_range(spec.b, spec.b_signed)
        first = (np.arange(rows) % 64 == 0).astype(np.int64)
        return {"en": np.ones(rows, dtype=np.int64), "first": first,
                "a": rng.integers(lo_a, hi_a, rows, endpoint=True, dtype=np.int64),
                "b": rng.integers(lo_b, hi_b, rows, endpoint=True, dtype=np.int64)}
    if isinstance(spec, LfsrSpec):
        load = np.zeros(rows, dtype=np.int64)
        load[0] = 1
        seeds = np.zeros(rows, dtype=object)
        seeds[0] = lfsr.seed_state(spec.width, seed)
        return {"load": load, "seed": seeds, "en": 1 - load}
    inputs = {name: values[:rows] for name, values in make_inputs(spec, rows, seed).items()}
    held = [inputs[name] for name in ("mult", "shift") if name in inputs and "load" not in inputs]
    if held:
        order = np.lexsort(held)  # stable: the last key (shift) is the primary one
        inputs = {name: values[order] for name, values in inputs.items()}
    return inputs
