"""Registered rounding rules against the built-in modes they re-implement: quantize 10**7 float64
values and requantize 10**7 int32 codes with ``nearest_even`` and ``stochastic_k`` (5 random
bits), and with rules registered by ``fxsim.register_rounding`` that compute the same codes,
numba-compiled and plain numpy (``compile=False``). Ratios are against the built-in mode timed
in the same run (best of ``--repeat``, interleaved).

    python benchmarks/user_rounding.py [--size N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _timing import best_times

import fxsim
from fxsim.numeric.user_rounding import HALF


def nearest_even_rule(q, f, sticky):
    above = (f > HALF) | ((f == HALF) & sticky)
    tie = (f == HALF) & ~sticky
    return q + (above | (tie & (q % 2 == 1)))


def stochastic_k5_rule(q, f, sticky, r):
    return q + ((f >> 57) + r >= 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import numba

    for compiled in (True, False):
        suffix = "" if compiled else "_numpy"
        fxsim.register_rounding("ne_rule" + suffix, nearest_even_rule, compile=compiled)
        fxsim.register_rounding("sk5_rule" + suffix, stochastic_k5_rule, random_bits=5,
                                compile=compiled)
    x = np.random.default_rng(0).standard_normal(args.size)
    fmt = fxsim.QFormat(8, 4)
    codes = fxsim.quantize(x, fxsim.QFormat(32, 20))
    cases = {
        "nearest_even": ("nearest_even", {}, ("ne_rule", "ne_rule_numpy")),
        "stochastic_k (k=5)": ("stochastic_k", {"random_bits": 5}, ("sk5_rule", "sk5_rule_numpy")),
    }
    rows = []
    for label, (builtin, extra, rules) in cases.items():
        for op, run in (("quantize", lambda m, e: fxsim.quantize(x, fmt, m, seed=1, **e)),
                        ("requantize", lambda m, e: fxsim.requantize(codes, fmt, m, seed=1,
                                                                     **e))):
            reference = run(builtin, extra).raw
            for rule in rules:  # the rules compute the built-in's codes: check, then time
                assert np.array_equal(run(rule, {}).raw, reference), rule
            fns = [lambda m=builtin, e=extra, run=run: run(m, e),
                   *(lambda m=r, run=run: run(m, {}) for r in rules)]
            times = best_times(fns, args.repeat)
            rows.append((f"{op} {label}", *times))
    print(f"{args.size:.0e} elements -> {fmt}, {numba.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f}, best of {args.repeat} (ms; x: slowdown against built-in)")
    print(f"{'':<34}{'built-in':>10}{'rule, numba':>16}{'rule, numpy':>16}")
    for name, base, jit, plain in rows:
        print(f"{name:<34}{1e3 * base:>10.1f}{1e3 * jit:>9.1f} {jit / base:>5.1f}x"
              f"{1e3 * plain:>9.1f} {plain / base:>5.1f}x")


if __name__ == "__main__":
    main()
