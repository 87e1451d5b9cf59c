"""Direct convolution kernels on padded NHWC arrays, vectorised over channels.

One kernel per product, each compiled per array dtype: float32 and float64 (exact while the
caller's bound holds: every partial sum is an integer the float represents exactly, so the
order of the adds, and fusing a multiply with an add, change nothing) and int64 (exact modulo
2**64). Inner loops run over a channel axis so that LLVM vectorises them; each accumulator
update adds four products (four reduction steps, or four pixels), and each weight or
gradient value loaded serves four pixels, which cuts the loads and stores per multiply-add.
(The loops are written out in each kernel: calls to helper kernels in the inner loops are not
inlined and cost two to four times the time.)

Layouts: activations ``xp (N, Hp, Wp, C)`` zero-padded NHWC; gradients ``gp (N, OH, OW, Co)``
NHWC; weights ``wt (G, KH, KW * Cin_per_group, Cout_per_group)`` (rows in ``(kj, ci)``
order). Results are written to NCHW (or, for the weight gradient, total) arrays of the
caller's dtype. Kernels are serial and ``nogil``; :mod:`fxsim.ops._threads` runs them over
``(start, stop)`` job ranges on several threads.

The reduction over a kernel row is over ``(kj, ci)``. When the dilation along the width is 1
and there is one group (``flat``), those ``KW * C`` inputs of a pixel are contiguous in the
NHWC row, and the kernels run over them as one axis; else they run over each ``kj`` apart.
"""

from __future__ import annotations

import numba
import numpy as np

FASTMATH = {"contract"}  # fused multiply-add: exact on these integer-valued sums


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


@numba.njit(nogil=True, cache=True, fastmath=FASTMATH)
def forward(xp, wt, sh, sw, dh, dw, out, start, stop):  # pragma: no cover - compiled
    """``out[n, g*Cog + o, i, j] = sum over (ki, kj, ci) of
    xp[n, i*sh + ki*dh, j*sw + kj*dw, g*Cg + ci] * w[g*Cog + o, ci, ki, kj]`` for the output
    rows ``start <= n * OH + i < stop`` (``wt`` as in the module docstring)."""
    c_total = xp.shape[3]
    groups, kh, kwcg, cog = wt.shape
    _, co_total, oh_total, ow_total = out.shape
    cg = c_total // groups
    kw = kwcg // cg
    flat = dw == 1 and groups == 1
    steps, seg = (1, kwcg) if flat else (kw, cg)
    seg4 = seg - seg % 4
    full = ow_total - ow_total % 4
    step = sw * c_total
    for job in range(start, stop):
        n = job // oh_total
        oh = job - n * oh_total
        acc = np.zeros((ow_total, co_total), dtype=xp.dtype)
        for g in range(groups):
            o0 = g * cog
            for ow in range(0, full, 4):
                a0, a1, a2, a3 = acc[ow], acc[ow + 1], acc[ow + 2], acc[ow + 3]
                for ki in range(kh):
                    xrow = xp[n, oh * sh + ki * dh].reshape(-1)
                    for kj in range(steps):
                        wseg = wt[g, ki, kj * seg:(kj + 1) * seg]
                        b0 = ow * step + kj * dw * c_total + g * cg
                        b1, b2, b3 = b0 + step, b0 + 2 * step, b0 + 3 * step
                        for t in range(0, seg4, 4):
                            x00, x01 = xrow[b0 + t], xrow[b0 + t + 1]
                            x02, x03 = xrow[b0 + t + 2], xrow[b0 + t + 3]
                            x10, x11 = xrow[b1 + t], xrow[b1 + t + 1]
                            x12, x13 = xrow[b1 + t + 2], xrow[b1 + t + 3]
                            x20, x21 = xrow[b2 + t], xrow[b2 + t + 1]
                            x22, x23 = xrow[b2 + t + 2], xrow[b2 + t + 3]
                            x30, x31 = xrow[b3 + t], xrow[b3 + t + 1]
                            x32, x33 = xrow[b3 + t + 2], xrow[b3 + t + 3]
                            w0, w1, w2, w3 = wseg[t], wseg[t + 1], wseg[t + 2], wseg[t + 3]
                            for o in range(cog):
                                v0, v1, v2, v3 = w0[o], w1[o], w2[o], w3[o]
                                a0[o0 + o] += x00 * v0 + x01 * v1 + x02 * v2 + x03 * v3
                                a1[o0 + o] += x10 * v0 + x11 * v1 + x12 * v2 + x13 * v3
                                a2[o0 + o] += x20 * v0 + x21 * v1 + x22 * v2 + x23 * v3
                                a3[o0 + o] += x30 * v0 + x31 * v1 + x32 * v2 + x33 * v3
                        for t in range(seg4, seg):
                            x0, x1, x2, x3 = xrow[b0 + t], xrow[b1 + t], xrow[b2 + t], xrow[b3 + t]
                            w0 = wseg[t]
                            for o in range(cog):
                                v = w0[o]
                                a0[o0 + o] += x0 * v
                                a1[o0 + o] += x1 * v
                                a2[o0 + o] += x2 * v
                                a3[o0 + o] += x3 * v
            for ow in range(full, ow_total):
                a0 = acc[ow]
                for ki in range(kh):
                    xrow = xp[n, oh * sh + ki * dh].reshape(-1)
                    for kj in range(steps):
                        wseg = wt[g, ki, kj * seg:(kj + 1) * seg]
                        b0 = ow * step + kj * dw * c_total + g * cg
                        for t in range(seg):
                            x0 = xrow[b0 + t]
                            w0 = wseg[t]
                            for o in range(cog):
                                a0[o0 + o] += x0 * w0[o]
        for o in range(co_total):
            for ow in range(ow_total):
                out[n, o, oh, ow] = acc[ow, o]


@numba.njit(nogil=True, cache=True, fastmath=FASTMATH)
def backward_input(gp, wt, sh, sw, ph, pw, dh, dw, out, start,
                   stop):  # pragma: no cover - compiled
    """``out[n, g*Cg + ci, h, w] = sum over (o, ki, kj) of gp[n, i, j, g*Cog + o] *
    wt[g, ki, kj, o, ci]`` over the outputs ``(i, j)`` with ``i*sh - ph + ki*dh == h`` and
    ``j*sw - pw + kj*dw == w`` (a gather: any stride), for the input rows
    ``start <= n * H + h < stop``. Here ``wt`` is ``(G, KH, KW, Cog, Cg)``."""
    _, oh_total, ow_total, _ = gp.shape
    groups, kh, kw, cog, cg = wt.shape
    _, c_total, h_total, w_total = out.shape
    cog4 = cog - cog % 4
    for job in range(start, stop):
        n = job // h_total
        ih = job - n * h_total
        acc = np.zeros((w_total, c_total), dtype=gp.dtype)
        for ki in range(kh):
            t = ih + ph - ki * dh
            if t < 0 or t % sh != 0 or t // sh >= oh_total:
                continue
            grow = gp[n, t // sh]
            for iw in range(w_total):
                a = acc[iw]
                for kj in range(kw):
                    u = iw + pw - kj * dw
                    if u < 0 or u % sw != 0 or u // sw >= ow_total:
                        continue
                    gv = grow[u // sw]
                    for g in range(groups):
                        c0, o0 = g * cg, g * cog
                        wk = wt[g, ki, kj]
                        for o in range(0, cog4, 4):
                            g0, g1 = gv[o0 + o], gv[o0 + o + 1]
                            g2, g3 = gv[o0 + o + 2], gv[o0 + o + 3]
                            w0, w1, w2, w3 = wk[o], wk[o + 1], wk[o + 2], wk[o + 3]
                            for ci in range(cg):
                                a[c0 + ci] += (g0 * w0[ci] + g1 * w1[ci] + g2 * w2[ci]
                                               + g3 * w3[ci])
                        for o in range(cog4, cog):
                            g0 = gv[o0 + o]
                            w0 = wk[o]
                            for ci in range(cg):
                                a[c0 + ci] += g0 * w0[ci]
        for c in range(c_total):
            for iw in range(w_total):
                out[n, c, ih, iw] = acc[iw, c]


@numba.njit(nogil=True, cache=True, fastmath=FASTMATH)
def backward_weight(xp, gp, sh, sw, dh, dw, flush, total, start,
                    stop):  # pragma: no cover - compiled
    """``total[g, ki, (kj, ci), o] += sum over (n, i, j) of
    xp[n, i*sh + ki*dh, j*sw + kj*dw, g*Cg + ci] * gp[n, i, j, g*Cog + o]`` over the images
    ``start <= n < stop`` (``total`` shaped like ``wt``).

    Products are summed in ``xp``'s dtype and added into ``total`` (float64 or int64) at the
    latest after ``flush`` products per element, which keeps float32 sums exact.
    """
    c_total = xp.shape[3]
    _, oh_total, ow_total, _ = gp.shape
    groups, kh, kwcg, cog = total.shape
    cg = c_total // groups
    kw = kwcg // cg
    flat = dw == 1 and groups == 1
    steps, seg = (1, kwcg) if flat else (kw, cg)
    step = sw * c_total
    acc = np.zeros(total.shape, dtype=xp.dtype)
    count = 0
    for n in range(start, stop):
        for oh in range(oh_total):
            grow = gp[n, oh]
            for ow in range(0, ow_total, 4):
                if count + 4 > flush:
                    _add_into(total, acc)
                    count = 0
                count += 4
                pixels = min(4, ow_total - ow)
                for ki in range(kh):
                    xrow = xp[n, oh * sh + ki * dh].reshape(-1)
                    for g in range(groups):
                        o0 = g * cog
                        for kj in range(steps):
                            b0 = ow * step + kj * dw * c_total + g * cg
                            a = acc[g, ki, kj * seg:(kj + 1) * seg]
                            if pixels == 4:
                                g0, g1, g2, g3 = grow[ow], grow[ow + 1], grow[ow + 2], grow[ow + 3]
                                b1, b2, b3 = b0 + step, b0 + 2 * step, b0 + 3 * step
                                for t in range(seg):
                                    x0, x1, x2, x3 = (xrow[b0 + t], xrow[b1 + t], xrow[b2 + t],
                                                      xrow[b3 + t])
                                    at = a[t]
                                    for o in range(cog):
                                        at[o] += (x0 * g0[o0 + o] + x1 * g1[o0 + o]
                                                  + x2 * g2[o0 + o] + x3 * g3[o0 + o])
                            else:
                                for p in range(pixels):
                                    gq = grow[ow + p]
                                    bq = b0 + p * step
                                    for t in range(seg):
                                        xq = xrow[bq + t]
                                        at = a[t]
                                        for o in range(cog):
                                            at[o] += xq * gq[o0 + o]
    _add_into(total, acc)


@numba.njit(nogil=True, cache=True)
def _add_into(total, acc):  # pragma: no cover - compiled
    """``total += acc; acc = 0`` (same shapes, contiguous)."""
    t, a = total.reshape(-1), acc.reshape(-1)
    for i in range(a.size):
        t[i] += a[i]
        a[i] = 0
