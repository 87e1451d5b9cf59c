"""The hardware random source's cost in the simulator: stochastic rounding drawing its bits from
the RTL's LFSRs (one shared generator, 16 and 256 lanes) against fxsim's counter generator,
timed in the same run (best of ``--repeat``, interleaved).

    python benchmarks/random_source.py [--size N] [--repeat R] [--bits K]

Prints elements per second of ``quantize`` (float64 values) and ``requantize`` (int32 codes)
with ``stochastic_k``, and each LFSR variant's time as a ratio to the counter generator's.
"""

from __future__ import annotations

import argparse
import os

import numba
import numpy as np
from _timing import best_times

import fxsim
from fxsim.numeric.lfsr import RandomSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bits", type=int, default=8, help="random bits per element")
    args = parser.parse_args()
    print(f"{args.size} elements, stochastic_k with {args.bits} random bits, "
          f"{numba.get_num_threads()} numba threads, load average "
          f"{os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.size)
    codes = fxsim.FxArray(rng.integers(-2**20, 2**20, args.size).astype(np.int32),
                          fxsim.QFormat(32, 16))
    fmt = fxsim.QFormat(8, 4)
    sources = {"counter": None, "lfsr shared": RandomSource("lfsr", 32, 1),
               "lfsr 16 lanes": RandomSource("lfsr", 32, 16),
               "lfsr 256 lanes": RandomSource("lfsr", 32, 256)}
    for what, call in (("quantize", lambda s: fxsim.quantize(
            x, fmt, "stochastic_k", seed=1, random_bits=args.bits, random_source=s)),
            ("requantize", lambda s: fxsim.requantize(
                codes, fmt, "stochastic_k", seed=1, random_bits=args.bits, random_source=s))):
        times = best_times([lambda s=s, call=call: call(s) for s in sources.values()],
                           args.repeat)
        base = times[0]
        print(f"{what}:")
        for name, t in zip(sources, times, strict=True):
            print(f"  {name:15s} {args.size / t / 1e6:8.1f} M elements/s   "
                  f"{t / base:5.2f}x the counter generator's time")


if __name__ == "__main__":
    main()
