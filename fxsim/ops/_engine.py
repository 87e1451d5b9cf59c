"""The three products of a convolution on NCHW code arrays, through the direct kernels.

``kind`` is the arithmetic of a path of :mod:`fxsim.ops.paths` (``float32``, ``float64`` or
``int64``); the caller has checked that it is exact for the operands. Operands are NCHW/OIHW
arrays of any integer dtype (or float64 in float mode); they are packed once into padded NHWC
arrays of the kernel's dtype (one pass each), and the kernels write the result
in NCHW/OIHW directly: int64 codes (float32 and int64) or float64 (float64, which the caller
converts; that is also the float baseline).

backward_input with stride 1 is the forward kernel on the zero-padded gradient with the
kernel flipped and its channel axes swapped (a full correlation); with a larger stride (or a
padding larger than the dilated kernel) it is a gather over the outputs that read each input.
"""

from __future__ import annotations

import numpy as np

from fxsim.ops import _kernels_direct as kernels
from fxsim.ops._threads import bounds, run_parallel
from fxsim.ops.geometry import ConvGeometry

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
# What each kind writes: the float32 hot path writes int64 codes directly; float64 writes
# float64 (the float baseline's result, converted by the caller on the integer path), so
# that each kernel has only three compiled versions.
RESULTS = {"float32": np.int64, "float64": np.float64, "int64": np.int64}
PACK_INPUTS = (np.int8, np.int16, np.int64, np.float64)  # other code dtypes become int64
NO_FLUSH = 1 << 62
# The batch is cut into this many parts (fewer for smaller batches), each summed into its own
# total, whatever the thread count: the float baseline then adds in the same order for any
# number of threads, and the integer paths are exact anyway.
WEIGHT_PARTS = 8


def pack(x: np.ndarray, pad: tuple[int, int], dtype) -> np.ndarray:
    """NCHW ``x`` as NHWC of ``dtype`` with ``pad = (rows, columns)`` zeros on each side."""
    n, c, h, w = x.shape
    if x.dtype not in PACK_INPUTS:  # bounds the compiled versions of the pack kernel
        x = x.astype(np.int16 if x.dtype == np.uint8 else np.int64)
    x = np.ascontiguousarray(x)  # and so does one memory layout
    out = np.empty((n, h + 2 * pad[0], w + 2 * pad[1], c), dtype=dtype)
    run_parallel(kernels.pack_nhwc, n, x, pad[0], pad[1], out, work=x.size)
    return out


def _grouped(w: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """OIHW weights as ``(G, Cout_per_group, Cin_per_group, KH, KW)``."""
    co, cg, kh, kw = w.shape
    return w.reshape(geom.groups, co // geom.groups, cg, kh, kw)


def _rows(w5: np.ndarray, dtype) -> np.ndarray:
    """``(G, KH, KW, Cin, Cout)`` weights as contiguous ``(G, KH, KW * Cin, Cout)``."""
    g, kh, kw, cin, cout = w5.shape
    return np.ascontiguousarray(w5, dtype=dtype).reshape(g, kh, kw * cin, cout)


def forward(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, kind: str) -> np.ndarray:
    dtype = DTYPES[kind]
    wt = _rows(_grouped(w, geom).transpose(0, 3, 4, 2, 1), dtype)
    out = np.empty(geom.output_shape, dtype=RESULTS[kind])
    run_parallel(kernels.forward, out.shape[0] * out.shape[2], pack(x, geom.padding, dtype), wt,
                 *geom.stride, *geom.dilation, out, work=geom.macs)
    return out


def backward_input(grad: np.ndarray, w: np.ndarray, geom: ConvGeometry,
                   kind: str) -> np.ndarray:
    dtype = DTYPES[kind]
    kh, kw = geom.weight_shape[2:]
    (ph, pw), (dh, dw) = geom.padding, geom.dilation
    full_pad = (dh * (kh - 1) - ph, dw * (kw - 1) - pw)
    out = np.empty(geom.input_shape, dtype=RESULTS[kind])
    grouped = _grouped(w, geom)
    if geom.stride == (1, 1) and min(full_pad) >= 0:
        wt = _rows(grouped[..., ::-1, ::-1].transpose(0, 3, 4, 1, 2), dtype)
        run_parallel(kernels.forward, out.shape[0] * out.shape[2], pack(grad, full_pad, dtype),
                     wt, 1, 1, dh, dw, out, work=geom.macs)
        return out
    wt = np.ascontiguousarray(grouped.transpose(0, 3, 4, 1, 2), dtype=dtype)
    run_parallel(kernels.backward_input, out.shape[0] * out.shape[2], pack(grad, (0, 0), dtype),
                 wt, *geom.stride, ph, pw, dh, dw, out, work=geom.macs)
    return out


def backward_weight(x: np.ndarray, grad: np.ndarray, geom: ConvGeometry, kind: str,
                    chunk: int | None = None) -> np.ndarray:
    """``chunk``: products per float32 partial sum (see :func:`kernels.backward_weight`)."""
    dtype = DTYPES[kind]
    co, cg, kh, kw = geom.weight_shape
    groups = geom.groups
    n = geom.input_shape[0]
    parts = bounds(n, min(n, WEIGHT_PARTS))
    total_dtype = np.int64 if kind == "int64" else np.float64
    total = np.zeros((len(parts), groups, kh, kw * cg, co // groups), dtype=total_dtype)
    flush = max(chunk, 4) if kind == "float32" and chunk else NO_FLUSH
    xp, gp = pack(x, geom.padding, dtype), pack(grad, (0, 0), dtype)
    run_parallel(_weight_part, len(parts), kernels.backward_weight, xp, gp, geom, flush, total,
                 parts, work=geom.macs)
    summed = total.sum(axis=0).reshape(groups, kh, kw, cg, co // groups)
    return np.ascontiguousarray(summed.transpose(0, 4, 3, 1, 2).reshape(co, cg, kh, kw),
                                dtype=RESULTS[kind])


def _weight_part(kernel, xp, gp, geom, flush, total, parts, start, stop):
    """Images of parts ``start..stop`` into their own totals (one part per thread)."""
    for part in range(start, stop):
        kernel(xp, gp, *geom.stride, *geom.dilation, flush, total[part], *parts[part])
