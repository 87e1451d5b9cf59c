"""The three products of a convolution on code arrays, by im2col and GEMM in one dtype.

``kind`` is a path of :mod:`fxsim.ops.paths` (``float32``, ``float64`` or ``int64``); the caller
has checked that it is exact for the operands. Inputs are NCHW/OIHW arrays of any integer or
float dtype; results are float64 (float paths) or int64 arrays, NCHW/OIHW.
"""

from __future__ import annotations

import numpy as np

from fxsim.ops import _im2col
from fxsim.ops._kernels_gemm import matmul_int64
from fxsim.ops.geometry import ConvGeometry

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
RESULT_DTYPES = {"float32": np.float64, "float64": np.float64, "int64": np.int64}


def gemm(a: np.ndarray, b: np.ndarray, kind: str, chunk: int | None = None) -> np.ndarray:
    """``a @ b`` exactly, in ``kind``. float32 products over more than ``chunk`` terms are cut
    into chunks along the reduction and added in float64."""
    if kind == "int64":
        return matmul_int64(np.ascontiguousarray(a), np.ascontiguousarray(b))
    if kind == "float32" and chunk is not None and a.shape[1] > chunk:
        out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float64)
        for start in range(0, a.shape[1], chunk):
            out += a[:, start:start + chunk] @ b[start:start + chunk]
        return out
    return np.matmul(a, b)


def _groups(geom: ConvGeometry):
    """``(group, input channel slice, output channel slice)`` per group."""
    c, co, g = geom.input_shape[1], geom.weight_shape[0], geom.groups
    cg, cog = c // g, co // g
    for i in range(g):
        yield slice(i * cg, (i + 1) * cg), slice(i * cog, (i + 1) * cog)


def forward(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, kind: str) -> np.ndarray:
    dtype = DTYPES[kind]
    n, co, oh, ow = geom.output_shape
    cols = _im2col.im2col(x, geom, dtype)
    w_mat = _im2col.weight_matrix(w, dtype)
    out = np.empty((n, oh, ow, co), dtype=RESULT_DTYPES[kind])
    rows = n * oh * ow
    for cin, cout in _groups(geom):
        a = np.ascontiguousarray(cols[..., cin]).reshape(rows, -1)
        out[..., cout] = gemm(a, w_mat[cout].T, kind).reshape(n, oh, ow, -1)
    return out.transpose(0, 3, 1, 2)


def backward_input(grad: np.ndarray, w: np.ndarray, geom: ConvGeometry, kind: str) -> np.ndarray:
    dtype = DTYPES[kind]
    n, co, oh, ow = geom.output_shape
    c = geom.input_shape[1]
    kh, kw = geom.weight_shape[2:]
    g_rows = np.ascontiguousarray(grad.transpose(0, 2, 3, 1), dtype=dtype).reshape(-1, co)
    w_mat = _im2col.weight_matrix(w, dtype)
    dcols = np.empty((n, oh, ow, kh, kw, c), dtype=RESULT_DTYPES[kind])
    for cin, cout in _groups(geom):
        part = gemm(np.ascontiguousarray(g_rows[:, cout]), w_mat[cout], kind)
        dcols[..., cin] = part.reshape(n, oh, ow, kh, kw, -1)
    return _im2col.col2im(dcols, geom, RESULT_DTYPES[kind])


def backward_weight(x: np.ndarray, grad: np.ndarray, geom: ConvGeometry, kind: str,
                    chunk: int | None = None) -> np.ndarray:
    dtype = DTYPES[kind]
    n, co, oh, ow = geom.output_shape
    cols = _im2col.im2col(x, geom, dtype)
    g_rows = np.ascontiguousarray(grad.transpose(0, 2, 3, 1), dtype=dtype).reshape(-1, co)
    rows = n * oh * ow
    kh, kw = geom.weight_shape[2:]
    cg = geom.weight_shape[1]
    w_mat = np.empty((co, kh * kw * cg), dtype=RESULT_DTYPES[kind])
    for cin, cout in _groups(geom):
        a = np.ascontiguousarray(g_rows[:, cout].T)
        b = np.ascontiguousarray(cols[..., cin]).reshape(rows, -1)
        w_mat[cout] = gemm(a, b, kind, chunk)
    return _im2col.weight_from_matrix(w_mat, geom.weight_shape)
