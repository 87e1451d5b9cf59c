"""Convolution kernels of the ``int8`` path: byte codes multiplied in 32-bit lanes by the byte
dot product of :mod:`fxsim.ops._simd` (``vpdpbusd``: 64 multiply-adds per instruction).

The frames are those of the flat-frame kernels (:mod:`fxsim.ops._frame`,
:mod:`fxsim.ops._kernels_flat`); only the planes' element and the register blocking differ.
The dot product multiplies an *unsigned* byte by a *signed* one, four at a time:

* the operand read as shifted planes (``x`` forward and in the weight gradient, the output
  gradient for the input gradient) is the unsigned side. Signed codes are stored as
  ``code + 128`` (the byte ``code ^ 0x80``; the zeros of the padding become 128 too), and the
  excess ``128 * sum(other operand)`` is subtracted exactly afterwards (``flip``);
* the correlation (forward and input gradient) stores four channels per position
  ("quad planes": a uint32 per position holding channels ``4j .. 4j + 3`` of one conv group,
  channels past the group's end zero), so that one dot product sums four channels of one tap
  for 16 positions; a tap of the tables is then a (channel quad, kernel position) pair and its
  weight the 4 packed weight bytes. Each pass keeps ``4 result channels x 64 positions`` in 16
  registers over all the taps of the result phase;
* the weight gradient dots byte planes along the positions: each lane sums 4 consecutive
  positions, ``4 gradient channels x 3 taps`` sums in 12 registers over the tile.

Lanes are computed modulo 2**32; the plan (:mod:`fxsim.ops.paths`, path ``int8``) admits the
path only where every sum a lane or a lane total stands for is below 2**31 in magnitude, so
every result is exact. Kernels are serial and ``nogil``, over a range of tiles; their
``_parts`` forms take tile ranges one by one, the drivers that
:func:`fxsim.numeric.threads.run_balanced` runs on several threads.
"""

from __future__ import annotations

import numba
import numpy as np

from fxsim.numeric._convert_kernels import round_shift_saturate
from fxsim.numeric._spin import end_part, start_parts, take_part
from fxsim.ops._simd import (
    LANES,
    VECTOR_BYTES,
    vbroadcast,
    vdot4,
    vload,
    vsplat,
    vstore,
    vsub,
    vsum,
    vzero,
)

P = 4  # result channels per pass (both kernels)
BLOCK = 4 * LANES  # positions per correlation pass: four vectors
R = 3  # taps per weight-gradient pass
QUAD_FLIP = 0x80808080  # the byte 0x80 added to four signed codes (XOR of each sign bit)


@numba.njit(nogil=True, cache=True, inline="always")
def column_range(b, left, sw, cols, w_total):  # pragma: no cover - compiled
    """``(k_lo, k_hi, first)``: the positions ``k_lo <= k < k_hi`` of a plane row of column
    phase ``b`` that hold input columns (``sw * k + b - left`` inside ``0 .. w_total``), and
    the input column of ``k_lo``."""
    k_lo = min(cols, max(0, -((b - left) // sw)))
    k_hi = max(k_lo, min(cols, -((b - left - w_total) // sw)))
    return k_lo, k_hi, k_lo * sw + b - left


@numba.njit(nogil=True, cache=True)
def fill_quads(x, flip, cg, quads, top, left, sh, sw, rows, cols, row0, count,
               buf):  # pragma: no cover - compiled
    """Frame rows ``row0 .. row0 + count`` of the quad planes of the NCHW bytes ``x`` into the
    first ``count * cols`` positions of each plane of ``buf (groups * quads * sh * sw,
    positions)`` uint32: plane ``((g * quads + j) * sh + a) * sw + b`` holds at position ``k`` of
    row ``r`` the bytes of channels ``g * cg + 4j + i`` (``i < 4``, those below ``cg``) at
    padded ``(sh * (r % rows) + a, sw * k + b)`` of image ``r // rows``, byte ``i`` from the
    bottom, XOR ``flip`` (``0x80`` per byte for signed codes); ``flip`` itself outside the
    input (a zero code). With ``cg = quads = 1`` and a uint8 ``buf``: one channel per plane,
    the byte planes of the weight gradient."""
    n_total, c_total, h_total, w_total = x.shape
    groups = c_total // cg
    # flat arrays indexed by unsigned offsets: no views per row, no negative-index wraparound
    xf, bf = x.reshape(-1), buf.reshape(-1)
    positions = buf.shape[1]
    fill = np.uint32(QUAD_FLIP if flip else 0)
    plane_size = h_total * w_total
    n0 = row0 // rows
    for g in range(groups):
        for j in range(quads):
            c0 = g * cg + 4 * j
            valid = min(4, cg - 4 * j)
            # a channel past the group's end reads channel c0 again and is masked off
            d1 = np.uint64(plane_size if valid > 1 else 0)
            d2 = np.uint64(2 * plane_size if valid > 2 else 0)
            d3 = np.uint64(3 * plane_size if valid > 3 else 0)
            m1 = np.uint32(0xFF if valid > 1 else 0)
            m2 = np.uint32(0xFF if valid > 2 else 0)
            m3 = np.uint32(0xFF if valid > 3 else 0)
            for a in range(sh):
                for b in range(sw):
                    base = np.uint64((((g * quads + j) * sh + a) * sw + b) * positions)
                    for k in range(count * cols):
                        bf[base + np.uint64(k)] = fill
                    k_lo, k_hi, first = column_range(b, left, sw, cols, w_total)
                    n, r = n0, row0 - n0 * rows
                    for i in range(count):
                        h = r * sh + a - top
                        if n < n_total and 0 <= h < h_total:
                            src = np.uint64(((n * c_total + c0) * h_total + h) * w_total + first)
                            dst = base + np.uint64(i * cols + k_lo)
                            step = np.uint64(sw)
                            for k in range(k_hi - k_lo):
                                at = src + np.uint64(k) * step
                                bf[dst + np.uint64(k)] = (
                                    np.uint32(xf[at]) | ((np.uint32(xf[at + d1]) & m1) << 8)
                                    | ((np.uint32(xf[at + d2]) & m2) << 16)
                                    | ((np.uint32(xf[at + d3]) & m3) << 24)) ^ fill
                        r += 1
                        if r == rows:
                            r, n = 0, n + 1


@numba.njit(nogil=True, cache=True, inline="always")
def store_row(acc, src, out, codes, dst, step, count, low, high, clamped, rounding,
              rule):  # pragma: no cover - compiled
    """Store ``acc[src + k]`` at ``out[dst + k * step]`` for ``k < count``, lowering ``low`` and
    raising ``high`` to the values' extremes; if ``rounding``, also each value requantized by
    :func:`~fxsim.numeric._convert_kernels.round_shift_saturate` with ``rule`` into
    ``codes[dst + k * step]``, counting the clamped ones into ``clamped``. Returns ``(low,
    high, clamped)``. Two loops, so that the plain one stays as short as it was."""
    if not rounding:
        for k in range(count):
            v = acc[src + np.uint64(k)]
            out[dst + np.uint64(k) * step] = v
            low = min(low, v)
            high = max(high, v)
        return low, high, clamped
    s, low_mask, t_pos, t_neg, tie_up, tie_odd, tie_nonneg, lo, hi = (
        rule[0], rule[1], rule[2], rule[3], rule[4], rule[5], rule[6], rule[7], rule[8])
    for k in range(count):
        v = acc[src + np.uint64(k)]
        at = dst + np.uint64(k) * step
        out[at] = v
        low = min(low, v)
        high = max(high, v)
        code, event = round_shift_saturate(np.int64(v), s, low_mask, t_pos, t_neg, tie_up,
                                           tie_odd, tie_nonneg, lo, hi)
        codes[at] = code
        clamped += event
    return low, high, clamped


@numba.njit(nogil=True, cache=True)
def correlate(x, flip, cg, quads, layout, taps, counts, wt, corr, rows_per_tile, halo, out,
              codes, rule, extremes, start, stop):  # pragma: no cover - compiled
    """The flat-frame correlation of :func:`fxsim.ops._kernels_flat.correlate` on quad planes:
    ``result[f, g*Cog + o][q] = sum over t < counts[f] of dot4(planes[taps[f, g, t, 0]][q +
    taps[f, g, t, 1]], wt[f, g, t, o]) - corr[f, g, o]`` for the tiles ``start..stop``, written
    to ``out (N, C_out, H_out, W_out)`` as that kernel does. ``x``: the NCHW operand's bytes
    (uint8), ``flip``/``cg``/``quads`` as in :func:`fill_quads`; ``wt`` int32, each the four
    weight bytes of a tap (channel ``4j + i`` in byte ``i``); ``corr`` int32, ``128 *`` the sum
    of the weight bytes of the result phase's taps when ``flip`` (else zero). ``out`` is int32;
    ``extremes`` (int64) gets the smallest and the largest result written (its ``[0]`` and
    ``[1]`` lowered and raised): the range statistics of the result, found in the output pass.
    If ``codes`` (int8, ``out``'s size; else empty) is given, each result is also requantized
    into it by :func:`fxsim.numeric._convert_kernels.round_shift_saturate` with the arguments
    ``rule`` (:func:`~fxsim.numeric._convert_kernels.round_shift_args`), the clamped ones
    counted in ``extremes[2]``: the output pass of :mod:`fxsim.numeric.fused`."""
    top, left, sh, sw, rows, cols = layout
    phase_rows, phase_cols = counts.shape
    _, groups, _, cog_pad = wt.shape
    n_total, c_total, h_total, w_total = out.shape
    cog = c_total // groups
    row_total = n_total * rows
    plane_count = groups * quads * sh * sw
    positions = (rows_per_tile + halo) * cols + BLOCK
    planes = np.zeros((plane_count, positions), dtype=np.uint32)
    flat = planes.reshape(-1)
    weights = wt.reshape(-1)
    span_max = -(-rows_per_tile * cols // BLOCK) * BLOCK
    acc = np.empty((P, span_max), dtype=np.int32)
    # flat arrays indexed by unsigned offsets: no views per row, no negative-index wraparound
    acc_flat, out_flat, codes_flat = acc.reshape(-1), out.reshape(-1), codes.reshape(-1)
    low, high = np.int32(extremes[0]), np.int32(extremes[1])
    rounding = codes.size > 0
    clamped = np.int64(0)
    for tile in range(start, stop):
        r0 = tile * rows_per_tile
        r1 = min(r0 + rows_per_tile, row_total)
        length = (r1 - r0) * cols
        span = -(-length // BLOCK) * BLOCK
        fill_quads(x, flip, cg, quads, top, left, sh, sw, rows, cols, r0, r1 - r0 + halo,
                   planes)
        for a in range(phase_rows):
            for b in range(phase_cols):
                f = a * phase_cols + b
                cols_out = min(cols, (w_total - b + phase_cols - 1) // phase_cols)
                count = counts[a, b]
                for g in range(groups):
                    tg = taps[f, g]
                    w_base = (f * groups + g) * wt.shape[2] * cog_pad
                    for ob in range(0, cog_pad, P):
                        c0 = vsplat(corr[f, g, ob])
                        c1 = vsplat(corr[f, g, ob + 1])
                        c2 = vsplat(corr[f, g, ob + 2])
                        c3 = vsplat(corr[f, g, ob + 3])
                        for q0 in range(0, span, BLOCK):
                            a00, a01, a02, a03 = vzero(), vzero(), vzero(), vzero()
                            a10, a11, a12, a13 = vzero(), vzero(), vzero(), vzero()
                            a20, a21, a22, a23 = vzero(), vzero(), vzero(), vzero()
                            a30, a31, a32, a33 = vzero(), vzero(), vzero(), vzero()
                            for t in range(count):
                                at = 4 * (tg[t, 0] * positions + tg[t, 1] + q0)
                                y0 = vload(flat, at)
                                y1 = vload(flat, at + VECTOR_BYTES)
                                y2 = vload(flat, at + 2 * VECTOR_BYTES)
                                y3 = vload(flat, at + 3 * VECTOR_BYTES)
                                wa = 4 * (w_base + t * cog_pad + ob)
                                v0 = vbroadcast(weights, wa)
                                v1 = vbroadcast(weights, wa + 4)
                                v2 = vbroadcast(weights, wa + 8)
                                v3 = vbroadcast(weights, wa + 12)
                                a00 = vdot4(a00, y0, v0)
                                a01 = vdot4(a01, y1, v0)
                                a02 = vdot4(a02, y2, v0)
                                a03 = vdot4(a03, y3, v0)
                                a10 = vdot4(a10, y0, v1)
                                a11 = vdot4(a11, y1, v1)
                                a12 = vdot4(a12, y2, v1)
                                a13 = vdot4(a13, y3, v1)
                                a20 = vdot4(a20, y0, v2)
                                a21 = vdot4(a21, y1, v2)
                                a22 = vdot4(a22, y2, v2)
                                a23 = vdot4(a23, y3, v2)
                                a30 = vdot4(a30, y0, v3)
                                a31 = vdot4(a31, y1, v3)
                                a32 = vdot4(a32, y2, v3)
                                a33 = vdot4(a33, y3, v3)
                            acc_row = acc[0]
                            vstore(acc_row, q0, vsub(a00, c0))
                            vstore(acc_row, q0 + LANES, vsub(a01, c0))
                            vstore(acc_row, q0 + 2 * LANES, vsub(a02, c0))
                            vstore(acc_row, q0 + 3 * LANES, vsub(a03, c0))
                            acc_row = acc[1]
                            vstore(acc_row, q0, vsub(a10, c1))
                            vstore(acc_row, q0 + LANES, vsub(a11, c1))
                            vstore(acc_row, q0 + 2 * LANES, vsub(a12, c1))
                            vstore(acc_row, q0 + 3 * LANES, vsub(a13, c1))
                            acc_row = acc[2]
                            vstore(acc_row, q0, vsub(a20, c2))
                            vstore(acc_row, q0 + LANES, vsub(a21, c2))
                            vstore(acc_row, q0 + 2 * LANES, vsub(a22, c2))
                            vstore(acc_row, q0 + 3 * LANES, vsub(a23, c2))
                            acc_row = acc[3]
                            vstore(acc_row, q0, vsub(a30, c3))
                            vstore(acc_row, q0 + LANES, vsub(a31, c3))
                            vstore(acc_row, q0 + 2 * LANES, vsub(a32, c3))
                            vstore(acc_row, q0 + 3 * LANES, vsub(a33, c3))
                        for p in range(min(P, cog - ob)):
                            channel = g * cog + ob + p
                            for r in range(r0, r1):
                                n = r // rows
                                h = (r - n * rows) * phase_rows + a
                                if h < h_total:
                                    src = np.uint64(p * span_max + (r - r0) * cols)
                                    dst = np.uint64(((n * c_total + channel) * h_total + h)
                                                    * w_total + b)
                                    low, high, clamped = store_row(
                                        acc_flat, src, out_flat, codes_flat, dst,
                                        np.uint64(phase_cols), cols_out, low, high, clamped,
                                        rounding, rule)
    extremes[0] = min(extremes[0], low)
    extremes[1] = max(extremes[1], high)
    extremes[2] += clamped


@numba.njit(nogil=True, cache=True)
def weight_dots(x, flip, layout, grad, gindex, taps, rows_per_tile, halo, total, start,
                stop):  # pragma: no cover - compiled
    """``total[g, o, t] += sum over q of grads[gindex[g, o], q] * planes[taps[g, t, 0], q +
    taps[g, t, 1]]`` over the positions of the tiles ``start..stop``, as
    :func:`fxsim.ops._kernels_flat.weight_dots` computes it, on byte planes: ``planes`` those of
    ``x`` (unsigned bytes: signed codes XOR ``flip``), ``grads`` those of ``grad`` (signed
    bytes), each tile's sums exact in 32-bit lanes (the caller's bound) and added into the int64
    ``total``. With ``flip`` the totals exceed the products' sums by ``128 * sum(grads)``,
    which the caller subtracts."""
    top, left, sh, sw, rows, cols = layout
    groups, cog_pad, t_pad = total.shape
    row_total = x.shape[0] * rows
    span_max = -(-rows_per_tile * cols // VECTOR_BYTES) * VECTOR_BYTES
    positions = (rows_per_tile + halo) * cols + span_max
    planes = np.zeros((x.shape[1] * sh * sw, positions), dtype=np.uint8)
    grads = np.zeros((grad.shape[1], span_max), dtype=np.uint8)
    flat = planes.reshape(-1)
    flat_grads = grads.reshape(-1)
    for tile in range(start, stop):
        r0 = tile * rows_per_tile
        r1 = min(r0 + rows_per_tile, row_total)
        length = (r1 - r0) * cols
        span = -(-length // VECTOR_BYTES) * VECTOR_BYTES
        for side in range(2):  # one call site: the fill is compiled in once, not twice
            src, side_flip, src_layout, count, buf = (
                (x, flip, (top, left, sh, sw), r1 - r0 + halo, planes) if side == 0 else
                (grad, False, (0, 0, 1, 1), r1 - r0, grads))
            # byte planes: quads of one channel, the buffer keeping each value's low byte
            fill_quads(src, side_flip, 1, 1, *src_layout, rows, cols, r0, count, buf)
        for c in range(grads.shape[0]):
            row = grads[c]
            for k in range(span - length):
                row[length + k] = 0
        for g in range(groups):
            tg, gi, tot = taps[g], gindex[g], total[g]
            for ob in range(0, cog_pad, P):
                e_at0, e_at1 = gi[ob] * span_max, gi[ob + 1] * span_max
                e_at2, e_at3 = gi[ob + 2] * span_max, gi[ob + 3] * span_max
                for t in range(0, t_pad, R):
                    y_at0 = tg[t, 0] * positions + tg[t, 1]
                    y_at1 = tg[t + 1, 0] * positions + tg[t + 1, 1]
                    y_at2 = tg[t + 2, 0] * positions + tg[t + 2, 1]
                    s00, s01, s02 = vzero(), vzero(), vzero()
                    s10, s11, s12 = vzero(), vzero(), vzero()
                    s20, s21, s22 = vzero(), vzero(), vzero()
                    s30, s31, s32 = vzero(), vzero(), vzero()
                    for q in range(0, span, VECTOR_BYTES):
                        y0 = vload(flat, y_at0 + q)
                        y1 = vload(flat, y_at1 + q)
                        y2 = vload(flat, y_at2 + q)
                        e0 = vload(flat_grads, e_at0 + q)
                        e1 = vload(flat_grads, e_at1 + q)
                        e2 = vload(flat_grads, e_at2 + q)
                        e3 = vload(flat_grads, e_at3 + q)
                        s00 = vdot4(s00, y0, e0)
                        s01 = vdot4(s01, y1, e0)
                        s02 = vdot4(s02, y2, e0)
                        s10 = vdot4(s10, y0, e1)
                        s11 = vdot4(s11, y1, e1)
                        s12 = vdot4(s12, y2, e1)
                        s20 = vdot4(s20, y0, e2)
                        s21 = vdot4(s21, y1, e2)
                        s22 = vdot4(s22, y2, e2)
                        s30 = vdot4(s30, y0, e3)
                        s31 = vdot4(s31, y1, e3)
                        s32 = vdot4(s32, y2, e3)
                    tot[ob, t] += vsum(s00)
                    tot[ob, t + 1] += vsum(s01)
                    tot[ob, t + 2] += vsum(s02)
                    tot[ob + 1, t] += vsum(s10)
                    tot[ob + 1, t + 1] += vsum(s11)
                    tot[ob + 1, t + 2] += vsum(s12)
                    tot[ob + 2, t] += vsum(s20)
                    tot[ob + 2, t + 1] += vsum(s21)
                    tot[ob + 2, t + 2] += vsum(s22)
                    tot[ob + 3, t] += vsum(s30)
                    tot[ob + 3, t + 1] += vsum(s31)
                    tot[ob + 3, t + 2] += vsum(s32)


@numba.njit(nogil=True, cache=True)
def correlate_parts(x, flip, cg, quads, layout, taps, counts, wt, corr, rows_per_tile, halo, out,
                    codes, rule, extremes, parts, progress, go):  # pragma: no cover - compiled
    """:func:`correlate` over the tile ranges ``parts[j]`` that this thread takes: the driver
    of :func:`fxsim.numeric.threads.run_balanced`."""
    start_parts(go)
    while True:
        j = take_part(progress, parts.shape[0])
        if j < 0:
            return
        correlate(x, flip, cg, quads, layout, taps, counts, wt, corr, rows_per_tile, halo, out,
                  codes, rule, extremes, parts[j, 0], parts[j, 1])
        end_part(progress)


@numba.njit(nogil=True, cache=True)
def weight_dots_parts(x, flip, layout, grad, gindex, taps, rows_per_tile, halo, total, parts,
                      progress, go):  # pragma: no cover - compiled
    """:func:`weight_dots` over the tile ranges ``parts[j]`` that this thread takes: the
    driver of :func:`fxsim.numeric.threads.run_balanced`."""
    start_parts(go)
    while True:
        j = take_part(progress, parts.shape[0])
        if j < 0:
            return
        weight_dots(x, flip, layout, grad, gindex, taps, rows_per_tile, halo, total,
                    parts[j, 0], parts[j, 1])
        end_part(progress)
