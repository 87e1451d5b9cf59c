"""Choosing a tiling of a phase's loop nest onto the hierarchy (DRAM, global buffer, the MAC
lanes' register files), and the bits it moves at each level.

The search (an analytical mapper in the spirit of Timeloop's, Parashar et al., ISPASS 2019,
much smaller):

1. Spatial: the lanes form a ``rows x cols`` array; each axis takes one dim the accumulating
   tensor indexes (so lanes never reduce into one another: each owns its accumulator), by the
   largest divisor of that dim not above the axis. Every pair is tried and those using the
   most lanes are kept.
2. Temporal: for each stationary order (weight-, output- and input-stationary, the same at the
   DRAM and GLB levels; inside a lane the reduction is innermost, output-stationary, so the
   accumulator register holds the output) a steepest-descent search moves prime factors of
   each dim between the DRAM, GLB and RF levels while the tiles fit the capacities (GLB and
   RF, at the policy's widths: operands at theirs, partial sums at the accumulator's) and the
   data-movement energy falls.

Energies per bit (``LevelCosts``) come from :mod:`costmodel.memory`; the result is the tiling
with the least data-movement energy and its exact counts (:mod:`costmodel.loopnest`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from costmodel.loopnest import (
    DIMS,
    ORDERS,
    RELEVANT,
    Accesses,
    Problem,
    Tiling,
    access_counts,
    tile_elements,
)

OPERANDS = ("In", "Wt", "Out")
MOVE_LEVELS = ("dram", "glb", "rf")
SPATIAL_KEEP = 1.0  # keep the spatial options using this share of the most lanes any uses
SPATIAL_TRIES = 3  # and at most this many of them (by dims: K, C, then the others)


@dataclass(frozen=True)
class LevelCosts:
    """pJ per bit at each level: DRAM access, GLB access, the array network (per bit moved
    between the GLB and the lanes), RF access, pipeline-register write."""

    dram: float
    glb: float
    network: float
    rf: float
    reg: float


@dataclass(frozen=True)
class Widths:
    """Bits of each tensor of a phase: the two operands (``In``-like and ``Wt``-like or the
    other operand), the accumulating tensor's partial sums (``acc``) and its final values
    (``final``). ``output`` names the accumulating tensor."""

    bits: tuple[tuple[str, int], ...]  # (tensor, bits) of the two operands
    acc: int
    final: int
    output: str

    def of(self, tensor: str) -> int:
        return dict(self.bits).get(tensor, self.acc)


@dataclass(frozen=True)
class LevelBits:
    """Bits moved at each level by one mapped phase: reads and writes of DRAM, GLB and RF,
    bits over the array network, operand pipeline-register writes; the counts behind them
    (elements) are in ``accesses``."""

    dram: float
    glb: float
    network: float
    rf: float
    reg: float

    def energy(self, costs: LevelCosts) -> dict[str, float]:
        return {level: getattr(self, level) * getattr(costs, level)
                for level in ("dram", "glb", "network", "rf", "reg")}


@dataclass(frozen=True)
class Mapped:
    """A phase mapped: its tiling, exact accesses per tensor, bits per level, the array steps
    (cycles without stalls), lanes used."""

    tiling: Tiling
    accesses: dict
    bits: LevelBits
    steps: int
    lanes_used: int

    def describe(self) -> str:
        """``WS sp K8xP8 glb N4.. rf C16..``: order, spatial and non-trivial tile factors."""
        t = self.tiling

        def facs(level: str) -> str:
            return ".".join(f"{d}{t.factor(level, d)}" for d in DIMS if t.factor(level, d) > 1)

        return (f"{t.order_dram} sp {facs('spatial') or '-'} glb {facs('glb') or '-'} "
                f"rf {facs('rf') or '-'}")


def level_bits(problem: Problem, acc: dict[str, Accesses], widths: Widths) -> LevelBits:
    """Bits per level from exact accesses (see :class:`costmodel.loopnest.Accesses`)."""
    dram = glb = network = rf = reg = 0.0
    for tensor in OPERANDS:
        a = acc[tensor]
        if tensor != widths.output:
            b = widths.of(tensor)
            dram += a.dram * b
            glb += (a.dram + a.glb) * b       # filled from DRAM, read towards the lanes
            network += a.glb * b              # multicast over the array
            rf += (a.rf + a.reg) * b          # filled from the network, read per MAC step
            reg += a.reg * b                  # operand pipeline registers
            continue
        part, final, d = widths.acc, widths.final, a.distinct
        # accumulator register <-> RF <-> GLB, at the accumulator's width inside the lane; when
        # the RF tile holds no more outputs than the register (a.reg == a.rf) the register
        # writes through to the network and the RF is bypassed
        if a.reg != a.rf:
            rf += (2 * a.reg - d + 2 * a.rf - d) * part
        # RF <-> GLB through the network: partials both ways, finals up (requantized at the
        # array's edge)
        up = (a.glb - d) * part + d * final
        down = (a.glb - d) * part
        network += up + down
        glb += up + down
        # GLB <-> DRAM
        up = (a.dram - d) * part + d * final
        down = (a.dram - d) * part
        dram += up + down
        glb += up + down
    return LevelBits(dram, glb, network, rf, reg)


def _fits(problem: Problem, tiling: Tiling, widths: Widths, glb_bits: float,
          rf_bits: float) -> bool:
    rf_tile, glb_tile = tiling.tile("rf"), tiling.tile("glb")
    rf_need = sum(tile_elements(problem, t, rf_tile) * widths.of(t) for t in OPERANDS)
    glb_need = sum(tile_elements(problem, t, glb_tile) * widths.of(t) for t in OPERANDS)
    return rf_need <= rf_bits and glb_need <= glb_bits


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def spatial_options(problem: Problem, rows: int, cols: int) -> list[tuple[int, ...]]:
    """Spatial factors per dim: one dim the accumulating tensor indexes on each array axis."""
    dims = [d for d in DIMS if d in RELEVANT[problem.output] and problem.size(d) > 1]
    options = {tuple([1] * len(DIMS))}
    for a in [None, *dims]:
        for b in [None, *dims]:
            if a is not None and a == b:
                continue
            f = [1] * len(DIMS)
            if a:
                f[DIMS.index(a)] = _largest_divisor(problem.size(a), rows)
            if b:
                f[DIMS.index(b)] = _largest_divisor(problem.size(b), cols)
            options.add(tuple(f))
    best = max(math.prod(o) for o in options)
    kept = sorted((o for o in options if math.prod(o) >= SPATIAL_KEEP * best),
                  key=lambda o: (-math.prod(o), -o[1], -o[2], o))
    if (problem.size("P"), problem.in_hw[0], problem.stride[0], problem.padding[0]) == (
            problem.size("Q"), problem.in_hw[1], problem.stride[1], problem.padding[1]):
        p, q = DIMS.index("P"), DIMS.index("Q")
        mirror = {o: tuple(o[q] if i == p else o[p] if i == q else f for i, f in enumerate(o))
                  for o in kept}
        kept = [o for o in kept if mirror[o] not in kept or mirror[o] >= o]
    return kept[:SPATIAL_TRIES]


@lru_cache(maxsize=200000)
def _energy(problem: Problem, tiling: Tiling, widths: Widths, costs: LevelCosts) -> float:
    bits = level_bits(problem, access_counts(problem, tiling), widths)
    return sum(bits.energy(costs).values())


def _descend(problem: Problem, start: Tiling, widths: Widths, costs: LevelCosts,
             glb_bits: float, rf_bits: float) -> tuple[float, Tiling]:
    current, best = start, _energy(problem, start, widths, costs)
    while True:
        found = None
        for i in range(len(DIMS)):
            for src in MOVE_LEVELS:
                have = getattr(current, src)[i]
                for p in sorted(set(_primes(have))):
                    for dst in MOVE_LEVELS[MOVE_LEVELS.index(src) + 1:]:  # inwards
                        levels = {lv: list(getattr(current, lv)) for lv in MOVE_LEVELS}
                        levels[src][i] //= p
                        levels[dst][i] *= p
                        cand = Tiling(tuple(levels["dram"]), tuple(levels["glb"]),
                                      current.spatial, tuple(levels["rf"]), current.order_dram,
                                      current.order_glb, current.order_rf)
                        if not _fits(problem, cand, widths, glb_bits, rf_bits):
                            continue
                        e = _energy(problem, cand, widths, costs)
                        if e < best * (1 - 1e-12) and (found is None or e < found[0]):
                            found = (e, cand)
        if found is None:
            return best, current
        best, current = found


@lru_cache(maxsize=4096)
def map_phase(problem: Problem, widths: Widths, costs: LevelCosts, rows: int, cols: int,
              glb_bits: float, rf_bits: float) -> Mapped:
    """The tiling of ``problem`` with the least data-movement energy (see the module
    docstring) on a ``rows x cols`` lane array with a GLB of ``glb_bits`` and per-lane RFs
    of ``rf_bits``; refused when not even the smallest tiles fit."""
    results = []
    for spatial in spatial_options(problem, rows, cols):
        rest = tuple(problem.sizes[i] // spatial[i] for i in range(len(DIMS)))
        ones = tuple([1] * len(DIMS))
        for order in ORDERS:
            start = Tiling(rest, ones, spatial, ones, order, order, "OS")
            if not _fits(problem, start, widths, glb_bits, rf_bits):
                continue
            results.append(_descend(problem, start, widths, costs, glb_bits, rf_bits))
    if not results:
        raise ValueError(f"no tiling of {problem} fits a GLB of {glb_bits:g} bits and RFs of "
                         f"{rf_bits:g} bits: give the architecture larger buffers")
    _, tiling = min(results, key=lambda r: (r[0], r[1].steps))
    acc = access_counts(problem, tiling)
    return Mapped(tiling, acc, level_bits(problem, acc, widths), tiling.steps,
                  tiling.lanes_used)
