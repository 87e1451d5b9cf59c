"""Slow, obviously correct references of fxsim.ops, in Python ints, for the tests only.

Each function loops over outputs and adds products in the order fxsim.ops documents, into a
register that is exact (``bits=None``), saturates at every add, or wraps at every add. Inputs
are nested-list-like integer arrays (numpy arrays are read element by element and converted to
Python ints, so nothing overflows). Returns ``(values, saturated outputs, events)`` with
``values`` a numpy object array of Python ints.
"""

from __future__ import annotations

import numpy as np


class Register:
    """One accumulator: exact, or ``bits`` wide with ``overflow`` applied at every add."""

    def __init__(self, bits: int | None, overflow: str):
        self.bits, self.overflow = bits, overflow
        self.value, self.events = 0, 0

    def add(self, term: int) -> None:
        v = self.value + term
        if self.bits is not None:
            lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
            if v > hi or v < lo:
                self.events += 1
                if self.overflow == "saturate":
                    v = hi if v > hi else lo
                else:
                    v = (v - lo) % (1 << self.bits) + lo
        self.value = v


def _ints(a) -> np.ndarray:
    return np.array(np.asarray(a).tolist(), dtype=object)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _run(shape, terms_of, bits, overflow):
    out = np.empty(shape, dtype=object)
    saturated = events = 0
    for index in np.ndindex(*shape):
        reg = Register(bits, overflow)
        for term in terms_of(*index):
            reg.add(term)
        out[index] = reg.value
        saturated += reg.events > 0
        events += reg.events
    return out, saturated, events


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1, bits=None, overflow="saturate"):
    """Forward, order (ci, ki, kj)."""
    x, w = _ints(x), _ints(w)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, _c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(wd, kw, sw, pw, dw)
    cog = co // groups

    def terms(b, o, i, j):
        for ci in range(cg):
            for ki in range(kh):
                for kj in range(kw):
                    ih, iw = i * sh - ph + ki * dh, j * sw - pw + kj * dw
                    if 0 <= ih < h and 0 <= iw < wd:
                        yield x[b, (o // cog) * cg + ci, ih, iw] * w[o, ci, ki, kj]

    return _run((n, co, oh, ow), terms, bits, overflow)


def conv2d_backward_input(g, w, input_shape, stride=1, padding=0, dilation=1, groups=1,
                          bits=None, overflow="saturate"):
    """Gradient w.r.t. the input, order (co, ki, kj)."""
    g, w = _ints(g), _ints(w)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    _, _, oh, ow = g.shape
    co, cg, kh, kw = w.shape
    cog = co // groups

    def terms(b, c, ih, iw):
        grp, ci = divmod(c, cg)
        for o in range(grp * cog, (grp + 1) * cog):
            for ki in range(kh):
                for kj in range(kw):
                    i, ri = divmod(ih + ph - ki * dh, sh)
                    j, rj = divmod(iw + pw - kj * dw, sw)
                    if ri == 0 and rj == 0 and 0 <= i < oh and 0 <= j < ow:
                        yield g[b, o, i, j] * w[o, ci, ki, kj]

    return _run(tuple(input_shape), terms, bits, overflow)


def conv2d_backward_weight(x, g, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                           bits=None, overflow="saturate"):
    """Gradient w.r.t. the weight, order (n, i, j)."""
    x, g = _ints(x), _ints(g)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, _, h, wd = x.shape
    _, _, oh, ow = g.shape
    co, cg, _, _ = weight_shape
    cog = co // groups

    def terms(o, ci, ki, kj):
        c = (o // cog) * cg + ci
        for b in range(n):
            for i in range(oh):
                for j in range(ow):
                    ih, iw = i * sh - ph + ki * dh, j * sw - pw + kj * dw
                    if 0 <= ih < h and 0 <= iw < wd:
                        yield g[b, o, i, j] * x[b, c, ih, iw]

    return _run(tuple(weight_shape), terms, bits, overflow)


def pool_windows(shape, kernel, stride, padding):
    """Yield ``(out index, [(ih, iw) of the window inside the input, row-major])``."""
    n, c, h, w = shape
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(stride if stride is not None else kernel)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    for b, ch, i, j in np.ndindex(n, c, oh, ow):
        cells = [(i * sh - ph + a, j * sw - pw + e) for a in range(kh) for e in range(kw)]
        yield (b, ch, i, j), [(r, q) for r, q in cells if 0 <= r < h and 0 <= q < w]


def pool_out_shape(shape, kernel, stride, padding):
    n, c, h, w = shape
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(stride if stride is not None else kernel)
    return n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def max_pool2d(x, kernel, stride=None, padding=0):
    """``(max codes, flat indices)``, the first maximum in row-major window order."""
    x = _ints(x)
    shape = pool_out_shape(x.shape, kernel, stride, padding)
    out, idx = np.empty(shape, dtype=object), np.empty(shape, dtype=object)
    for (b, ch, i, j), cells in pool_windows(x.shape, kernel, stride, padding):
        best = max(cells, key=lambda rc: (x[b, ch, rc[0], rc[1]], -rc[0], -rc[1]))
        out[b, ch, i, j] = x[b, ch, best[0], best[1]]
        idx[b, ch, i, j] = best[0] * x.shape[3] + best[1]
    return out, idx


def avg_pool2d_sum(x, kernel, stride=None, padding=0):
    """The window sums of codes (padding adds zero)."""
    x = _ints(x)
    out = np.empty(pool_out_shape(x.shape, kernel, stride, padding), dtype=object)
    for (b, ch, i, j), cells in pool_windows(x.shape, kernel, stride, padding):
        out[b, ch, i, j] = sum((x[b, ch, r, q] for r, q in cells), 0)
    return out


def avg_pool2d_backward_sum(g, input_shape, kernel, stride=None, padding=0):
    """Each input position: the sum of the gradient codes of the windows containing it."""
    g = _ints(g)
    out = np.zeros(tuple(input_shape), dtype=object)
    for (b, ch, i, j), cells in pool_windows(input_shape, kernel, stride, padding):
        for r, q in cells:
            out[b, ch, r, q] += g[b, ch, i, j]
    return out


def max_pool2d_backward(g, indices, input_shape):
    g, indices = _ints(g), _ints(indices)
    _n, _c, _h, w = input_shape
    out = np.zeros(tuple(input_shape), dtype=object)
    for b, ch, i, j in np.ndindex(*g.shape):
        r, q = divmod(indices[b, ch, i, j], w)
        out[b, ch, r, q] += g[b, ch, i, j]
    return out


def linear(x, w, bits=None, overflow="saturate"):
    """``y[n, o] = sum_i x[n, i] * w[o, i]``, order i."""
    x, w = _ints(x), _ints(w)
    return _run((x.shape[0], w.shape[0]),
                lambda b, o: (x[b, i] * w[o, i] for i in range(x.shape[1])), bits, overflow)


def linear_backward_input(g, w, bits=None, overflow="saturate"):
    """``gx[n, i] = sum_o g[n, o] * w[o, i]``, order o."""
    g, w = _ints(g), _ints(w)
    return _run((g.shape[0], w.shape[1]),
                lambda b, i: (g[b, o] * w[o, i] for o in range(w.shape[0])), bits, overflow)


def linear_backward_weight(x, g, bits=None, overflow="saturate"):
    """``gw[o, i] = sum_n g[n, o] * x[n, i]``, order n."""
    x, g = _ints(x), _ints(g)
    return _run((g.shape[1], x.shape[1]),
                lambda o, i: (g[b, o] * x[b, i] for b in range(x.shape[0])), bits, overflow)


def inner(a, b) -> int:
    """``<a, b>`` in Python ints."""
    return int(sum(p * q for p, q in zip(_ints(a).ravel(), _ints(b).ravel(), strict=True)))
