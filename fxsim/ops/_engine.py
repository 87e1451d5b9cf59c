"""The three products of a convolution on NCHW code arrays, through the flat-frame kernels.

``kind`` is the arithmetic of a path of :mod:`fxsim.ops.paths` (``float32``, ``float64`` or
``int64``); the caller has checked that it is exact for the operands. Operands are NCHW/OIHW
arrays of any integer dtype (or float64 in float mode). The kernels read them directly: each
tile of the frame (:mod:`fxsim.ops._frame`) fills its rows of the operand's planes, in the
kernel's dtype, into a buffer that stays in cache, and the kernels write the result in
NCHW/OIHW directly: int64 codes (float32 and int64) or float64 (float64, which the caller
converts; that is also the float baseline).

The forward product reads ``x`` in the stride's phases; the input gradient reads
``grad_out`` in one phase and writes the stride's phases of the input (any stride, padding
and dilation); the weight gradient sums, per weight, the products of the gradient planes and
the shifted input planes (dot products over the frame).
"""

from __future__ import annotations

import functools

import numpy as np

from fxsim.numeric.threads import SERIAL_WORK, bounds, run_parallel
from fxsim.ops import _kernels_flat as kernels
from fxsim.ops._frame import Frame, forward_frame, input_grad_frame
from fxsim.ops.geometry import ConvGeometry

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
# What each kind writes: float32 and int64 write the caller's integer dtype (int32 or int64)
# directly; float64 writes float64 (the float baseline's result, converted by the caller on
# the integer path).
RESULTS = {"float32": None, "float64": np.float64, "int64": None}  # None: the caller's dtype
TILE = 1024  # frame positions per tile (at least a row): four result planes stay in L1
MIN_TILES = 16  # smaller tiles on small frames when threads share the work
WEIGHT_TILE = 1024  # positions per weight-gradient tile (fewer: the float32 chunk)
# The weight gradient's tiles are cut into this many parts (fewer for fewer tiles), each
# summed into its own total, whatever the thread count: the float baseline then adds in the
# same order for any number of threads, and the integer paths are exact anyway.
WEIGHT_PARTS = 8


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _source(x: np.ndarray, kind: str) -> tuple[np.ndarray, int]:
    """``x`` as the kernels of ``kind`` read it: its bytes, ``(N, C, H, W * itemsize)`` uint8,
    and the code of its dtype (:data:`kernels.BYTE_CODES`; other dtypes are converted to the
    kernel's, exactly: the path's bound holds every code)."""
    code = kernels.BYTE_CODES.get(x.dtype, kernels.OWN_DTYPE)
    x = np.ascontiguousarray(x, dtype=None if code != kernels.OWN_DTYPE else DTYPES[kind])
    raw = x.reshape(-1).view(np.uint8).reshape(*x.shape[:3], x.shape[3] * x.itemsize)
    return raw, code


def _tap_grid(frame: Frame, a: int, b: int) -> tuple[np.ndarray, ...]:
    """Kernel rows and columns, plane phases and shifts of result phase ``(a, b)``'s taps,
    each as a ``(KH_a, KW_b)`` grid."""
    rows = np.array(frame.rows.taps[a], dtype=np.int64).reshape(-1, 3)
    cols = np.array(frame.cols.taps[b], dtype=np.int64).reshape(-1, 3)
    ki, kj = np.meshgrid(rows[:, 0], cols[:, 0], indexing="ij")
    phase = (rows[:, 1, None] * frame.cols.phases + cols[None, :, 1])
    shift = rows[:, 2, None] * frame.cols.length + cols[None, :, 2]
    return ki, kj, phase, shift


@functools.lru_cache(maxsize=256)
def _plan(geom: ConvGeometry, op: str) -> tuple[Frame, np.ndarray, np.ndarray, np.ndarray]:
    """``(frame, taps, counts, index)`` of ``op`` (``forward``, also the weight gradient's
    taps, or ``backward_input``): the kernels' tap tables and, for the weights
    ``wt[f, g, t, o] = flat[index[f, g, t, o]]``, indices into the flat OIHW weights with one
    zero appended (padding taps and result channels point at it)."""
    forward = op != "backward_input"
    frame = forward_frame(geom) if forward else input_grad_frame(geom)
    co, cg, kh, kw = geom.weight_shape
    groups = geom.groups
    cog = co // groups
    read, result = (cg, cog) if forward else (cog, cg)  # channels of taps, of results
    sh, sw = frame.result_phases
    grids = [_tap_grid(frame, a, b) for a in range(sh) for b in range(sw)]
    counts = [read * ki.size for ki, _, _, _ in grids]
    t_pad = _round_up(max(max(counts), 1), kernels.R)
    taps = np.zeros((len(grids), groups, t_pad, 2), dtype=np.int64)
    index = np.full((len(grids), groups, t_pad, _round_up(result, kernels.P)), co * cg * kh * kw,
                    dtype=np.int64)
    channel = np.arange(read)[:, None, None]
    for f, (ki, kj, phase, shift) in enumerate(grids):
        if counts[f] == 0:
            continue
        tap_c = np.broadcast_to(channel, (read, *ki.shape)).reshape(-1, 1)
        tap_k = (ki * kw + kj).reshape(1, -1).repeat(read, axis=0).reshape(-1, 1)
        results = np.arange(result)[None, :]
        for g in range(groups):
            taps[f, g, :counts[f], 0] = ((g * read + channel) * frame.operand_phases
                                         + phase).reshape(-1)
            taps[f, g, :counts[f], 1] = np.broadcast_to(shift, (read, *shift.shape)).reshape(-1)
            outs, ins = (results, tap_c) if forward else (tap_c, results)
            index[f, g, :counts[f], :result] = ((g * cog + outs) * cg + ins) * kh * kw + tap_k
    counts_pad = np.array([_round_up(count, kernels.R) for count in counts],
                          dtype=np.int64).reshape(sh, sw)
    return frame, taps, counts_pad, index


def _weights(w: np.ndarray, index: np.ndarray, dtype) -> np.ndarray:
    """The kernels' weight table: ``w``'s values at ``index`` (:func:`_plan`) in ``dtype``."""
    flat = np.zeros(w.size + 1, dtype=dtype)
    flat[:-1] = w.reshape(-1)
    return flat[index]


def _tiles(frame: Frame, n: int, tile: int, work: int,
           min_tiles: int = MIN_TILES) -> tuple[int, int]:
    """``(rows per tile, tiles)`` for ``n`` images: about ``tile`` positions per tile, but at
    least ``min_tiles`` tiles when ``work`` (multiply-adds) is shared by threads, unless
    that makes tiles shorter than four halos (each tile fills its halo rows too)."""
    total = n * frame.rows.length
    rows = max(1, tile // frame.cols.length)
    if work >= SERIAL_WORK:
        rows = max(min(rows, 4 * frame.halo), min(rows, total // min_tiles), 1)
    return rows, -(-total // rows)


def _tap_chunk(chunk: int | None, counts: np.ndarray) -> int:
    """Taps per partial sum of the correlation: all of them, or at most ``chunk`` (given
    only for a float32 reduction longer than it: the plan's terms per exact float32 sum), a
    multiple of three, the parts about equal."""
    most = int(counts.max())
    if chunk is None:
        return max(most, kernels.R)
    parts = -(-most // (chunk // kernels.R * kernels.R))
    return _round_up(-(-most // parts), kernels.R)


def _correlate(op: str, x: np.ndarray, w: np.ndarray, geom: ConvGeometry, kind: str,
               chunk: int | None, out_shape: tuple[int, ...], dtype) -> np.ndarray:
    frame, taps, counts, index = _plan(geom, op)
    out = np.empty(out_shape, dtype=RESULTS[kind] or dtype)
    work = geom.macs
    rows, tiles = _tiles(frame, out.shape[0], TILE, work)
    wt = _weights(w, index, DTYPES[kind])
    run_parallel(kernels.correlate, tiles, *_source(x, kind), frame.layout(), taps, counts, wt,
                 _tap_chunk(chunk, counts), rows, frame.halo, out, work=work)
    return out


def forward(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, kind: str,
            chunk: int | None = None, dtype=np.int64) -> np.ndarray:
    """``chunk``: terms per float32 partial sum, only when shorter than the reduction (else
    None; :class:`~fxsim.ops.paths.Plan`, :meth:`~fxsim.ops._mac.MacCall.run`); ``dtype``:
    the integer dtype of the result (float64 for ``kind="float64"``)."""
    return _correlate("forward", x, w, geom, kind, chunk, geom.output_shape, dtype)


def backward_input(grad: np.ndarray, w: np.ndarray, geom: ConvGeometry, kind: str,
                   chunk: int | None = None, dtype=np.int64) -> np.ndarray:
    """As :func:`forward`."""
    return _correlate("backward_input", grad, w, geom, kind, chunk, geom.input_shape, dtype)


def weight_plan(geom: ConvGeometry) -> tuple[Frame, np.ndarray, np.ndarray]:
    """``(frame, taps, gindex)`` of the weight gradient: the forward frame and taps, and
    ``gindex[g, o]`` the gradient channel of result ``o`` of group ``g`` (results padded to a
    multiple of :data:`kernels.P` with copies of the group's last channel, dropped after)."""
    frame, taps, _, _ = _plan(geom, "forward")
    co = geom.weight_shape[0]
    groups, cog = geom.groups, co // geom.groups
    cog_pad = _round_up(cog, kernels.P)
    gindex = (np.arange(groups)[:, None] * cog
              + np.minimum(np.arange(cog_pad), cog - 1)[None, :]).astype(np.int64)
    return frame, taps, gindex


def backward_weight(x: np.ndarray, grad: np.ndarray, geom: ConvGeometry, kind: str,
                    chunk: int | None = None, dtype=np.int64) -> np.ndarray:
    """As :func:`forward`."""
    frame, taps, gindex = weight_plan(geom)
    co, cg, kh, kw = geom.weight_shape
    groups, cog, cog_pad = geom.groups, co // geom.groups, gindex.shape[1]
    work = geom.macs
    rows, tiles = _tiles(frame, geom.input_shape[0], WEIGHT_TILE, work)
    sums = rows * frame.cols.length
    if chunk is not None:
        sums = min(sums, chunk)
    parts = bounds(tiles, min(tiles, WEIGHT_PARTS))
    total_dtype = np.int64 if kind == "int64" else np.float64
    total = np.zeros((len(parts), groups, cog_pad, taps.shape[2]), dtype=total_dtype)
    operands = (*_source(x, kind), frame.layout(), *_source(grad, kind))
    run_parallel(_weight_part, len(parts), *operands, gindex, taps[0], np.zeros(1, DTYPES[kind]),
                 rows, frame.halo, sums, total, parts, work=work)
    summed = total.sum(axis=0)[:, :cog, :cg * kh * kw]
    return np.ascontiguousarray(summed.reshape(co, cg, kh, kw), dtype=RESULTS[kind] or dtype)


def _weight_part(x, code, layout, grad, grad_code, gindex, taps, zero, rows, halo, sums, total,
                 parts, start, stop):
    """Tiles of parts ``start..stop`` into their own totals (one part per thread)."""
    for part in range(start, stop):
        kernels.weight_dots(x, code, layout, grad, grad_code, gindex, taps, zero, rows, halo,
                            sums, total[part], *parts[part])
