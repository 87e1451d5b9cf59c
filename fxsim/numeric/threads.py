"""Run serial numba kernels over a range on several threads, from one shared thread pool.

The kernels are compiled ``nogil`` and take ``(start, stop)`` bounds, which keeps them quick
to compile (no parallel-loop transformation). The number of threads is numba's
(``NUMBA_NUM_THREADS`` or :func:`numba.set_num_threads`). Two schedules:

* :func:`run_parallel` cuts a range of jobs into one contiguous part per thread (the ops'
  products, whose results are exact, so they do not depend on how the range is cut);
* :func:`run_chunks` cuts a range of elements into many chunks that the threads take one by
  one (the quantizers, whose random numbers depend on the flat element index only).

Both use one pool of ``NUMBA_NUM_THREADS`` workers, made on first use (a forked child, which
has none of its parent's threads, makes its own).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numba

_pool: ThreadPoolExecutor | None = None
SERIAL_WORK = 1 << 21  # below this many multiply-adds, one thread (dispatch costs ~0.2 ms)
CHUNKS_PER_THREAD = 8  # run_chunks cuts a range into this many chunks per thread
CHUNK_ALIGN = 64  # run_chunks' chunk boundaries are multiples of this (whole cache lines)


def _thread_pool() -> ThreadPoolExecutor:
    """The shared pool: ``NUMBA_NUM_THREADS`` workers, the most threads numba ever uses
    (:func:`numba.set_num_threads` refuses more), so no call needs a larger one."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS, "fxsim")
    return _pool


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts a pool of its own."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


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
    pool = _thread_pool()
    futures = [pool.submit(kernel, *args, start, stop) for start, stop in bounds(jobs, parts)]
    for future in futures:
        future.result()


def run_balanced(kernel, jobs: int, *args, work: int | None = None,
                 per_worker: tuple = ()) -> None:
    """Call ``kernel(*args, *[a[w] for a in per_worker], start, stop)`` over ``range(jobs)``
    cut into about :data:`CHUNKS_PER_THREAD` contiguous parts per thread, which the threads
    (the calling one included) take one by one until none is left: a thread slowed by other
    work on its core takes fewer. ``per_worker`` arrays have one slice per thread
    (:func:`thread_count`), thread ``w`` passing slice ``w``. One thread when ``work`` (the
    multiply-adds of the call) is below :data:`SERIAL_WORK`. For kernels whose results do not
    depend on how the range is cut (exact integer ones)."""
    threads = 1 if work is not None and work < SERIAL_WORK else thread_count(jobs)
    if threads == 1:
        kernel(*args, *[a[0] for a in per_worker], 0, jobs)
        return
    parts = bounds(jobs, min(jobs, threads * CHUNKS_PER_THREAD))
    taken = itertools.count()  # next() on it is atomic under the GIL

    def take_parts(worker: int) -> None:
        own = [a[worker] for a in per_worker]
        while (j := next(taken)) < len(parts):
            kernel(*args, *own, *parts[j])

    futures = [_thread_pool().submit(take_parts, w) for w in range(1, threads)]
    take_parts(0)
    for future in futures:
        future.result()


def run_chunks(fn, size: int, min_chunk: int) -> list:
    """``fn(start, stop)`` over contiguous chunks covering ``range(size)``, on
    ``numba.get_num_threads()`` threads including the calling one (a single chunk below
    ``2 * min_chunk`` elements). Chunks are at least ``min_chunk`` elements, about
    :data:`CHUNKS_PER_THREAD` per thread, aligned to :data:`CHUNK_ALIGN`. Each thread takes
    the next chunk not yet taken until none is left, so a thread slowed by other work on its
    core takes fewer. Returns the results, in no particular order."""
    if size < 2 * min_chunk:
        return [fn(0, size)]
    threads = numba.get_num_threads()
    chunk = max(min_chunk, size // (threads * CHUNKS_PER_THREAD) // CHUNK_ALIGN * CHUNK_ALIGN)
    starts = range(0, size, chunk)
    taken = itertools.count()  # next() on it is atomic under the GIL

    def take_chunks() -> list:
        results = []
        while (j := next(taken)) < len(starts):
            results.append(fn(starts[j], min(starts[j] + chunk, size)))
        return results

    futures = [_thread_pool().submit(take_chunks) for _ in range(threads - 1)]
    return take_chunks() + [r for f in futures for r in f.result()]
