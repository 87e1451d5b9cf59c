"""Sequential kernels: one output at a time, adding products in the documented order.

These model a narrow saturating accumulator (an output-stationary MAC array): after every add
the register is clamped to ``[lo, hi]``, and each clamp is counted. Orders (outermost first):

* forward: input channel, kernel row, kernel column;
* backward_input: output channel, kernel row, kernel column;
* backward_weight: batch, output row, output column.

Positions in the zero padding (or, for backward_input, taps no output reaches) add nothing and
are skipped: adding zero to an in-range register changes nothing. Operands are int64 NCHW/OIHW
arrays; ``out`` and ``events`` (clamps per output) are written in place for the jobs
``start..stop`` (forward: ``(n, co)`` planes; backward_input: ``(n, c)`` planes;
backward_weight: ``(co, ci)`` kernels). Outputs are independent, so the result does not depend
on the thread count.
"""

from __future__ import annotations

import numba


@numba.njit(nogil=True, cache=True)
def _add(acc, term, lo, hi):  # pragma: no cover - compiled
    acc += term
    if acc > hi:
        return hi, 1
    if acc < lo:
        return lo, 1
    return acc, 0


@numba.njit(nogil=True, cache=True)
def forward_seq(x, w, sh, sw, ph, pw, dh, dw, groups, lo, hi, out, events, start,
                stop):  # pragma: no cover
    _n_batch, _, h, wd = x.shape
    co_total, cg, kh, kw = w.shape
    _, _, oh_total, ow_total = out.shape
    cog = co_total // groups
    for job in range(start, stop):
        n, co = job // co_total, job % co_total
        c0 = (co // cog) * cg
        for oh in range(oh_total):
            for ow in range(ow_total):
                acc, ev = 0, 0
                for ci in range(cg):
                    for ki in range(kh):
                        ih = oh * sh - ph + ki * dh
                        if ih < 0 or ih >= h:
                            continue
                        for kj in range(kw):
                            iw = ow * sw - pw + kj * dw
                            if iw < 0 or iw >= wd:
                                continue
                            acc, e = _add(acc, x[n, c0 + ci, ih, iw] * w[co, ci, ki, kj], lo, hi)
                            ev += e
                out[n, co, oh, ow] = acc
                events[n, co, oh, ow] = ev


@numba.njit(nogil=True, cache=True)
def backward_input_seq(grad, w, sh, sw, ph, pw, dh, dw, groups, lo, hi, out, events, start,
                       stop):  # pragma: no cover
    _n_batch, c_total, h, wd = out.shape
    _, _, oh_total, ow_total = grad.shape
    co_total, cg, kh, kw = w.shape
    cog = co_total // groups
    for job in range(start, stop):
        n, c = job // c_total, job % c_total
        grp, ci = c // cg, c % cg
        for ih in range(h):
            for iw in range(wd):
                acc, ev = 0, 0
                for co in range(grp * cog, (grp + 1) * cog):
                    for ki in range(kh):
                        t = ih + ph - ki * dh
                        if t < 0 or t % sh != 0 or t // sh >= oh_total:
                            continue
                        oh = t // sh
                        for kj in range(kw):
                            u = iw + pw - kj * dw
                            if u < 0 or u % sw != 0 or u // sw >= ow_total:
                                continue
                            acc, e = _add(acc, grad[n, co, oh, u // sw] * w[co, ci, ki, kj],
                                          lo, hi)
                            ev += e
                out[n, c, ih, iw] = acc
                events[n, c, ih, iw] = ev


@numba.njit(nogil=True, cache=True)
def backward_weight_seq(x, grad, sh, sw, ph, pw, dh, dw, groups, lo, hi, out, events, start,
                        stop):  # pragma: no cover
    n_batch, _, h, wd = x.shape
    _, _, oh_total, ow_total = grad.shape
    co_total, cg, kh, kw = out.shape
    cog = co_total // groups
    for job in range(start, stop):
        co, ci = job // cg, job % cg
        c = (co // cog) * cg + ci
        for ki in range(kh):
            for kj in range(kw):
                acc, ev = 0, 0
                for n in range(n_batch):
                    for oh in range(oh_total):
                        ih = oh * sh - ph + ki * dh
                        if ih < 0 or ih >= h:
                            continue
                        for ow in range(ow_total):
                            iw = ow * sw - pw + kj * dw
                            if iw < 0 or iw >= wd:
                                continue
                            acc, e = _add(acc, grad[n, co, oh, ow] * x[n, c, ih, iw], lo, hi)
                            ev += e
                out[co, ci, ki, kj] = acc
                events[co, ci, ki, kj] = ev
