"""Direct convolution kernels on padded NHWC arrays, vectorised over channels.

One kernel per product, each compiled per array dtype: float32 and float64 (exact while the
caller's bound holds: every partial sum is an integer the float represents exactly, so the
order of the adds does not matter) and int64 (exact modulo 2**64). Inner loops run over the
innermost (channel) axis so that LLVM vectorises them; the forward and weight-gradient
kernels also work on four output pixels at a time, so each weight (or accumulator) loaded
serves four multiply-adds.

Layouts: activations ``xp (N, Hp, Wp, C)`` zero-padded NHWC; gradients ``gp (N, OH, OW, Co)``
NHWC; weights ``wt (G, KH, KW, Cin_per_group, Cout_per_group)``. Results are written to NCHW
(or, for the weight gradient, per-block totals) arrays of the caller's dtype.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 4  # output pixels per step in the forward and weight-gradient kernels


@numba.njit(nogil=True, cache=True)
def pack_nhwc(x, top, left, out, start, stop):  # pragma: no cover - compiled
    """``out[n, top + h, left + w, c] = x[n, c, h, w]`` for ``start <= n < stop``; the rest of
    those images is set to zero."""
    _, c_total, h_total, w_total = x.shape
    for n in range(start, stop):
        out[n] = 0
        for c in range(c_total):
            for h in range(h_total):
                for w in range(w_total):
                    out[n, top + h, left + w, c] = x[n, c, h, w]


@numba.njit(nogil=True, cache=True)
def forward(xp, wt, sh, sw, dh, dw, out, start, stop):  # pragma: no cover - compiled
    """``out[n, g*Cog + o, i, j] = sum over (ki, kj, ci) of
    xp[n, i*sh + ki*dh, j*sw + kj*dw, g*Cg + ci] * wt[g, ki, kj, ci, o]`` for the output rows
    ``start <= n * OH + i < stop``."""
    groups, kh, kw, cg, cog = wt.shape
    _, co_total, oh_total, ow_total = out.shape
    full = ow_total - ow_total % 4
    for job in range(start, stop):
        n = job // oh_total
        oh = job - n * oh_total
        acc = np.zeros((ow_total, co_total), dtype=xp.dtype)
        for g in range(groups):
            c0, o0 = g * cg, g * cog
            for ow in range(0, full, 4):
                for ki in range(kh):
                    ih = oh * sh + ki * dh
                    for kj in range(kw):
                        iw = ow * sw + kj * dw
                        for ci in range(cg):
                            x0 = xp[n, ih, iw, c0 + ci]
                            x1 = xp[n, ih, iw + sw, c0 + ci]
                            x2 = xp[n, ih, iw + 2 * sw, c0 + ci]
                            x3 = xp[n, ih, iw + 3 * sw, c0 + ci]
                            for o in range(cog):
                                wv = wt[g, ki, kj, ci, o]
                                acc[ow, o0 + o] += x0 * wv
                                acc[ow + 1, o0 + o] += x1 * wv
                                acc[ow + 2, o0 + o] += x2 * wv
                                acc[ow + 3, o0 + o] += x3 * wv
            for ow in range(full, ow_total):
                for ki in range(kh):
                    ih = oh * sh + ki * dh
                    for kj in range(kw):
                        iw = ow * sw + kj * dw
                        for ci in range(cg):
                            x0 = xp[n, ih, iw, c0 + ci]
                            for o in range(cog):
                                acc[ow, o0 + o] += x0 * wt[g, ki, kj, ci, o]
        for o in range(co_total):
            for ow in range(ow_total):
                out[n, o, oh, ow] = acc[ow, o]


@numba.njit(nogil=True, cache=True)
def backward_input(gp, wt, sh, sw, ph, pw, dh, dw, out, start,
                   stop):  # pragma: no cover - compiled
    """``out[n, g*Cg + ci, h, w] = sum over (o, ki, kj) of gp[n, i, j, g*Cog + o] *
    wt[g, ki, kj, o, ci]`` over the outputs ``(i, j)`` with ``i*sh - ph + ki*dh == h`` and
    ``j*sw - pw + kj*dw == w`` (a gather: any stride), for the input rows
    ``start <= n * H + h < stop``."""
    _, oh_total, ow_total, _ = gp.shape
    groups, kh, kw, cog, cg = wt.shape
    _, c_total, h_total, w_total = out.shape
    for job in range(start, stop):
        n = job // h_total
        ih = job - n * h_total
        acc = np.zeros((w_total, c_total), dtype=gp.dtype)
        for ki in range(kh):
            t = ih + ph - ki * dh
            if t < 0 or t % sh != 0 or t // sh >= oh_total:
                continue
            oh = t // sh
            for iw in range(w_total):
                for kj in range(kw):
                    u = iw + pw - kj * dw
                    if u < 0 or u % sw != 0 or u // sw >= ow_total:
                        continue
                    ow = u // sw
                    for g in range(groups):
                        c0 = g * cg
                        for o in range(cog):
                            gv = gp[n, oh, ow, g * cog + o]
                            for ci in range(cg):
                                acc[iw, c0 + ci] += gv * wt[g, ki, kj, o, ci]
        for c in range(c_total):
            for iw in range(w_total):
                out[n, c, ih, iw] = acc[iw, c]


@numba.njit(nogil=True, cache=True)
def backward_weight(xp, gp, sh, sw, dh, dw, flush, total, start,
                    stop):  # pragma: no cover - compiled
    """``total[g, ki, kj, ci, o] += sum over (n, i, j) of
    xp[n, i*sh + ki*dh, j*sw + kj*dw, g*Cg + ci] * gp[n, i, j, g*Cog + o]`` over the images
    ``start <= n < stop``.

    Products are summed in ``xp``'s dtype and added into ``total`` (float64 or int64) at the
    latest after ``flush`` products per element, which keeps float32 sums exact.
    """
    _, oh_total, ow_total, _ = gp.shape
    acc = np.zeros(total.shape, dtype=xp.dtype)
    count = 0
    for n in range(start, stop):
        for oh in range(oh_total):
            for ow in range(0, ow_total, 4):
                if count + 4 > flush:
                    _add_into(total, acc)
                    count = 0
                count += 4
                if ow + 4 <= ow_total:
                    _weight_block(xp, gp, n, oh, ow, sh, sw, dh, dw, acc)
                else:
                    for j in range(ow, ow_total):
                        _weight_pixel(xp, gp, n, oh, j, sh, sw, dh, dw, acc)
    _add_into(total, acc)


@numba.njit(nogil=True, cache=True)
def _add_into(total, acc):  # pragma: no cover - compiled
    """``total += acc; acc = 0`` (same shapes, contiguous)."""
    t, a = total.reshape(-1), acc.reshape(-1)
    for i in range(a.size):
        t[i] += a[i]
        a[i] = 0


@numba.njit(nogil=True, cache=True)
def _weight_block(xp, gp, n, oh, ow, sh, sw, dh, dw, acc):  # pragma: no cover - compiled
    groups, kh, kw, cg, cog = acc.shape
    for g in range(groups):
        c0, o0 = g * cg, g * cog
        for ki in range(kh):
            ih = oh * sh + ki * dh
            for kj in range(kw):
                iw = ow * sw + kj * dw
                for ci in range(cg):
                    x0 = xp[n, ih, iw, c0 + ci]
                    x1 = xp[n, ih, iw + sw, c0 + ci]
                    x2 = xp[n, ih, iw + 2 * sw, c0 + ci]
                    x3 = xp[n, ih, iw + 3 * sw, c0 + ci]
                    for o in range(cog):
                        acc[g, ki, kj, ci, o] += (x0 * gp[n, oh, ow, o0 + o]
                                                  + x1 * gp[n, oh, ow + 1, o0 + o]
                                                  + x2 * gp[n, oh, ow + 2, o0 + o]
                                                  + x3 * gp[n, oh, ow + 3, o0 + o])


@numba.njit(nogil=True, cache=True)
def _weight_pixel(xp, gp, n, oh, ow, sh, sw, dh, dw, acc):  # pragma: no cover - compiled
    groups, kh, kw, cg, cog = acc.shape
    for g in range(groups):
        c0, o0 = g * cg, g * cog
        for ki in range(kh):
            ih = oh * sh + ki * dh
            for kj in range(kw):
                iw = ow * sw + kj * dw
                for ci in range(cg):
                    x0 = xp[n, ih, iw, c0 + ci]
                    for o in range(cog):
                        acc[g, ki, kj, ci, o] += x0 * gp[n, oh, ow, o0 + o]
