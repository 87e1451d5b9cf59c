"""Timing helpers shared by the benchmark scripts (imported as ``_timing``: the scripts run as
``python benchmarks/NAME.py``, which puts this directory on ``sys.path``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def best_times(fns, repeat: int) -> list[float]:
    """Best wall time of each function, in seconds, over ``repeat`` rounds after one warm-up
    call each, the functions taking turns in every round (so that load from other processes
    hits all of them alike)."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def fresh_process_seconds(script: str, cache_dir: str) -> float:
    """What ``script`` prints (its own timing, in seconds), run by this Python in a fresh
    process with the numba cache in ``cache_dir``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout)
