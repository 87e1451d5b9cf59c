"""The int8 path's machinery below the public ops: the byte dot product's instruction, and
weight-gradient tiles cut short (several 32-bit sums per output, with the signed-code
correction), against int64 numpy."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fxsim.ops import _engine_int8, _simd
from fxsim.ops.geometry import ConvGeometry


def test_the_dot_product_compiles_to_vpdpbusd_on_vnni_hosts():
    @numba.njit
    def dot(acc, a, b, out):
        _simd.vstore(out, 0, _simd.vdot4(_simd.vload(acc, 0), _simd.vload(a, 0),
                                         _simd.vload(b, 0)))

    out = np.empty(16, dtype=np.int32)
    dot(np.zeros(16, np.int32), np.ones(64, np.uint8), np.full(64, 255, np.uint8), out)
    assert out.tolist() == [-4] * 16  # 4 * (1 * -1) per lane
    asm = "\n".join(dot.inspect_asm().values())
    assert ("vpdpbusd" in asm) == _simd.NATIVE_DOT


def numpy_weight_gradient(x, g, geom):
    """sum over n, i, j of g[n, o, i, j] * x_padded[n, c, i*s + ki, j*s + kj] in int64."""
    (sh, sw), (ph, pw) = geom.stride, geom.padding
    co, cg, kh, kw = geom.weight_shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    _, _, oh, ow = g.shape
    out = np.zeros((co, cg, kh, kw), dtype=np.int64)
    for ki in range(kh):
        for kj in range(kw):
            patch = xp[:, :, ki:ki + sh * oh:sh, kj:kj + sw * ow:sw]
            out[:, :, ki, kj] = np.einsum("nohw,nchw->oc", g.astype(np.int64), patch)
    return out


@pytest.mark.parametrize(("signed", "chunk"), [(False, 64), (True, 64), (True, 37)])
def test_weight_gradient_in_tiles_shorter_than_a_row(signed, chunk):
    """Tiles of at most ``chunk`` positions: many 32-bit sums per weight, added in int64; a
    signed input read as code + 128 and corrected exactly."""
    rng = np.random.default_rng(chunk + signed)
    geom = ConvGeometry.build((3, 5, 9, 11), (6, 5, 3, 3), 2, 1, 1, 1)
    low, high = (-128, 128) if signed else (0, 256)
    x = rng.integers(low, high, geom.input_shape).astype(np.int8 if signed else np.uint8)
    g = rng.integers(-128, 128, geom.output_shape).astype(np.int8)
    got = _engine_int8.backward_weight(_engine_int8.unsigned_side(x, signed), g, geom, chunk)
    assert np.array_equal(got, numpy_weight_gradient(x, g, geom))
