"""Run a serial numba kernel over a range of jobs on several threads.

The kernels are compiled ``nogil`` and take ``(start, stop)`` job bounds, which keeps them
quick to compile (no parallel-loop transformation). The range is cut into one contiguous part
per thread; the number of threads is numba's (``NUMBA_NUM_THREADS`` or
:func:`numba.set_num_threads`). Every kernel's result is exact, so it does not depend on how
the range is cut.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
SERIAL_WORK = 1 << 21  # below this many multiply-adds, one thread (dispatch costs ~0.2 ms)


def thread_count(jobs: int) -> int:
    """Threads used for ``jobs`` jobs: numba's thread count, at most one per job."""
    return max(1, min(numba.get_num_threads(), jobs))


def bounds(jobs: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``(start, stop)`` ranges covering ``range(jobs)``."""
    return [(jobs * i // parts, jobs * (i + 1) // parts) for i in range(parts)]


def run_parallel(kernel, jobs: int, *args, work: int | None = None) -> None:
    """Call ``kernel(*args, start, stop)`` over ``range(jobs)``, one part per thread (one
    thread when ``work``, the multiply-adds of the call, is below :data:`SERIAL_WORK`)."""
    parts = 1 if work is not None and work < SERIAL_WORK else thread_count(jobs)
    if parts == 1:
        kernel(*args, 0, jobs)
        return
    global _pool, _pool_size
    if _pool is None or _pool_size < parts:
        _pool_size = max(parts, numba.config.NUMBA_NUM_THREADS)
        _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="fxsim-ops")
    futures = [_pool.submit(kernel, *args, start, stop) for start, stop in bounds(jobs, parts)]
    for future in futures:
        future.result()


def _forget_pool() -> None:
    """In a forked child the pool's threads are gone: start a new pool on next use."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
