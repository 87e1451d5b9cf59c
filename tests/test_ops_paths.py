"""Path choice (explain), forced paths, agreement of every path, and thread independence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import ops_reference as ref
import pytest

from fxsim import FxArray, QFormat
from fxsim.ops import (
    Accumulator,
    conv2d,
    conv2d_backward_input,
    conv2d_backward_weight,
    explain,
    linear,
)
from fxsim.ops._simd import NATIVE_DOT

ROOT = Path(__file__).resolve().parents[1]


def fx(shape, bits, seed, frac=0):
    fmt = QFormat(bits, frac)
    raw = np.random.default_rng(seed).integers(fmt.min_code, fmt.max_code, shape, endpoint=True)
    return FxArray(raw.astype(fmt.dtype), fmt)


def test_explain_names_the_path_and_bound():
    x, w = fx((2, 16, 8, 8), 8, 0), fx((16, 16, 3, 3), 8, 1)
    plan = explain("conv2d", x, w, padding=1)
    assert plan.path == ("int8" if NATIVE_DOT else "float32") and plan.terms == 144
    if NATIVE_DOT:  # the formats prove int8 exact: no scan, the formats' largest codes
        assert (plan.bounds, plan.max_a, plan.max_b) == ("format", 128, 128)
        assert "2**31" in plan.reason and plan.chunk == 144
    assert plan.bound == 144 * plan.max_a * plan.max_b < 2**24
    assert plan.acc_bits == plan.wide_bits == 23
    x9 = fx((2, 16, 8, 8), 9, 0)  # 9-bit codes do not fit bytes: scanned, float32
    plan = explain("conv2d", x9, w, padding=1)
    assert plan.path == "float32" and plan.bounds == "scan" and "2**24" in plan.reason
    assert plan.max_a == np.abs(x9.raw.astype(int)).max() == 256
    assert plan.max_b == np.abs(w.raw.astype(int)).max() == 128
    x16, w16 = fx((2, 16, 8, 8), 16, 0), fx((16, 16, 3, 3), 16, 1)
    assert explain("conv2d", x16, w16, padding=1).path == "float64"
    x24, w24 = fx((1, 16, 4, 4), 24, 0), fx((16, 16, 3, 3), 24, 1)
    assert explain("conv2d", x24, w24, padding=1).path == "int64"
    narrow = explain("conv2d", x, w, padding=1, acc=Accumulator(16))
    assert narrow.path == "sequential" and narrow.may_overflow and narrow.bounds == "scan"
    wrapping = explain("conv2d", x, w, padding=1, acc=Accumulator(16, "wrap"))
    assert wrapping.path == ("int8" if NATIVE_DOT else "float32")
    assert explain("conv2d", x.to_float(), w.to_float()).path == "float64-baseline"


def test_int8_is_chosen_only_where_the_formats_fit_bytes():
    """The first operand may be unsigned 8-bit or signed 8-bit, the second signed 8-bit or
    unsigned 7-bit; anything wider is refused when forced and never chosen by auto."""
    shape, wshape = (2, 4, 6, 6), (4, 4, 3, 3)
    for bits_a, signed_a, bits_b, signed_b, fits in (
            (8, False, 8, True, True), (8, True, 8, True, True), (4, True, 7, False, True),
            (9, True, 8, True, False), (8, True, 8, False, False), (8, True, 9, True, False)):
        a = FxArray(np.zeros(shape, dtype=np.int64), QFormat(bits_a, 0, signed_a))
        b = FxArray(np.zeros(wshape, dtype=np.int64), QFormat(bits_b, 0, signed_b))
        assert (explain("conv2d", a, b, path="auto").path == "int8") == (fits and NATIVE_DOT)
        if fits:
            assert explain("conv2d", a, b, path="int8").path == "int8"
        else:
            with pytest.raises(ValueError, match="'int8' is not exact"):
                conv2d(a, b, path="int8")


def test_int8_refuses_sums_that_may_reach_2_to_the_31():
    """(2**31 - 1) // (255 * 128) = 65793 terms of unsigned 8-bit times signed 8-bit codes
    fit a 32-bit lane; one more channel's worth does not (a 1x1 convolution)."""
    u8, s8 = QFormat(8, 0, signed=False), QFormat(8, 0)
    for channels, fits in ((65793, True), (65794, False)):
        x = FxArray(np.zeros((1, channels, 1, 1), dtype=np.uint8), u8)
        w = FxArray(np.zeros((1, channels, 1, 1), dtype=np.int8), s8)
        if fits:
            assert explain("conv2d", x, w, path="int8").chunk == channels
        else:
            with pytest.raises(ValueError, match="'int8' is not exact"):
                explain("conv2d", x, w, path="int8")
            assert explain("conv2d", x, w).path != "int8"


def test_int8_extreme_codes_equal_the_reference():
    """The largest sums the int8 path admits, of the extreme codes of each signedness,
    against the Python-int reference (signed first operands are read as code + 128)."""
    rng = np.random.default_rng(11)
    for signed in (False, True):
        fa = QFormat(8, 0, signed)
        x = FxArray(rng.choice([fa.min_code, fa.max_code], (2, 9, 5, 7)).astype(fa.dtype), fa)
        w = FxArray(rng.choice([-128, 127], (6, 3, 3, 2)).astype(np.int8), QFormat(8, 0))
        kw = dict(stride=(2, 1), padding=(1, 2), groups=3)
        y = conv2d(x, w, path="int8", **kw)
        assert y.raw.tolist() == ref.conv2d(x.raw, w.raw, **kw)[0].tolist()
        assert y.stats.max_abs == np.abs(y.raw).max()
        g = FxArray(rng.choice([-128, 127], y.shape).astype(np.int8), QFormat(8, 0))
        gx = conv2d_backward_input(g, w, x.shape, path="int8", **kw)
        assert gx.raw.tolist() == ref.conv2d_backward_input(g.raw, w.raw, x.shape,
                                                            **kw)[0].tolist()
        gw = conv2d_backward_weight(x, g, w.shape, path="int8", **kw)
        assert gw.raw.tolist() == ref.conv2d_backward_weight(x.raw, g.raw, w.shape,
                                                             **kw)[0].tolist()


def test_the_portable_byte_dot_product_equals_vpdpbusd():
    """vdot4's portable IR (hosts without AVX-512 VNNI) against numpy, and against the host's
    vdot4 (vpdpbusd where it exists), lanes wrapping modulo 2**32."""
    acc, a, b = _dot_operands()
    want = (acc.astype(np.int64) + (a.reshape(16, 4).astype(np.int64)
                                   * b.view(np.int8).reshape(16, 4)).sum(axis=1))
    want = ((want + 2**31) % 2**32 - 2**31).astype(np.int32)
    assert np.array_equal(_portable_dot(acc, a, b), want)
    assert np.array_equal(_host_dot(acc, a, b), want)


def _dot_operands():
    rng = np.random.default_rng(12)
    acc = rng.integers(-2**31, 2**31, 16).astype(np.int32)
    acc[:2] = 2**31 - 1, -2**31  # lanes that wrap
    a = rng.integers(0, 256, 64).astype(np.uint8)
    b = rng.integers(0, 256, 64).astype(np.uint8)
    a[:8], b[:8] = 255, 0x80  # 255 * -128, the largest negative products
    return acc, a, b


def _dot_kernel(dot):
    import numba

    from fxsim.ops import _simd

    @numba.njit
    def kernel(acc, a, b, out):
        _simd.vstore(out, 0, dot(_simd.vload(acc, 0), _simd.vload(a, 0), _simd.vload(b, 0)))

    return kernel


def _portable_dot(acc, a, b):
    from fxsim.ops._simd import vdot4_portable

    out = np.empty(16, dtype=np.int32)
    _dot_kernel(vdot4_portable)(acc, a, b, out)
    return out


def _host_dot(acc, a, b):
    from fxsim.ops._simd import vdot4

    out = np.empty(16, dtype=np.int32)
    _dot_kernel(vdot4)(acc, a, b, out)
    return out


def test_weight_gradient_reduction_is_chunked_in_float32():
    x, g = fx((8, 4, 32, 32), 9, 0), fx((8, 4, 32, 32), 8, 1)  # 9 bits: no int8 path
    plan = explain("conv2d_backward_weight", x, g, (4, 4, 3, 3), padding=1)
    assert plan.terms == 8 * 32 * 32 and plan.bound >= 2**24
    assert plan.path == "float32" and plan.chunk * plan.max_a * plan.max_b < 2**24
    results = [conv2d_backward_weight(x, g, (4, 4, 3, 3), padding=1, path=p).raw
               for p in ("float32", "float64", "int64", "sequential")]
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize(("shape", "weight", "kw"), [
    ((6, 4, 31, 29), (6, 2, 3, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
    ((9, 3, 17, 19), (4, 3, 5, 3), dict(stride=(1, 2), padding=(2, 1))),
])
def test_chunked_float32_weight_gradient_with_ragged_rows(shape, weight, kw):
    x = fx(shape, 9, 4)
    y = conv2d(x, fx(weight, 8, 5), **kw)
    g = fx(y.shape, 8, 6)
    plan = explain("conv2d_backward_weight", x, g, weight, **kw)
    assert plan.path == "float32" and plan.chunk < plan.terms  # several flushes
    results = [conv2d_backward_weight(x, g, weight, path=p, **kw).raw
               for p in ("float32", "int64", "sequential")]
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("stride", [1, 2])
def test_long_forward_and_input_reductions_are_chunked_in_float32(stride):
    """576-term sums of large odd 8-bit (9-bit gradient) codes of one sign pass 2**24, where
    float32 loses odd integers: it must sum in parts, added in int64."""
    rng = np.random.default_rng(3)
    u8, s8 = QFormat(8, 0, signed=False), QFormat(8, 0)
    x = FxArray(rng.choice([253, 255], (2, 64, 7, 6)).astype(np.uint8), u8)
    w = FxArray(rng.choice([125, 127], (64, 64, 3, 3)).astype(np.int8), s8)
    kw = dict(stride=stride, padding=1)
    y = conv2d(x, w, **kw)
    g = FxArray(rng.choice([253, 255], y.shape).astype(np.int16), QFormat(9, 0))
    for op, args in (("conv2d", (x, w)), ("conv2d_backward_input", (g, w, x.shape))):
        plan = explain(op, *args, path="float32", **kw)  # auto: int8 for the forward
        assert plan.path == "float32" and plan.bound >= 2**24 and plan.chunk < plan.terms
    results = {p: (conv2d(x, w, path=p, **kw).raw,
                   conv2d_backward_input(g, w, x.shape, path=p, **kw).raw)
               for p in ("float32", "int64")}
    assert all(np.array_equal(a, b) for a, b in zip(*results.values(), strict=True))
    # the first output row reads input rows -1..1 only: the reference on a 3-row crop is exact
    want = np.asarray(ref.conv2d(x.raw[:1, :, :3], w.raw, **kw)[0])[:, :, :1]
    assert y.raw[:1, :, :1].tolist() == want.tolist()


def test_all_paths_agree_on_a_resnet_like_layer():
    x, w = fx((4, 16, 10, 10), 12, 2), fx((16, 8, 3, 3), 12, 3)
    results = {p: conv2d(x, w, stride=2, padding=1, groups=2, path=p).raw
               for p in ("float64", "int64", "sequential")}
    assert all(np.array_equal(results["int64"], r) for r in results.values())


def test_forced_paths_that_are_not_exact_are_refused():
    x16, w16 = fx((1, 16, 4, 4), 16, 0), fx((16, 16, 3, 3), 16, 1)
    with pytest.raises(ValueError, match="'float32' is not exact"):
        conv2d(x16, w16, path="float32")
    with pytest.raises(ValueError, match="cannot model a saturating"):
        conv2d(x16, w16, acc=Accumulator(20), path="int64")
    with pytest.raises(ValueError, match="path must be one of"):
        conv2d(x16, w16, path="fast")
    x40, w40 = fx((1, 4, 4, 4), 40, 0), fx((4, 4, 3, 3), 40, 1)
    with pytest.raises(ValueError, match="more than 62"):
        conv2d(x40, w40)
    with pytest.raises(ValueError, match="62 bits or more"):
        linear(fx((2, 3), 40, 0), fx((4, 3), 40, 1), acc=Accumulator(30, "wrap"))


SCRIPT = """
import hashlib, numpy as np
from fxsim import FxArray, QFormat
from fxsim.ops import Accumulator, conv2d, conv2d_backward_input, conv2d_backward_weight
rng = np.random.default_rng(5)
f = QFormat(8, 2)
x = FxArray(rng.integers(-128, 128, (3, 6, 9, 9)).astype(np.int8), f)
w = FxArray(rng.integers(-128, 128, (8, 3, 3, 3)).astype(np.int8), f)
kw = dict(stride=2, padding=1, groups=2)
g = FxArray(rng.integers(-128, 128, conv2d(x, w, **kw).shape).astype(np.int8), f)
h = hashlib.sha256()
for path in ("auto", "int8", "float32", "float64", "int64", "sequential"):
    for acc in (None, Accumulator(14), Accumulator(14, "wrap")):
        if acc is not None and acc.overflow == "saturate" and path != "auto":
            continue
        for r in (conv2d(x, w, acc=acc, path=path, **kw),
                  conv2d_backward_input(g, w, x.shape, acc=acc, path=path, **kw),
                  conv2d_backward_weight(x, g, w.shape, acc=acc, path=path, **kw)):
            h.update(r.raw.tobytes()); h.update(repr(r.stats).encode())
print(h.hexdigest())
"""


def test_results_do_not_depend_on_the_thread_count():
    digests = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                             text=True, check=True)
        digests.append(out.stdout.strip())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


def _threaded_conv_sum(seed: int) -> int:
    x, w = fx((32, 16, 16, 16), 8, seed), fx((16, 16, 3, 3), 8, seed + 1)  # > 2M MACs: threads
    return int(conv2d(x, w, padding=1).raw.sum())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kernels_work_in_a_forked_child():
    import multiprocessing

    parent = _threaded_conv_sum(7)  # the parent's thread pool exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map_async(_threaded_conv_sum, [7]).get(timeout=120) == [parent]
