"""The three products of a convolution on byte codes, through the ``int8`` kernels
(:mod:`fxsim.ops._kernels_int8`).

The caller (:meth:`fxsim.ops._mac.MacCall.run`) has checked with the plan that the path is
exact and passes :class:`ByteOperand`\\ s: the codes as bytes (uint8) and whether they are
signed codes stored ``code ^ 0x80`` (``flip``). The first operand of each product is read as
shifted planes (the unsigned side of the byte dot product), the second is signed bytes. Results
are the exact sums: int32 NCHW arrays for the correlations (with their largest magnitude, found
in the output pass), an int64 OIHW array for the weight gradient.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from fxsim.numeric.threads import run_balanced, thread_count
from fxsim.ops import _kernels_int8 as kernels
from fxsim.ops._engine import _round_up, _tap_grid, _tiles, weight_plan
from fxsim.ops._frame import Frame, forward_frame, input_grad_frame
from fxsim.ops.geometry import ConvGeometry

TILE = 1024  # frame positions per correlation tile: the quad planes stay in L1/L2
WEIGHT_TILE = 4096  # positions per weight-gradient tile: fewer lane reductions per product
WEIGHT_MIN_TILES = 16  # at least this many weight-gradient tiles: short tails on 2 threads
OFFSET = 128  # what flipping the sign bit of a signed byte adds to its value


class ByteOperand(NamedTuple):
    """Codes as bytes: ``raw`` uint8 (a view of int8 codes, or unsigned codes), and ``flip``:
    True for signed codes, which the kernels read as ``code + 128`` (``byte ^ 0x80``)."""

    raw: np.ndarray
    flip: bool


def unsigned_side(raw: np.ndarray, signed: bool) -> ByteOperand:
    """``raw`` (codes that fit a byte: unsigned below 256, or signed in ``[-128, 127]``, as the
    caller's plan checked) as the unsigned side of the dot product."""
    if raw.dtype == np.uint8 or not signed:
        return ByteOperand(np.ascontiguousarray(raw, dtype=np.uint8), False)
    return ByteOperand(np.ascontiguousarray(raw, dtype=np.int8).view(np.uint8), True)


def signed_side(raw: np.ndarray) -> np.ndarray:
    """``raw`` (codes in ``[-128, 127]``, as the caller's plan checked) as int8."""
    return np.ascontiguousarray(raw, dtype=np.int8)


@functools.lru_cache(maxsize=256)
def _quad_plan(geom: ConvGeometry, op: str) -> tuple[Frame, int, int, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """``(frame, quads, read, taps, counts, index)`` of the correlation ``op`` (``forward`` or
    ``backward_input``) on quad planes: ``read`` channels of the operand per group in
    ``quads`` quads, ``taps[f, g, t] = (plane, shift)`` for the taps
    ``t = j * K + k`` (channel quad ``j``, kernel position ``k`` of result phase ``f``),
    ``counts[a, b]`` taps per result phase, and ``index[f, g, t, o, i]`` the flat OIHW weight
    of channel ``4j + i`` of tap ``t`` for result channel ``o`` (a zero appended at the end
    for channels past the group's and padded result channels)."""
    forward = op == "forward"
    frame = forward_frame(geom) if forward else input_grad_frame(geom)
    co, cg, kh, kw = geom.weight_shape
    groups, cog = geom.groups, co // geom.groups
    read, result = (cg, cog) if forward else (cog, cg)
    quads = -(-read // 4)
    sh, sw = frame.result_phases
    grids = [_tap_grid(frame, a, b) for a in range(sh) for b in range(sw)]
    counts = np.array([quads * ki.size for ki, _, _, _ in grids], dtype=np.int64)
    t_max = max(int(counts.max()), 1)
    taps = np.zeros((len(grids), groups, t_max, 2), dtype=np.int64)
    zero = co * cg * kh * kw
    index = np.full((len(grids), groups, t_max, _round_up(result, kernels.P), 4), zero,
                    dtype=np.int64)
    lanes = 4 * np.arange(quads)[:, None, None] + np.arange(4)[None, None, :]  # (j, 1, i)
    outs = np.arange(result)[None, :, None]  # (1, o, 1)
    for f, (ki, kj, phase, shift) in enumerate(grids):
        k = ki.size
        if k == 0:
            continue
        tap_k = (ki * kw + kj).reshape(-1)
        for g in range(groups):
            planes = (g * quads + np.arange(quads))[:, None] * frame.operand_phases \
                + phase.reshape(1, -1)
            taps[f, g, :counts[f], 0] = planes.reshape(-1)
            taps[f, g, :counts[f], 1] = np.broadcast_to(shift.reshape(1, -1), planes.shape
                                                        ).reshape(-1)
            w_out, w_in = (outs, lanes) if forward else (lanes, outs)
            flat = ((g * cog + w_out) * cg + w_in) * kh * kw  # (j, o, i)
            flat = np.where(lanes < read, flat, -1)
            # (j, k, o, i): every kernel position of quad j
            full = flat[:, None, :, :] + tap_k[None, :, None, None]
            full = np.where(flat[:, None, :, :] < 0, zero, full)
            index[f, g, :counts[f], :result] = full.reshape(quads * k, result, 4)
    return frame, quads, read, taps, counts.reshape(sh, sw), index


def _packed_weights(w: np.ndarray, index: np.ndarray, flip: bool) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """The kernels' weight table (four int8 weights per int32, channel ``4j + i`` in byte
    ``i``) and the correction ``corr[f, g, o] = 128 * (sum of the weights of o's taps)`` (zero
    unless ``flip``)."""
    flat = np.zeros(w.size + 1, dtype=np.int8)
    flat[:-1] = w.reshape(-1)
    lanes = flat[index]  # (F, G, T, O, 4)
    packed = np.ascontiguousarray(lanes).view(np.int32).reshape(lanes.shape[:-1])
    corr = np.zeros(packed.shape[:2] + packed.shape[3:], dtype=np.int32)
    if flip:
        corr[...] = OFFSET * lanes.sum(axis=(2, 4), dtype=np.int64)
    return packed, corr


INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


NO_CODES = np.empty((0, 0, 0, 0), dtype=np.int8)  # no requantization in the output pass
NO_RULE = np.zeros(9, dtype=np.int64)


class Correlation(NamedTuple):
    """A correlation's exact sums (int32), their largest magnitude, and, when the output pass
    requantized them, the codes (int8: the target's low bytes) and how many were clamped."""

    sums: np.ndarray
    largest: int
    codes: np.ndarray | None = None
    clamped: int = 0


def _correlate(op: str, a: ByteOperand, w: np.ndarray, geom: ConvGeometry,
               out_shape: tuple[int, ...], rule: np.ndarray | None) -> Correlation:
    frame, quads, cg, taps, counts, index = _quad_plan(geom, op)
    out = np.empty(out_shape, dtype=np.int32)
    codes = NO_CODES if rule is None else np.empty(out_shape, dtype=np.int8)
    rows, tiles = _tiles(frame, out.shape[0], TILE, geom.macs)
    packed, corr = _packed_weights(w, index, a.flip)
    extremes = np.empty((thread_count(tiles), 3), dtype=np.int64)
    extremes[:] = INT32_MAX, INT32_MIN, 0
    run_balanced(kernels.correlate_parts, tiles, a.raw, a.flip, cg, quads, frame.layout(), taps,
                 counts, packed, corr, rows, frame.halo, out, codes,
                 NO_RULE if rule is None else rule, work=geom.macs, per_worker=(extremes,))
    largest = max(-int(extremes[:, 0].min()), int(extremes[:, 1].max())) if out.size else 0
    if rule is None:
        return Correlation(out, largest)
    return Correlation(out, largest, codes, int(extremes[:, 2].sum()))


def forward(x: ByteOperand, w: np.ndarray, geom: ConvGeometry,
            rule: np.ndarray | None = None) -> Correlation:
    """``conv2d`` of the bytes ``x`` with the int8 weights ``w``: the exact sums and their
    largest magnitude; with ``rule`` (:func:`~fxsim.numeric._convert_kernels.round_shift_args`
    of a target of at most 8 bits), also the sums requantized by it in the output pass."""
    return _correlate("forward", x, w, geom, geom.output_shape, rule)


def backward_input(grad: ByteOperand, w: np.ndarray, geom: ConvGeometry,
                   rule: np.ndarray | None = None) -> Correlation:
    """``conv2d_backward_input`` of the bytes ``grad`` with the int8 weights ``w``, as
    :func:`forward`."""
    return _correlate("backward_input", grad, w, geom, geom.input_shape, rule)


def backward_weight(x: ByteOperand, grad: np.ndarray, geom: ConvGeometry,
                    chunk: int) -> np.ndarray:
    """``conv2d_backward_weight`` of the bytes ``x`` and the int8 gradient ``grad``; tiles
    hold at most ``chunk`` positions (the plan's terms per exact 32-bit sum)."""
    frame, taps, gindex = weight_plan(geom)
    co, cg, kh, kw = geom.weight_shape
    groups, cog, cog_pad = geom.groups, co // geom.groups, gindex.shape[1]
    rows, tiles = _tiles(frame, geom.input_shape[0], min(WEIGHT_TILE, chunk), geom.macs,
                         WEIGHT_MIN_TILES)
    if rows * frame.cols.length > chunk:  # the plan admits no frame row longer than chunk
        raise AssertionError(f"internal error: int8 weight-gradient tiles of "
                             f"{rows * frame.cols.length} positions exceed {chunk}")
    workers = thread_count(tiles)
    total = np.zeros((workers, groups, cog_pad, taps.shape[2]), dtype=np.int64)
    run_balanced(kernels.weight_dots_parts, tiles, x.raw, x.flip, frame.layout(),
                 grad.view(np.uint8), gindex, taps[0], rows, frame.halo, work=geom.macs,
                 per_worker=(total,))
    summed = total.sum(axis=0)[:, :cog, :cg * kh * kw]
    if x.flip:  # each tap's total holds 128 * sum(grad) too
        grad_sums = grad.sum(axis=(0, 2, 3), dtype=np.int64).reshape(groups, cog, 1)
        summed = summed - OFFSET * grad_sums
    return np.ascontiguousarray(summed.reshape(co, cg, kh, kw))
