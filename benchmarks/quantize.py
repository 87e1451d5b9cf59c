"""Quantizer throughput: every rounding mode on 10**7 float64 values, as ratios against numpy's
``np.clip(np.rint(x * 2**f), lo, hi)`` timed in the same run (these machines are noisy).

    python benchmarks/quantize.py [--size N] [--repeat R]

Prints elements per second, the speed-up over the numpy baseline per mode, the
toward_zero / stochastic latency ratio (ARC, ISCAS 2024, reports 43% lower CPU latency for
round-toward-zero than for stochastic rounding), and the first-call time of a fresh process
with an empty numba cache (compilation) and with a warm cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import fxsim

FIRST_CALL = (
    "import time, numpy as np; t0 = time.perf_counter(); import fxsim; "
    "fxsim.quantize(np.ones(8), fxsim.QFormat(8, 4)); "
    "print(time.perf_counter() - t0)"
)


def best_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def first_call_seconds(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import numba

    x = np.random.default_rng(0).standard_normal(args.size)
    fmt = fxsim.QFormat(8, 4)
    lo, hi, scale = fmt.min_code, fmt.max_code, 2.0**fmt.frac

    def baseline():
        return np.clip(np.rint(x * scale), lo, hi).astype(np.int8)

    t_numpy = best_time(baseline, args.repeat)
    print(f"{args.size:.0e} float64 values -> {fmt}, {numba.get_num_threads()} threads, "
          f"best of {args.repeat}")
    print(f"{'mode':<22}{'ms':>9}{'Melem/s':>10}{'x numpy':>9}")
    print(f"{'numpy clip(rint)':<22}{t_numpy * 1e3:9.2f}{args.size / t_numpy / 1e6:10.1f}"
          f"{1.0:9.2f}")
    times = {}
    for mode in fxsim.ROUNDING_MODES:
        extra = {"random_bits": 8} if mode == "stochastic_k" else {}
        times[mode] = best_time(lambda m=mode, e=extra: fxsim.quantize(x, fmt, m, seed=1, **e),
                                args.repeat)
        label = mode + (" (k=8)" if extra else "")
        print(f"{label:<22}{times[mode] * 1e3:9.2f}{args.size / times[mode] / 1e6:10.1f}"
              f"{t_numpy / times[mode]:9.2f}")
    q16 = fxsim.quantize(x, fxsim.QFormat(16, 10))
    t_req = best_time(lambda: fxsim.requantize(q16, fmt, "nearest_even"), args.repeat)
    print(f"{'requantize s16->s8':<22}{t_req * 1e3:9.2f}{args.size / t_req / 1e6:10.1f}"
          f"{t_numpy / t_req:9.2f}")
    ratio = times["toward_zero"] / times["stochastic"]
    print(f"\ntoward_zero / stochastic latency: {ratio:.2f} "
          f"({(1 - ratio) * 100:.0f}% lower; ARC reports 43% lower)")
    with tempfile.TemporaryDirectory() as empty:
        cold = first_call_seconds(empty)
        warm = first_call_seconds(empty)
    print(f"first call in a fresh process: {cold:.1f} s with an empty numba cache "
          f"(compilation), {warm:.1f} s with the cache warm")


if __name__ == "__main__":
    main()
