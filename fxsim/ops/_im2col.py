"""Lowering of convolutions to matrix products (im2col / col2im) in NHWC layout.

The three products of a convolution layer become GEMMs over a column matrix whose row is one
output position ``(n, i, j)`` and whose column is one kernel tap ``(ki, kj, ci)``:

* forward: ``out = cols @ w_mat.T``
* backward_input: ``col2im(grad @ w_mat)``
* backward_weight: ``grad.T @ cols``

with ``w_mat[o, (ki, kj, ci)] = w[o, ci, ki, kj]``. Which dtype the GEMM runs in is the
caller's choice (:mod:`fxsim.ops.paths`); these functions move data only, and add in col2im,
which is exact under the same bound as the GEMM.
"""

from __future__ import annotations

import numpy as np

from fxsim.ops.geometry import ConvGeometry


def _tap_slices(geom: ConvGeometry, ki: int, kj: int) -> tuple[slice, slice]:
    """Rows and columns of the padded input that kernel tap ``(ki, kj)`` reads."""
    oh, ow = geom.output_hw
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    return (slice(ki * dh, ki * dh + sh * (oh - 1) + 1, sh),
            slice(kj * dw, kj * dw + sw * (ow - 1) + 1, sw))


def pad_nhwc(x_nchw: np.ndarray, geom: ConvGeometry, dtype) -> np.ndarray:
    """NCHW codes as a zero-padded NHWC array of ``dtype``."""
    n, c, h, w = x_nchw.shape
    ph, pw = geom.padding
    out = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=dtype)
    out[:, ph:ph + h, pw:pw + w, :] = x_nchw.transpose(0, 2, 3, 1)
    return out


def im2col(x_nchw: np.ndarray, geom: ConvGeometry, dtype) -> np.ndarray:
    """The column matrix, shape ``(n, oh, ow, kh, kw, c)`` (all channels; callers slice groups)."""
    xp = pad_nhwc(x_nchw, geom, dtype)
    n, c = geom.input_shape[:2]
    kh, kw = geom.weight_shape[2:]
    oh, ow = geom.output_hw
    cols = np.empty((n, oh, ow, kh, kw, c), dtype=dtype)
    for ki in range(kh):
        for kj in range(kw):
            rows, columns = _tap_slices(geom, ki, kj)
            cols[:, :, :, ki, kj, :] = xp[:, rows, columns, :]
    return cols


def col2im(dcols: np.ndarray, geom: ConvGeometry, dtype) -> np.ndarray:
    """Add ``dcols`` (shape ``(n, oh, ow, kh, kw, c)``) back onto the input grid; NCHW result."""
    n, c, h, w = geom.input_shape
    kh, kw = geom.weight_shape[2:]
    ph, pw = geom.padding
    out = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=dtype)
    for ki in range(kh):
        for kj in range(kw):
            rows, columns = _tap_slices(geom, ki, kj)
            out[:, rows, columns, :] += dcols[:, :, :, ki, kj, :]
    return out[:, ph:ph + h, pw:pw + w, :].transpose(0, 3, 1, 2)


def weight_matrix(w_oihw: np.ndarray, dtype) -> np.ndarray:
    """``w_mat[o, (ki, kj, ci)]``, shape ``(co, kh * kw * cg)``."""
    co = w_oihw.shape[0]
    return np.ascontiguousarray(w_oihw.transpose(0, 2, 3, 1), dtype=dtype).reshape(co, -1)


def weight_from_matrix(w_mat: np.ndarray, weight_shape) -> np.ndarray:
    """Inverse of :func:`weight_matrix`: OIHW from ``(co, kh * kw * cg)``."""
    co, cg, kh, kw = weight_shape
    return w_mat.reshape(co, kh, kw, cg).transpose(0, 3, 1, 2)
