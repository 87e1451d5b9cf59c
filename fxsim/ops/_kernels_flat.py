"""Convolution kernels on flat frames (:mod:`fxsim.ops._frame`): sums of shifted planes.

Each kernel is compiled per plane dtype: float32 and float64 (exact while the caller's bound
holds: every partial sum is an integer the float represents exactly, so the order of the adds,
and fusing a multiply with an add, change nothing) and int64 (exact modulo 2**64). The inner
loops run over plane positions, which LLVM vectorises; they keep a block of ``P = 4`` result
planes (or, for the weight gradient, ``4 x 3`` sums) in registers and add ``R = 3`` taps per
pass, so that each loaded vector serves three or four multiply-adds. The caller pads tap
lists to a multiple of three and result channels to a multiple of four with zero weights
(padding taps read plane 0 at shift 0).

Tables, for result phase ``f`` and group ``g``: ``taps[f, g, t] = (plane, shift)``,
``counts[f]`` taps in use (a multiple of three), ``wt[f, g, t, o]`` the weight of tap ``t`` for
result channel ``o`` of the group. Kernels are serial and ``nogil``; :mod:`fxsim.numeric.threads`
runs them over ``(start, stop)`` job ranges on several threads. (Calls to helper kernels in the
inner loops are not inlined and cost two to four times the time, so loops are written out.)
"""

from __future__ import annotations

import numba
import numpy as np

FASTMATH = {"contract"}  # fused multiply-add: exact on these integer-valued sums
# The weight gradient's dot products reassociate (vector partial sums): exact as above, every
# partial sum being a sum of some of the products of one chunk.
FASTMATH_DOTS = {"contract", "reassoc"}
P, R = 4, 3  # result planes per block, taps per pass
# The correlation's passes run over a multiple of this many positions (its vector loops then
# have no scalar remainder); the few positions past a tile read earlier codes or zeros and
# are dropped.
SPAN = 8
# Operands reach the kernels as bytes with a code: 0 int8, 1 uint8 (activation and gradient
# codes, read directly), 2 the kernel's own dtype (other operands are converted first). Each
# kernel then has one compiled version per arithmetic (float32, float64, int64).
BYTE_CODES = {np.dtype(np.int8): 0, np.dtype(np.uint8): 1}
OWN_DTYPE = 2


@numba.njit(nogil=True, cache=True)
def fill_rows(raw, code, top, left, sh, sw, rows, cols, row0, count, buf):  # pragma: no cover
    """:func:`fill_typed` of the NCHW operand whose bytes are ``raw`` (``(N, C, H, W *
    itemsize)`` uint8) and whose dtype has ``code`` (see :data:`BYTE_CODES`)."""
    if code == 0:
        fill_typed(raw.view(np.int8), top, left, sh, sw, rows, cols, row0, count, buf)
    elif code == 1:
        fill_typed(raw, top, left, sh, sw, rows, cols, row0, count, buf)
    else:
        fill_typed(raw.view(buf.dtype), top, left, sh, sw, rows, cols, row0, count, buf)


@numba.njit(nogil=True, cache=True)
def fill_typed(x, top, left, sh, sw, rows, cols, row0, count, buf):  # pragma: no cover
    """Frame rows ``row0 .. row0 + count`` of the planes of NCHW ``x`` into the first ``count *
    cols`` positions of each plane of ``buf (C * sh * sw, positions)``: row ``r`` of plane
    ``(c * sh + a) * sw + b`` holds, at position ``k``, the input at padded ``(sh * (r % rows) +
    a, sw * k + b)`` of image ``r // rows`` (``top`` and ``left`` zero rows and columns of
    padding), or zero outside the input and past the last image. (Each plane is zeroed in bulk
    and then gets its data rows: zeroing the padding row by row costs library calls.)"""
    n_total, c_total, h_total, w_total = x.shape
    n0 = row0 // rows
    for c in range(c_total):
        for a in range(sh):
            for b in range(sw):
                plane = buf[(c * sh + a) * sw + b]
                for k in range(count * cols):
                    plane[k] = 0
                k_lo = min(cols, max(0, -((b - left) // sw)))  # first k with sw*k+b >= left
                k_hi = max(k_lo, min(cols, -((b - left - w_total) // sw)))  # past the input
                first = k_lo * sw + b - left
                n, r = n0, row0 - n0 * rows
                for i in range(count):
                    h = r * sh + a - top
                    if n < n_total and 0 <= h < h_total:
                        # views keep the indices nonnegative (no wraparound: vectorised)
                        data = plane[i * cols + k_lo:i * cols + k_hi]
                        if sw == 1:  # a contiguous view: vector loads
                            src = x[n, c, h, first:]
                            for k in range(k_hi - k_lo):
                                data[k] = src[k]
                        else:  # scalar (a vectorised strided copy is slower here)
                            row = x[n, c, h]
                            for k in range(k_hi - k_lo):
                                data[k] = row[first + k * sw]
                    r += 1
                    if r == rows:  # no division per row
                        r, n = 0, n + 1


@numba.njit(nogil=True, cache=True, fastmath=FASTMATH)
def correlate(x, code, layout, taps, counts, wt, chunk, rows_per_tile, halo, out, start,
              stop):  # pragma: no cover - compiled
    """``result[f, g*Cog + o][q] = sum over t < counts[f] of wt[f, g, t, o] *
    planes[taps[f, g, t, 0], q + taps[f, g, t, 1]]`` for the positions ``q`` of the frame rows
    in tiles ``start..stop`` (``rows_per_tile`` rows each), written to ``out (N, C_out, H_out,
    W_out)`` at ``(n, sh' * r + a, sw' * k + b)`` for result phase ``f = a * sw' + b`` where
    that is inside ``out`` (``(sh', sw')`` is ``counts``' shape). ``planes`` are those of the
    operand ``(x, code)`` in ``layout = (top, left, sh, sw, rows, cols)`` (:func:`fill_rows`),
    filled per tile with ``halo`` rows more (at least the largest shift), in ``wt``'s dtype.
    Sums of ``chunk`` taps (a multiple of three) are formed in that dtype and added in ``out``'s
    dtype, which keeps float32 sums exact for a ``chunk`` within the caller's bound."""
    top, left, sh, sw, rows, cols = layout
    phase_rows, phase_cols = counts.shape
    _, groups, _, cog_pad = wt.shape
    n_total, c_total, h_total, w_total = out.shape
    cog = c_total // groups
    row_total = n_total * rows
    planes = np.zeros((x.shape[1] * sh * sw, (rows_per_tile + halo) * cols + SPAN),
                      dtype=wt.dtype)
    acc = np.empty((P, rows_per_tile * cols + SPAN), dtype=wt.dtype)
    for tile in range(start, stop):
        r0 = tile * rows_per_tile
        r1 = min(r0 + rows_per_tile, row_total)
        length = (r1 - r0) * cols
        span = -(-length // SPAN) * SPAN
        fill_rows(x, code, top, left, sh, sw, rows, cols, r0, r1 - r0 + halo, planes)
        for a in range(phase_rows):
            for b in range(phase_cols):
                f = a * phase_cols + b
                cols_out = min(cols, (w_total - b + phase_cols - 1) // phase_cols)
                for g in range(groups):
                    tg, wg = taps[f, g], wt[f, g]
                    for part in range(max(1, -(-counts[a, b] // chunk))):  # >= 1: zeros
                        t0, t1 = part * chunk, min((part + 1) * chunk, counts[a, b])
                        for ob in range(0, cog_pad, P):
                            acc[:, :span] = 0
                            a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
                            for t in range(t0, t1, R):
                                x0 = planes[tg[t, 0], tg[t, 1]:]
                                x1 = planes[tg[t + 1, 0], tg[t + 1, 1]:]
                                x2 = planes[tg[t + 2, 0], tg[t + 2, 1]:]
                                w0, w1, w2 = wg[t, ob:], wg[t + 1, ob:], wg[t + 2, ob:]
                                v00, v01, v02 = w0[0], w1[0], w2[0]
                                v10, v11, v12 = w0[1], w1[1], w2[1]
                                v20, v21, v22 = w0[2], w1[2], w2[2]
                                v30, v31, v32 = w0[3], w1[3], w2[3]
                                for q in range(span):
                                    y0, y1, y2 = x0[q], x1[q], x2[q]
                                    a0[q] = a0[q] + v00 * y0 + v01 * y1 + v02 * y2
                                    a1[q] = a1[q] + v10 * y0 + v11 * y1 + v12 * y2
                                    a2[q] = a2[q] + v20 * y0 + v21 * y1 + v22 * y2
                                    a3[q] = a3[q] + v30 * y0 + v31 * y1 + v32 * y2
                            for p in range(min(P, cog - ob)):
                                channel = g * cog + ob + p
                                for r in range(r0, r1):
                                    n = r // rows
                                    h = (r - n * rows) * phase_rows + a
                                    if h < h_total:
                                        src = acc[p, (r - r0) * cols:]
                                        if phase_cols == 1:  # contiguous: vector stores
                                            dest = out[n, channel, h]
                                            if part == 0:
                                                for k in range(cols_out):
                                                    dest[k] = src[k]
                                            else:
                                                for k in range(cols_out):
                                                    dest[k] += src[k]
                                        else:
                                            strided = out[n, channel, h, b::phase_cols]
                                            if part == 0:
                                                for k in range(cols_out):
                                                    strided[k] = src[k]
                                            else:
                                                for k in range(cols_out):
                                                    strided[k] += src[k]


@numba.njit(nogil=True, cache=True, fastmath=FASTMATH_DOTS)
def weight_dots(x, code, layout, grad, grad_code, gindex, taps, zero, rows_per_tile, halo, chunk,
                total, start, stop):  # pragma: no cover - compiled
    """``total[g, o, t] += sum over q of grads[gindex[g, o], q] * planes[taps[g, t, 0], q +
    taps[g, t, 1]]`` over the positions ``q`` of the frame rows in tiles ``start..stop``
    (``rows_per_tile`` rows each). ``planes`` are those of ``x`` in ``layout`` (as in
    :func:`correlate`, ``halo`` rows more per tile), ``grads`` those of ``grad`` in the same
    frame without padding or phases (each image's outputs at the top left of its block, zero
    elsewhere), both in the dtype of ``zero`` (a one-element zero array). Sums of at most
    ``chunk`` positions are formed in that dtype and added into ``total`` (float64 or int64),
    which keeps float32 sums exact for a ``chunk`` within the caller's bound."""
    top, left, sh, sw, rows, cols = layout
    groups, cog_pad, t_pad = total.shape
    row_total = x.shape[0] * rows
    planes = np.empty((x.shape[1] * sh * sw, (rows_per_tile + halo) * cols), dtype=zero.dtype)
    grads = np.empty((grad.shape[1], rows_per_tile * cols), dtype=zero.dtype)
    s0 = zero[0]
    for tile in range(start, stop):
        r0 = tile * rows_per_tile
        r1 = min(r0 + rows_per_tile, row_total)
        length = (r1 - r0) * cols
        for side in range(2):  # one call site: the fill is compiled in once, not twice
            src, src_code, src_layout, count, buf = (
                (x, code, (top, left, sh, sw), r1 - r0 + halo, planes) if side == 0 else
                (grad, grad_code, (0, 0, 1, 1), r1 - r0, grads))
            fill_rows(src, src_code, *src_layout, rows, cols, r0, count, buf)
        for q0 in range(0, length, chunk):
            q1 = min(q0 + chunk, length)
            for g in range(groups):
                tg, gi, tot = taps[g], gindex[g], total[g]
                for ob in range(0, cog_pad, P):
                    h0, h1 = grads[gi[ob], q0:q1], grads[gi[ob + 1], q0:q1]
                    h2, h3 = grads[gi[ob + 2], q0:q1], grads[gi[ob + 3], q0:q1]
                    for t in range(0, t_pad, R):
                        x0 = planes[tg[t, 0], q0 + tg[t, 1]:]
                        x1 = planes[tg[t + 1, 0], q0 + tg[t + 1, 1]:]
                        x2 = planes[tg[t + 2, 0], q0 + tg[t + 2, 1]:]
                        s00, s01, s02, s10, s11, s12 = s0, s0, s0, s0, s0, s0
                        s20, s21, s22, s30, s31, s32 = s0, s0, s0, s0, s0, s0
                        for q in range(q1 - q0):
                            y0, y1, y2 = x0[q], x1[q], x2[q]
                            e0, e1, e2, e3 = h0[q], h1[q], h2[q], h3[q]
                            s00 += e0 * y0
                            s01 += e0 * y1
                            s02 += e0 * y2
                            s10 += e1 * y0
                            s11 += e1 * y1
                            s12 += e1 * y2
                            s20 += e2 * y0
                            s21 += e2 * y1
                            s22 += e2 * y2
                            s30 += e3 * y0
                            s31 += e3 * y1
                            s32 += e3 * y2
                        tot[ob, t] += s00
                        tot[ob, t + 1] += s01
                        tot[ob, t + 2] += s02
                        tot[ob + 1, t] += s10
                        tot[ob + 1, t + 1] += s11
                        tot[ob + 1, t + 2] += s12
                        tot[ob + 2, t] += s20
                        tot[ob + 2, t + 1] += s21
                        tot[ob + 2, t + 2] += s22
                        tot[ob + 3, t] += s30
                        tot[ob + 3, t + 1] += s31
                        tot[ob + 3, t + 2] += s32
