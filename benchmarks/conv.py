"""Exact integer convolution, forward plus both backward products, on ResNet-20's CIFAR layer
shapes at batch 128 with 8-bit operands, against baselines timed in the same run:

* a plain numpy float32 im2col + GEMM of the same three products (NCHW in and out);
* PyTorch fp32 ``conv2d`` forward + backward (input and weight gradients), when torch is
  installed (a benchmark-only comparison, never a dependency).

    python benchmarks/conv.py [--batch 128] [--repeat 5] [--layers NAME ...] [--bits 8]

Prints per layer: milliseconds for the three products, the ratios fxsim / numpy and
fxsim / torch (below 1 is faster), each fxsim product's own time and path, and the peak extra
memory of one call (Linux: the high-water mark of the resident set, reset before the call). Then the
first-call time of a fresh process with an empty numba cache (compilation) and a warm one.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from _timing import best_times, fresh_process_seconds

import fxsim
from fxsim import ops

# name: (C_in, C_out, H=W, stride), all 3x3 with padding 1
LAYERS = {
    "conv1 3->16 32x32": (3, 16, 32, 1),
    "16->16 32x32": (16, 16, 32, 1),
    "16->32 32x32 s2": (16, 32, 32, 2),
    "32->32 16x16": (32, 32, 16, 1),
    "32->64 16x16 s2": (32, 64, 16, 2),
    "64->64 8x8": (64, 64, 8, 1),
}

FIRST_CALL = (
    "import time, numpy as np; t0 = time.perf_counter(); import fxsim; from fxsim import ops; "
    "f = fxsim.QFormat(8, 4); r = np.random.default_rng(0); "
    "x = fxsim.FxArray(r.integers(-9, 9, (2, 4, 8, 8)).astype(np.int8), f); "
    "w = fxsim.FxArray(r.integers(-9, 9, (4, 4, 3, 3)).astype(np.int8), f); "
    "y = ops.conv2d(x, w, padding=1); g = fxsim.FxArray(y.raw.astype(np.int8) % 7, f); "
    "ops.conv2d_backward_input(g, w, x.shape, padding=1); "
    "ops.conv2d_backward_weight(x, g, w.shape, padding=1); "
    "print(time.perf_counter() - t0)"
)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_mib(fn) -> float:
    """Peak resident memory added by one call of ``fn``, in MiB (NaN off Linux). Large blocks
    are mapped and unmapped one by one (see ``main``), so freed memory leaves the count."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the high-water mark
    except OSError:
        return float("nan")
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) / 1024


def numpy_im2col_gemm(x, w, g, stride):
    """The three products in plain numpy float32: im2col from NCHW in the (C, KH, KW, N, OH,
    OW) layout (contiguous rows), three GEMMs, col2im, results back in NCHW/OIHW."""
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    _, _, oh, ow = g.shape
    xt = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).transpose(1, 0, 2, 3)
    cols = np.empty((c, kh, kw, n, oh, ow), np.float32)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xt[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    cols = cols.reshape(c * kh * kw, -1)
    w_mat = w.reshape(co, -1)
    g_mat = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(co, -1)
    y = np.ascontiguousarray((w_mat @ cols).reshape(co, n, oh, ow).transpose(1, 0, 2, 3))
    grad_w = (g_mat @ cols.T).reshape(w.shape)
    dcols = (w_mat.T @ g_mat).reshape(c, kh, kw, n, oh, ow)
    gxp = np.zeros(xt.shape, np.float32)
    for i in range(kh):
        for j in range(kw):
            gxp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += dcols[:, i, j]
    grad_x = np.ascontiguousarray(gxp[:, :, 1:h + 1, 1:wd + 1].transpose(1, 0, 2, 3))
    return y, grad_x, grad_w


def torch_runner(x, w, g, stride):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)))
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tg = torch.from_numpy(g)

    def run():
        tx.grad = tw.grad = None
        y = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=1)
        y.backward(tg)
        return y, tx.grad, tw.grad

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("--layers", nargs="*", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--no-first-call", action="store_true")
    args = parser.parse_args()
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # glibc: map every block over 64 KiB
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    import numba

    fmt = fxsim.QFormat(args.bits, args.bits // 2)
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, {args.bits}-bit operands, 3x3 padding 1, "
          f"{numba.get_num_threads()} threads, best of {args.repeat} taking turns; "
          "ms for forward + backward_input + backward_weight")
    header = (f"{'layer':<20}{'fxsim':>8}{'numpy32':>9}{'torch32':>9}{'x numpy':>9}"
              f"{'x torch':>9}{'MiB fx':>8}{'MiB np':>8}{'MiB pt':>8}  fxsim ms fwd/in/wgt, paths")
    print(header)
    totals = np.zeros(3)
    for name in args.layers:
        c, co, hw, stride = LAYERS[name]
        x = fxsim.FxArray(rng.integers(fmt.min_code, fmt.max_code, (args.batch, c, hw, hw),
                                       endpoint=True).astype(fmt.dtype), fmt)
        w = fxsim.FxArray(rng.integers(fmt.min_code, fmt.max_code, (co, c, 3, 3),
                                       endpoint=True).astype(fmt.dtype), fmt)
        oh = (hw + 2 - 3) // stride + 1
        g = fxsim.FxArray(rng.integers(fmt.min_code, fmt.max_code, (args.batch, co, oh, oh),
                                       endpoint=True).astype(fmt.dtype), fmt)
        kw = dict(stride=stride, padding=1)

        def exact(x=x, w=w, g=g, kw=kw):
            return (ops.conv2d(x, w, **kw), ops.conv2d_backward_input(g, w, x.shape, **kw),
                    ops.conv2d_backward_weight(x, g, w.shape, **kw))

        paths = "/".join(p.path for p in (
            ops.explain("conv2d", x, w, **kw),
            ops.explain("conv2d_backward_input", g, w, x.shape, **kw),
            ops.explain("conv2d_backward_weight", x, g, w.shape, **kw)))
        xf, wf, gf = (v.raw.astype(np.float32) for v in (x, w, g))
        def baseline(xf=xf, wf=wf, gf=gf, s=stride):
            return numpy_im2col_gemm(xf, wf, gf, s)

        torch_run = torch_runner(xf, wf, gf, stride)
        runs = [exact, baseline] + ([torch_run] if torch_run else [])
        t_fx, t_np, t_pt = [*best_times(runs, args.repeat), float("nan")][:3]
        split = best_times([lambda x=x, w=w, kw=kw: ops.conv2d(x, w, **kw),
                            lambda x=x, w=w, g=g, kw=kw: ops.conv2d_backward_input(g, w, x.shape,
                                                                                   **kw),
                            lambda x=x, w=w, g=g, kw=kw: ops.conv2d_backward_weight(x, g, w.shape,
                                                                                    **kw)],
                           max(1, args.repeat // 2))
        m_fx, m_np, m_pt = [*(peak_mib(fn) for fn in runs), float("nan")][:3]
        totals += (t_fx, t_np, t_pt)
        print(f"{name:<20}{t_fx * 1e3:8.1f}{t_np * 1e3:9.1f}{t_pt * 1e3:9.1f}{t_fx / t_np:9.2f}"
              f"{t_fx / t_pt:9.2f}{m_fx:8.0f}{m_np:8.0f}{m_pt:8.0f}  "
              f"{'/'.join(f'{t * 1e3:.0f}' for t in split)}  {paths}")
    t_fx, t_np, t_pt = totals
    print(f"{'total':<20}{t_fx * 1e3:8.1f}{t_np * 1e3:9.1f}{t_pt * 1e3:9.1f}{t_fx / t_np:9.2f}"
          f"{t_fx / t_pt:9.2f}")
    if not args.no_first_call:
        with tempfile.TemporaryDirectory() as empty:
            cold = fresh_process_seconds(FIRST_CALL, empty)
            warm = fresh_process_seconds(FIRST_CALL, empty)
        print(f"first call of the three products in a fresh process: {cold:.1f} s with an "
              f"empty numba cache (compilation), {warm:.1f} s with the cache warm")


if __name__ == "__main__":
    main()
