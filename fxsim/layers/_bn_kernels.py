"""Element-wise numba kernels of the batch-norm float island (:mod:`fxsim.layers.norm`): the
affine map of the forward and the input gradient, as deferred tensors
(:class:`~fxsim.numeric.deferred.DeferredFloat`) that their quantizers compute block by block.

Inputs are NCHW arrays of codes (int8, int16, int32, int64) or float64 values, each with the real
value of one code (``lsb``; 1.0 for floats): the kernels read ``value = code * lsb`` on the fly,
so no float copy of a tensor is made. The per-channel sums are in :mod:`fxsim.layers._bn_sums`.
"""

from __future__ import annotations

import numba
import numpy as np

from fxsim.numeric.deferred import DeferredFloat
from fxsim.numeric.formats import FxArray

KERNEL_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.float64)


def operand(x) -> tuple[np.ndarray, float]:
    """``(array, lsb)`` of codes or floats in one of :data:`KERNEL_DTYPES`, C-contiguous."""
    if isinstance(x, FxArray):
        raw, lsb = x.raw, x.lsb
        if raw.dtype not in KERNEL_DTYPES:
            raw = raw.astype(np.int64)
        return np.ascontiguousarray(raw), float(lsb)
    return np.ascontiguousarray(x, dtype=np.float64), 1.0


@numba.njit(cache=True, nogil=True)
def _affine_fill(x, scale, shift, relu, start, stop, step, out):  # pragma: no cover - compiled
    """Flat elements ``start, start + step, ... < stop`` of the affine map into ``out``."""
    _, c, h, w = x.shape
    plane_size = h * w
    flat = x.reshape(-1)
    if step == 1:  # runs of one plane: the channel's constants hoisted, a vector loop
        i = start
        while i < stop:
            plane = i // plane_size
            end = min(stop, (plane + 1) * plane_size)
            ch = plane % c
            a = scale[ch]
            s = shift[ch]
            run, codes = out[i - start:end - start], flat[i:end]
            for j in range(end - i):
                y = a * np.float64(codes[j]) + s
                run[j] = max(y, 0.0) if relu else y
            i = end
    else:
        for k in range(out.size):
            j = start + k * step
            ch = (j // plane_size) % c
            y = scale[ch] * np.float64(flat[j]) + shift[ch]
            out[k] = max(y, 0.0) if relu else y


def affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, relu: bool,
           extremes: tuple[np.ndarray, np.ndarray] | None = None) -> DeferredFloat:
    """``scale[c] * x + shift[c]`` (float64; ``scale`` already includes ``x``'s lsb), then
    ``max(., 0)`` if ``relu``, as a :class:`~fxsim.numeric.deferred.DeferredFloat`.
    ``extremes``: each channel's smallest and largest code; the map being monotone in the code
    (float multiplication by a constant and addition of a constant are), its ``max|y|`` is then
    found exactly from them, without the values."""

    def fill(start: int, stop: int, step: int, out: np.ndarray) -> None:
        _affine_fill(x, scale, shift, relu, start, stop, step, out)

    def largest() -> float:
        if x.size == 0:
            return 0.0
        lows, highs = extremes
        ends = np.stack([scale * lows + shift, scale * highs + shift])
        if relu:
            ends = np.maximum(ends, 0.0)
        return float(np.abs(ends).max())

    return DeferredFloat(x.shape, fill, largest if extremes is not None else None)


@numba.njit(cache=True, nogil=True, inline="always")
def _input_grad(v, gv, x_lsb, a, s, m, r, kc, db, dg, relu, count):  # pragma: no cover
    """One element of the input gradient (code ``v``, gradient value ``gv``, the channel's
    constants), as the batch-norm backward computes it (the ReLU mask as in
    :func:`fxsim.layers._bn_sums.backward_sums`)."""
    if relu and a * v + s <= 0.0:
        gv = 0.0
    xhat = (v * x_lsb - m) * r
    return kc * (count * gv - db - xhat * dg)


@numba.njit(cache=True, nogil=True)
def _input_grad_fill(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, k, count, dbeta,
                     dgamma, start, stop, step, out):  # pragma: no cover - compiled
    """Flat elements ``start, start + step, ... < stop`` of the input gradient into ``out``,
    in runs of one plane (the channel's constants hoisted; unit steps vectorise)."""
    _, c, h, w = x.shape
    plane_size = h * w
    xf, gf = x.reshape(-1), g.reshape(-1)
    o = 0
    i = start
    while i < stop:
        plane = i // plane_size
        end = min(stop, (plane + 1) * plane_size)
        ch = plane % c
        a, s, m, r = scale[ch], shift[ch], mean[ch], inv_std[ch]
        kc, db, dg = k[ch], dbeta[ch], dgamma[ch]
        if step == 1:
            run = out[o:o + end - i]
            xs, gs = xf[i:end], gf[i:end]
            for j in range(end - i):
                run[j] = _input_grad(np.float64(xs[j]), np.float64(gs[j]) * g_lsb, x_lsb, a, s,
                                     m, r, kc, db, dg, relu, count)
            o += end - i
            i = end
        else:
            for j in range(i, end, step):
                out[o] = _input_grad(np.float64(xf[j]), np.float64(gf[j]) * g_lsb, x_lsb, a, s,
                                     m, r, kc, db, dg, relu, count)
                o += 1
            i += -(-(end - i) // step) * step  # the first element of the next plane's run


def backward_input(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, k, count, dbeta,
                   dgamma) -> DeferredFloat:
    """``k[c] * (count * g' - dbeta[c] - xhat * dgamma[c])`` (the batch-norm input gradient,
    float64; ``g'`` and ``xhat`` as in :func:`fxsim.layers._bn_sums.backward_sums`), as a
    :class:`~fxsim.numeric.deferred.DeferredFloat`."""
    count = float(count)

    def fill(start: int, stop: int, step: int, out: np.ndarray) -> None:
        _input_grad_fill(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu, k, count,
                         dbeta, dgamma, start, stop, step, out)

    return DeferredFloat(x.shape, fill)
