"""Stochastic rounding is a pure function of (seed, stream, element index), from the counter
generator or the LFSR source: thread count and chunking of the parallel loop cannot change a
bit."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numba
import numpy as np

import fxsim

SCRIPT = """
import hashlib, numpy as np, fxsim
from fxsim.numeric.lfsr import RandomSource
x = np.random.default_rng(3).standard_normal(300_001)
f = fxsim.QFormat(5, 2)
parts = [fxsim.quantize(x, f, 'stochastic', seed=99).raw,
         fxsim.quantize(x, f, 'stochastic_k', seed=99, random_bits=5).raw,
         fxsim.requantize(fxsim.quantize(x, fxsim.QFormat(16, 9)), f, 'stochastic', seed=4).raw,
         fxsim.quantize(x, f, 'stochastic_k', seed=5, random_bits=6,
                        random_source=RandomSource('lfsr', 32, 7)).raw]
print(hashlib.sha256(b''.join(p.tobytes() for p in parts)).hexdigest())
"""


def run_with_threads(threads: int) -> str:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_same_bits_for_any_thread_count():
    hashes = {run_with_threads(t) for t in (1, 2, 3)}
    assert len(hashes) == 1


def test_same_bits_in_process_for_any_thread_count():
    x = np.random.default_rng(4).standard_normal(100_003)
    f = fxsim.QFormat(4, 1)
    results = []
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        numba.set_num_threads(threads)
        results.append(hashlib.sha256(fxsim.quantize(x, f, "stochastic", seed=8).raw).digest())
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert len(set(results)) == 1


def test_element_i_depends_only_on_its_index():
    """Shape does not matter: a reshaped input gives the same flat codes."""
    x = np.random.default_rng(5).standard_normal(4096)
    f = fxsim.QFormat(6, 3)
    flat = fxsim.quantize(x, f, "stochastic", seed=21).raw
    shaped = fxsim.quantize(x.reshape(8, 16, 32), f, "stochastic", seed=21).raw
    assert np.array_equal(flat, shaped.ravel())
