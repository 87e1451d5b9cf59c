"""The mapping's access counts against brute-force enumeration of the loop nest, and the
mapper's tiles against the capacities."""

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.loopnest import (
    DIMS,
    ORDERS,
    RELEVANT,
    Problem,
    Tiling,
    access_counts,
    tile_elements,
)
from costmodel.mapper import LevelCosts, Widths, map_phase

LEVEL_ORDER = ("dram", "glb", "spatial", "rf")


def _elements(problem, tensor, lo, size):
    """Set of the elements of ``tensor`` in the box of loop-nest points lo..lo+size."""
    ranges = {d: range(lo[d], lo[d] + size[d]) for d in DIMS}
    if tensor == "Wt":
        return set(itertools.product(ranges["K"], ranges["C"], ranges["R"], ranges["S"]))
    if tensor == "Out":
        return set(itertools.product(ranges["N"], ranges["K"], ranges["P"], ranges["Q"]))
    out = set()
    for n, c, p, q, r, s in itertools.product(*(ranges[d] for d in "NCPQRS")):
        h = p * problem.stride[0] + r * problem.dilation[0] - problem.padding[0]
        w = q * problem.stride[1] + s * problem.dilation[1] - problem.padding[1]
        if (0 <= h < problem.in_hw[0] and 0 <= w < problem.in_hw[1]
                and h % problem.upsample == 0 and w % problem.upsample == 0):
            out.add((n, c, h, w))
    return out


def brute_fills(problem, tiling, tensor, outer_levels, child_levels, per_lane):
    """Walk the temporal loops of ``outer_levels`` in order (every lane separately when
    ``per_lane``); a fill of the child tile (extents: the product of ``child_levels``
    factors) happens whenever its index along a dim ``tensor`` indexes changes."""
    child = {d: math.prod(tiling.factor(lv, d) for lv in child_levels) for d in DIMS}
    loops = tiling.loops(*outer_levels)
    lanes = [dict(zip(DIMS, idx, strict=True)) for idx in itertools.product(
        *(range(tiling.factor("spatial", d)) for d in DIMS))] if per_lane else [None]
    total = 0
    for lane in lanes:
        previous = None
        for point in itertools.product(*(range(t) for _, t in loops)):
            index = _child_index(tiling, loops, point, outer_levels, lane)
            ident = tuple(index[d] for d in DIMS if d in RELEVANT[tensor])
            if ident != previous:
                lo = {d: index[d] * child[d] for d in DIMS}
                total += len(_elements(problem, tensor, lo, child))
                previous = ident
    return total


def _child_index(tiling, loops, point, outer_levels, lane):
    """Index of the child tile along every dim: the digits of the outer levels' loops (and the
    lane), most significant first."""
    digits = {d: {} for d in DIMS}
    position = 0
    for lv in outer_levels:
        order = ORDERS[getattr(tiling, f"order_{lv}")]
        for d in order:
            digits[d][lv] = point[position]
            position += 1
    index = dict.fromkeys(DIMS, 0)
    for lv in LEVEL_ORDER:
        if lv == "spatial":
            if lane is None:
                if "spatial" not in outer_levels:
                    break
            else:
                for d in DIMS:
                    index[d] = index[d] * tiling.factor("spatial", d) + lane[d]
            continue
        if lv not in outer_levels:
            break
        for d in DIMS:
            index[d] = index[d] * tiling.factor(lv, d) + digits[d][lv]
    return index


def _split(n, parts, draw):
    """``parts`` factors multiplying to ``n``."""
    out = []
    for _ in range(parts - 1):
        divisors = [d for d in range(1, n + 1) if n % d == 0]
        f = draw(st.sampled_from(divisors))
        out.append(f)
        n //= f
    return [*out, n]


@st.composite
def mapped_problems(draw):
    sizes = [draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 2)),
             draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
             draw(st.integers(1, 2))]
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    upsample = draw(st.sampled_from([1, 1, 2]))
    in_hw = tuple(max(1, (sizes[3 + a] - 1) * stride[a] + sizes[5 + a] - 2 * padding[a]
                      + draw(st.integers(0, 1))) for a in (0, 1))
    problem = Problem(tuple(sizes), in_hw, stride, (1, 1), padding,
                      draw(st.sampled_from(["Out", "Wt"])), upsample)
    factors = [_split(n, 4, draw) for n in sizes]
    levels = {lv: tuple(f[i] for f in factors) for i, lv in enumerate(LEVEL_ORDER)}
    orders = [draw(st.sampled_from(sorted(ORDERS))) for _ in range(3)]
    return problem, Tiling(levels["dram"], levels["glb"], levels["spatial"], levels["rf"],
                           *orders)


@settings(max_examples=60, deadline=None)
@given(mapped_problems())
def test_access_counts_equal_brute_force(case):
    problem, tiling = case
    counts = access_counts(problem, tiling)
    for tensor in ("In", "Wt", "Out"):
        got = counts[tensor]
        assert got.dram == brute_fills(problem, tiling, tensor, ("dram",),
                                       ("glb", "spatial", "rf"), False)
        assert got.glb == brute_fills(problem, tiling, tensor, ("dram", "glb"),
                                      ("spatial", "rf"), False)
        assert got.rf == brute_fills(problem, tiling, tensor, ("dram", "glb"), ("rf",), True)
        assert got.reg == brute_fills(problem, tiling, tensor, ("dram", "glb", "rf"), (), True)
        everything = _elements(problem, tensor, dict.fromkeys(DIMS, 0),
                               dict(zip(DIMS, problem.sizes, strict=True)))
        assert got.distinct == len(everything)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 16), st.integers(1, 16), st.sampled_from([1, 2, 4, 8]),
       st.sampled_from([1, 3]), st.sampled_from(["Out", "Wt"]), st.integers(64, 4096),
       st.integers(4096, 1 << 16), st.sampled_from([4, 8, 16]))
def test_mapper_tiles_fit_and_cover_every_mac(n, k, c, p, r, output, rf_bits, glb_bits, bits):
    problem = Problem((n, k, c, p, p, r, r), (p, p), (1, 1), (1, 1), (r // 2, r // 2), output)
    widths = Widths((("In", bits), ("Wt" if output == "Out" else "Out", bits)), 2 * bits + 8,
                    bits, output)
    costs = LevelCosts(20.0, 0.5, 0.03, 0.04, 0.004)
    try:
        mapped = map_phase(problem, widths, costs, 4, 4, glb_bits, rf_bits)
    except ValueError:
        return  # nothing fits: refused with a message
    t = mapped.tiling
    for i, _d in enumerate(DIMS):
        assert t.dram[i] * t.glb[i] * t.spatial[i] * t.rf[i] == problem.sizes[i]
    for level, capacity in (("rf", rf_bits), ("glb", glb_bits)):
        tile = t.tile(level)
        need = sum(tile_elements(problem, x, tile) * widths.of(x) for x in ("In", "Wt", "Out"))
        assert need <= capacity
    assert mapped.steps * mapped.lanes_used == problem.iterations
    assert mapped.lanes_used <= 16


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([2, 4, 8]), st.integers(1, 8))
def test_data_movement_energy_monotone_in_widths(bits, extra):
    problem = Problem((2, 8, 8, 4, 4, 3, 3), (4, 4), (1, 1), (1, 1), (1, 1), "Out")
    costs = LevelCosts(20.0, 0.5, 0.03, 0.04, 0.004)

    def energy(b):
        m = map_phase(problem, Widths((("In", b), ("Wt", b)), 2 * b + 7, b, "Out"), costs,
                      4, 4, 1 << 16, 2048)
        return sum(m.bits.energy(costs).values())

    assert energy(bits) < energy(bits + extra)
