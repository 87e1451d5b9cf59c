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
from numba import prange

BLOCK = 4  # output pixels per step in the forward and weight-gradient kernels


@numba.njit(parallel=True, cache=True)
def pack_nhwc(x, top, left, out):  # pragma: no cover - compiled
    """``out[n, top + h, left + w, c] = x[n, c, h, w]``; the rest of ``out`` is set to zero."""
    n_batch, c_total, h_total, w_total = x.shape
    for n in prange(n_batch):
        out[n] = 0
        for c in range(c_total):
            for h in range(h_total):
                for w in range(w_total):
                    out[n, top + h, left + w, c] = x[n, c, h, w]


@numba.njit(parallel=True, cache=True)
def forward(xp, wt, sh, sw, dh, dw, out):  # pragma: no cover - compiled
    """``out[n, g*Cog + o, i, j] = sum over (ki, kj, ci) of
    xp[n, i*sh + ki*dh, j*sw + kj*dw, g*Cg + ci] * wt[g, ki, kj, ci, o]``."""
    n_batch = xp.shape[0]
    groups, kh, kw, cg, cog = wt.shape
    _, co_total, oh_total, ow_total = out.shape
    full = ow_total - ow_total % 4
    for job in prange(n_batch * oh_total):
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


@numba.njit(parallel=True, cache=True)
def backward_input(gp, wt, sh, sw, ph, pw, dh, dw, out):  # pragma: no cover - compiled
    """``out[n, g*Cg + ci, h, w] = sum over (o, ki, kj) of gp[n, i, j, g*Cog + o] *
    wt[g, ki, kj, o, ci]`` over the outputs ``(i, j)`` with ``i*sh - ph + ki*dh == h`` and
    ``j*sw - pw + kj*dw == w`` (a gather: any stride)."""
    n_batch, oh_total, ow_total, _ = gp.shape
    groups, kh, kw, cog, cg = wt.shape
    _, c_total, h_total, w_total = out.shape
    for job in prange(n_batch * h_total):
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


@numba.njit(parallel=True, cache=True)
def backward_weight(xp, gp, sh, sw, dh, dw, flush, total):  # pragma: no cover - compiled
    """Per block ``b`` of the batch: ``total[b, g, ki, kj, ci, o] = sum over (n, i, j) of
    xp[n, i*sh + ki*dh, j*sw + kj*dw, g*Cg + ci] * gp[n, i, j, g*Cog + o]``.

    Products are summed in ``xp``'s dtype and added into ``total`` (float64 or int64) at the
    latest after ``flush`` products per element, which keeps float32 sums exact.
    """
    n_batch = xp.shape[0]
    _, oh_total, ow_total, _ = gp.shape
    blocks, groups, kh, kw, cg, cog = total.shape
    for b in prange(blocks):
        acc = np.zeros((groups, kh, kw, cg, cog), dtype=xp.dtype)
        count = 0
        for n in range(b * n_batch // blocks, (b + 1) * n_batch // blocks):
            for oh in range(oh_total):
                for ow in range(0, ow_total, 4):
                    if count + 4 > flush:
                        total[b] += acc
                        acc[:] = 0
                        count = 0
                    count += 4
                    if ow + 4 <= ow_total:
                        _weight_block(xp, gp, n, oh, ow, sh, sw, dh, dw, acc)
                    else:
                        for j in range(ow, ow_total):
                            _weight_pixel(xp, gp, n, oh, j, sh, sw, dh, dw, acc)
        total[b] += acc


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
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
