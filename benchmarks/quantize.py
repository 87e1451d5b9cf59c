"""Quantizer throughput: every rounding mode on 10**7 float64 values, and requantize from codes of
every width, as ratios against numpy's ``np.clip(np.rint(x * 2**f), lo, hi)`` timed in the same
run (these machines are noisy: each row is the best of ``--repeat`` runs, interleaved).

    python benchmarks/quantize.py [--size N] [--repeat R] [--all-kernels]

Prints elements per second and the speed-up over the numpy baseline per mode against the
project's targets (deterministic modes 4x, stochastic 2x), the toward_zero / stochastic latency
ratio (ARC, ISCAS 2024, reports 43% lower CPU latency for round-toward-zero than for stochastic
rounding; the target is toward_zero at least 1.5x faster), and the first-call time of a fresh
process with an empty numba cache (compilation) and with a warm cache. ``--all-kernels`` also
times compiling every kernel signature in a fresh process, which is what a test run pays.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from _timing import best_times, fresh_process_seconds

import fxsim

FIRST_CALL = (
    "import time, numpy as np; t0 = time.perf_counter(); import fxsim; "
    "fxsim.quantize(np.ones(8), fxsim.QFormat(8, 4)); "
    "print(time.perf_counter() - t0)"
)
ALL_KERNELS = """
import time, numpy as np, fxsim
t0 = time.process_time()
x = np.linspace(-3, 3, 64)
wide = fxsim.FxArray(np.arange(64, dtype=np.int64), fxsim.QFormat(40, 8))
for bits in (8, 16, 32, 60):
    fmt = fxsim.QFormat(bits, 4)
    for mode in fxsim.ROUNDING_MODES:
        k = 8 if mode == "stochastic_k" else None
        fxsim.quantize(x, fmt, mode, seed=1, random_bits=k)
        fxsim.requantize(wide, fmt, mode, seed=1, random_bits=k)
    fxsim.quantize(x, fmt, force_exact=True)
    fxsim.requantize(wide, fmt, force_exact=True)
print(time.process_time() - t0)
"""
TARGETS = {"deterministic": 4.0, "stochastic": 2.0, "rtz_over_sr": 1.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--all-kernels", action="store_true",
                        help="also time compiling every kernel signature (about half a minute)")
    args = parser.parse_args()

    import numba

    x = np.random.default_rng(0).standard_normal(args.size)
    fmt = fxsim.QFormat(8, 4)
    lo, hi, scale = fmt.min_code, fmt.max_code, 2.0**fmt.frac
    fns = {"numpy clip(rint)": lambda: np.clip(np.rint(x * scale), lo, hi).astype(np.int8)}
    for mode in fxsim.ROUNDING_MODES:
        k = 8 if mode == "stochastic_k" else None
        fns[mode] = lambda m=mode, k=k: fxsim.quantize(x, fmt, m, seed=1, random_bits=k)
    codes = {bits: fxsim.quantize(x, fxsim.QFormat(min(bits, 48), bits // 2 + 2))
             for bits in (8, 16, 32, 64)}  # int8 ... int64 codes
    for bits, q in codes.items():
        fns[f"requantize s{bits}->s8"] = lambda q=q: fxsim.requantize(q, fmt)
    fns["requantize s32->s8 sr"] = lambda: fxsim.requantize(codes[32], fmt, "stochastic", seed=1)
    best = dict(zip(fns, best_times(list(fns.values()), args.repeat), strict=True))

    t_numpy = best["numpy clip(rint)"]
    print(f"{args.size:.0e} values -> {fmt}, {numba.get_num_threads()} threads, best of "
          f"{args.repeat}")
    print(f"{'':<24}{'ms':>9}{'Melem/s':>10}{'x numpy':>9}{'target':>8}")
    for name, seconds in best.items():
        target = ""
        if name in fxsim.ROUNDING_MODES:
            kind = "stochastic" if name.startswith("stochastic") else "deterministic"
            target = f"{TARGETS[kind]:.1f}"
        label = name + (" (k=8)" if name == "stochastic_k" else "")
        print(f"{label:<24}{seconds * 1e3:9.2f}{args.size / seconds / 1e6:10.1f}"
              f"{t_numpy / seconds:9.2f}{target:>8}")
    ratio = best["stochastic"] / best["toward_zero"]
    print(f"\ntoward_zero is {ratio:.2f}x faster than stochastic "
          f"({(1 - 1 / ratio) * 100:.0f}% lower latency; ARC reports 43%; target "
          f"{TARGETS['rtz_over_sr']:.1f}x)")
    with tempfile.TemporaryDirectory() as empty:
        cold = fresh_process_seconds(FIRST_CALL, empty)
        warm = fresh_process_seconds(FIRST_CALL, empty)
    print(f"first call in a fresh process: {cold:.1f} s with an empty numba cache "
          f"(compilation), {warm:.1f} s with the cache warm")
    if args.all_kernels:
        with tempfile.TemporaryDirectory() as empty:
            every = fresh_process_seconds(ALL_KERNELS, empty)
        print(f"compiling every kernel signature (4 output widths x 8 modes, quantize and "
              f"requantize, exact passes): {every:.1f} s CPU")


if __name__ == "__main__":
    main()
