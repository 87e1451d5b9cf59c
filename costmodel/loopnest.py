"""The loop nest of one MAC phase and the exact access counts of a tiling of it.

A phase is a 7-deep loop nest over dims ``N K C P Q R S`` (batch, output channel, input
channel, output rows and columns, kernel rows and columns) touching three tensors:

* ``In[n, c, h, w]`` with ``h = p * stride + r * dilation - padding`` (likewise ``w``),
* ``Wt[k, c, r, s]``,
* ``Out[n, k, p, q]``.

The forward pass accumulates into ``Out``; backward_weight accumulates into ``Wt`` (reduction
over ``N P Q``); backward_input is the forward nest of the transposed convolution (see
:func:`phase_problem`).

A tiling splits every dim exactly into factors per level (``Tiling``): DRAM loops, global
buffer (GLB) loops, a spatial split over the MAC lanes, and register-file (RF) loops, each
level's temporal loops in a stated order. The count of fills of a child tile of tensor ``T``
from its parent is the classic reuse rule (Timeloop's, Parashar et al., ISPASS 2019): over the
loops outside the child (outermost first), a fill happens whenever a loop relevant to ``T``
advances; loops irrelevant to ``T`` that sit inside the last relevant one reuse the tile, those
outside it repeat the fills. The buffer holds exactly the current tile (no sliding-window reuse
between consecutive tiles, which Timeloop does not model either). For a point tile (the MAC's
operand registers) this is the per-MAC operand delivery. Input tiles are clipped to the padded
image: a position in the padding is not fetched. The functions here are exact for such a
tiling: ``tests/test_costmodel_loopnest.py`` checks them against brute-force enumeration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

DIMS = ("N", "K", "C", "P", "Q", "R", "S")
TENSORS = ("In", "Wt", "Out")
RELEVANT = {"In": frozenset("NCPQRS"), "Wt": frozenset("KCRS"), "Out": frozenset("NKPQ")}
# the In tensor's spatial axes couple an output position dim with a kernel dim
COUPLED = (("P", "R", 0), ("Q", "S", 1))
# loop orders, outermost to innermost: the stationary tensor's irrelevant dims innermost
ORDERS = {
    "WS": ("K", "C", "R", "S", "N", "P", "Q"),  # weight stationary: N P Q inside
    "OS": ("N", "K", "P", "Q", "C", "R", "S"),  # output stationary: C R S inside
    "IS": ("N", "C", "P", "Q", "R", "S", "K"),  # input stationary: K inside
}
LEVELS = ("dram", "glb", "spatial", "rf")
_INDEX = {d: i for i, d in enumerate(DIMS)}


@dataclass(frozen=True)
class Problem:
    """Sizes of the 7 dims, the input's geometry, and which tensor accumulates (``Out`` or
    ``Wt``). ``upsample``: input positions ``h`` exist only where ``h % upsample == 0`` (the
    zero-inserted gradient of a strided layer's backward_input; 1 elsewhere)."""

    sizes: tuple[int, int, int, int, int, int, int]
    in_hw: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    output: str = "Out"
    upsample: int = 1

    def size(self, dim: str) -> int:
        return self.sizes[_INDEX[dim]]

    @property
    def iterations(self) -> int:
        """Points of the loop nest (MACs, counting those on inserted zeros)."""
        return math.prod(self.sizes)

    def reduction_dims(self) -> frozenset[str]:
        """Dims the accumulating tensor does not index."""
        return frozenset(DIMS) - RELEVANT[self.output]

    @lru_cache(maxsize=8)  # noqa: B019 (frozen, hashable: one entry per tensor)
    def elements(self, tensor: str) -> int:
        """Distinct elements of ``tensor`` the nest touches (input positions in the padding
        or on inserted zeros excluded)."""
        if tensor != "In":
            return math.prod(self.size(d) for d in RELEVANT[tensor])
        rows = len(_touched(self, 0, 0, self.size("P"), 0, self.size("R")))
        cols = len(_touched(self, 1, 0, self.size("Q"), 0, self.size("S")))
        return self.size("N") * self.size("C") * rows * cols


def _touched(problem: Problem, axis: int, p0: int, p1: int, r0: int, r1: int) -> frozenset:
    return _touched_cached(problem.in_hw[axis], problem.stride[axis], problem.dilation[axis],
                           problem.padding[axis], problem.upsample, p0, p1, r0, r1)


@lru_cache(maxsize=65536)
def _touched_cached(size: int, stride: int, dilation: int, padding: int, upsample: int,
                    p0: int, p1: int, r0: int, r1: int) -> frozenset:
    """Input positions along one axis read by output positions [p0, p1) and kernel taps
    [r0, r1)."""
    return frozenset(h for p in range(p0, p1) for r in range(r0, r1)
                     if 0 <= (h := p * stride + r * dilation - padding) < size
                     and h % upsample == 0)


@lru_cache(maxsize=65536)
def _axis_sum(size: int, stride: int, dilation: int, padding: int, upsample: int,
              n_p: int, t_p: int, n_r: int, t_r: int) -> int:
    """Sum over all (output tile, kernel tile) pairs of the input positions they read."""
    return sum(len(_touched_cached(size, stride, dilation, padding, upsample,
                                   i * t_p, (i + 1) * t_p, j * t_r, (j + 1) * t_r))
               for i in range(n_p) for j in range(n_r))


def footprint_sum(problem: Problem, tensor: str, tile: dict[str, int]) -> int:
    """Sum, over every position of a child tile of extents ``tile`` (each dividing its dim),
    of the elements of ``tensor`` it holds (for ``In``: clipped to the image)."""
    if tensor != "In":
        return problem.elements(tensor)
    return _in_footprint_sum(problem, tile["P"], tile["R"], tile["Q"], tile["S"])


@lru_cache(maxsize=65536)
def _in_footprint_sum(problem: Problem, tp: int, tr: int, tq: int, ts: int) -> int:
    total = problem.size("N") * problem.size("C")
    for (pdim, rdim, axis), (t_p, t_r) in zip(COUPLED, ((tp, tr), (tq, ts)), strict=True):
        total *= _axis_sum(problem.in_hw[axis], problem.stride[axis], problem.dilation[axis],
                           problem.padding[axis], problem.upsample,
                           problem.size(pdim) // t_p, t_p, problem.size(rdim) // t_r, t_r)
    return total


def tile_elements(problem: Problem, tensor: str, tile: dict[str, int]) -> int:
    """Capacity a tile of ``tensor`` needs: its unclipped extent (the largest tile)."""
    total = 1
    for d in RELEVANT[tensor]:
        if tensor != "In" or d not in "PQRS":
            total *= tile[d]
    if tensor == "In":
        for pdim, rdim, axis in COUPLED:
            extent = (tile[pdim] - 1) * problem.stride[axis] + (
                tile[rdim] - 1) * problem.dilation[axis] + 1
            total *= min(extent, problem.in_hw[axis])
    return total


def fills(problem: Problem, tensor: str, loops: list[tuple[str, int]],
          tile: dict[str, int], spread: dict[str, int] | None = None) -> int:
    """Fills (elements) of a child tile of ``tensor`` of extents ``tile`` over the temporal
    ``loops`` outside it, ``(dim, trips)`` outermost first. ``spread``: spatial factors
    outside the child, each lane filled separately (a lane not indexing ``tensor`` along
    a dim still needs its own copy)."""
    relevant = RELEVANT[tensor]
    cut = -1
    for i in range(len(loops) - 1, -1, -1):
        dim, trips = loops[i]
        if trips > 1 and dim in relevant:
            cut = i
            break
    repeat = 1
    for dim, trips in loops[:cut + 1]:
        if trips > 1 and dim not in relevant:
            repeat *= trips
    if spread:
        for dim, factor in spread.items():
            if factor > 1 and dim not in relevant:
                repeat *= factor
    return repeat * footprint_sum(problem, tensor, tile)


@dataclass(frozen=True)
class Tiling:
    """Exact factors of every dim per level (``dram * glb * spatial * rf == size``) and the
    temporal loop orders of the DRAM, GLB and RF levels (names of :data:`ORDERS`)."""

    dram: tuple[int, ...]
    glb: tuple[int, ...]
    spatial: tuple[int, ...]
    rf: tuple[int, ...]
    order_dram: str = "OS"
    order_glb: str = "OS"
    order_rf: str = "OS"

    def factor(self, level: str, dim: str) -> int:
        return getattr(self, level)[_INDEX[dim]]

    def tile(self, level: str) -> dict[str, int]:
        """Extents of the tile held at ``level``: ``glb`` (the GLB tile), ``array`` (the union
        over the lanes of one GLB step), ``rf`` (one lane's RF tile), ``point``."""
        if level == "point":
            return dict.fromkeys(DIMS, 1)
        if level == "rf":
            return dict(zip(DIMS, self.rf, strict=True))
        if level == "array":
            return {d: s * r for d, s, r in zip(DIMS, self.spatial, self.rf, strict=True)}
        return {d: g * s * r
                for d, g, s, r in zip(DIMS, self.glb, self.spatial, self.rf, strict=True)}

    def loops(self, *levels: str) -> list[tuple[str, int]]:
        """Temporal loops of ``levels`` (``dram``, ``glb``, ``rf``), outermost first."""
        out = []
        for lv in levels:
            factors = getattr(self, lv)
            order = getattr(self, f"order_{lv}")
            out.extend((d, factors[_INDEX[d]]) for d in ORDERS[order])
        return out

    @property
    def lanes_used(self) -> int:
        return math.prod(self.spatial)

    @property
    def steps(self) -> int:
        """Temporal steps of the array: every loop but the spatial ones."""
        return math.prod(self.dram) * math.prod(self.glb) * math.prod(self.rf)


@dataclass(frozen=True)
class Accesses:
    """Element counts of one tensor at each boundary of the hierarchy.

    ``dram``: fills of GLB tiles from DRAM; ``glb``: fills of array tiles from the GLB
    (multicast: one read serves every lane that needs it); ``rf``: fills of the lanes' RF tiles
    (per lane); ``reg``: fills of the MAC's operand registers (per lane, per MAC step). For the
    accumulating tensor these are visits of its tile: each visit writes the tile back to the
    parent, and every visit but an element's first also reads it (``distinct`` elements)."""

    dram: int
    glb: int
    rf: int
    reg: int
    distinct: int


def access_counts(problem: Problem, tiling: Tiling) -> dict[str, Accesses]:
    """Exact :class:`Accesses` of every tensor under ``tiling``."""
    spread = dict(zip(DIMS, tiling.spatial, strict=True))
    outer, all_loops = tiling.loops("dram", "glb"), tiling.loops("dram", "glb", "rf")
    dram_loops = tiling.loops("dram")
    tiles = {level: tiling.tile(level) for level in ("glb", "array", "rf", "point")}
    out = {}
    for tensor in TENSORS:
        out[tensor] = Accesses(
            dram=fills(problem, tensor, dram_loops, tiles["glb"]),
            glb=fills(problem, tensor, outer, tiles["array"]),
            rf=fills(problem, tensor, outer, tiles["rf"], spread),
            reg=fills(problem, tensor, all_loops, tiles["point"], spread),
            distinct=problem.elements(tensor),
        )
    return out
