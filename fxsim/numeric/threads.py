"""Run serial numba kernels over a range on several threads, from one shared pool of threads.

The kernels are compiled ``nogil`` and take ``(start, stop)`` bounds, which keeps them quick
to compile (no parallel-loop transformation). The number of threads is numba's
(``NUMBA_NUM_THREADS`` or :func:`numba.set_num_threads`). Three schedules:

* :func:`run_parallel` cuts a range of jobs into one contiguous part per thread (the ops'
  products, whose results are exact, so they do not depend on how the range is cut);
* :func:`run_balanced` cuts it into many parts that the threads take one by one in compiled
  code, without the GIL (the ``int8`` products' ``_parts`` drivers);
* :func:`run_chunks` cuts a range of elements into a few chunks per thread that the threads
  take one by one (the quantizers, whose random numbers depend on the flat element index
  only).

All three use one :class:`SpinPool` of ``NUMBA_NUM_THREADS - 1`` workers besides the calling
thread, made on first use (a forked child, which has none of its parent's threads, makes its
own). A worker that has finished its part keeps its core for :data:`IDLE_SPIN_SECONDS`, watching
for the next part with the GIL released (:mod:`fxsim.numeric._spin`), before it sleeps: a
sleeping thread takes 20-100 us to wake here, a large share of a 1 ms product call. With more
threads than usable cores nobody spins (a spinning thread would hold up one with work). The time
spent spinning is counted (:func:`spin_seconds`) so that measurements of CPU time can leave it
out. One caller uses the pool at a time; a call from another thread while it is busy (or from
inside a part) runs its parts on the calling thread, one after the other, which gives the same
results.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba.np.ufunc import parallel as _numba_parallel

from fxsim.numeric._spin import iterations_per_second, spin_until

SERIAL_WORK = 1 << 21  # below this many multiply-adds, one thread: a second saves too little
CHUNKS_PER_THREAD = 2  # run_chunks cuts a range into this many chunks per thread (memory-bound
# conversions: more chunks only add Python calls; 2 still lets a slowed thread take fewer)
NATIVE_PARTS_PER_THREAD = 16  # run_balanced's parts per thread (taking one costs ~10 ns)
CHUNK_ALIGN = 64  # run_chunks' chunk boundaries are multiples of this (whole cache lines)
IDLE_SPIN_SECONDS = 1e-3  # a worker waits this long for its next part on its core, then sleeps
RESULT_SPIN_SECONDS = 20e-3  # the caller waits this long for a worker's result, then sleeps


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ActivityTimer:
    """Seconds spent in one activity, per thread, by :func:`time.perf_counter`: the spells
    that have ended and the one under way."""

    def __init__(self) -> None:
        self.ended: dict[int, float] = {}
        self.since: dict[int, float] = {}

    def start(self) -> None:
        self.since[threading.get_ident()] = time.perf_counter()

    def stop(self) -> None:
        thread = threading.get_ident()
        spell = time.perf_counter() - self.since.pop(thread)
        self.ended[thread] = self.ended.get(thread, 0.0) + spell

    def seconds(self, thread: int | None = None) -> float:
        """The seconds of every thread, or of ident ``thread``."""
        now = time.perf_counter()
        ongoing = dict(self.since)
        ended = dict(self.ended)
        threads = set(ongoing) | set(ended) if thread is None else {thread}
        return sum(ended.get(t, 0.0) + (now - ongoing[t] if t in ongoing else 0.0)
                   for t in threads)


class SpinPool:
    """``workers`` threads that run parts handed to them by :meth:`run` and :meth:`run_native`.

    Worker ``w`` (1 to ``workers``; the caller is part 0) has a slot for its next part, tagged
    with a job number. Workers watch :attr:`go` (runs started) with :func:`spin_until` and then
    take their slot; a worker that gives up spinning sleeps on :attr:`wake`, and a caller that
    fills a slot notifies it (it checks :attr:`sleepers` after filling the slot, both under
    the GIL, so no wake-up is lost). A native run's caller bumps :attr:`go` from compiled code,
    once it holds no GIL, so that the workers it wakes find the GIL free: a thread that waits
    for the GIL sleeps, and pays the wake-up this pool is here to avoid.
    """

    def __init__(self, workers: int, cores: int | None = None) -> None:
        self.go = np.zeros(1, dtype=np.int64)
        self.finished = np.zeros(workers + 1, dtype=np.int64)  # job number last ended
        self.slots: list[tuple[int, Callable[[], Any]] | None] = [None] * (workers + 1)
        self.results: list[tuple[Any, BaseException | None]] = [(None, None)] * (workers + 1)
        self.jobs = 0
        self.wake = threading.Condition()
        self.sleepers = 0
        self.busy = threading.Lock()
        self.spinning = ActivityTimer()  # waiting for work on the core, every thread
        self.working = ActivityTimer()  # the workers running parts
        rate = iterations_per_second()
        # more threads than cores: a spinning thread would take the core of one with work
        spin = workers + 1 <= (usable_cores() if cores is None else cores)
        self.idle_spins = int(IDLE_SPIN_SECONDS * rate) if spin else 0
        self.result_spins = int(RESULT_SPIN_SECONDS * rate) if spin else 0
        for w in range(1, workers + 1):
            threading.Thread(target=self._serve, args=(w,), name=f"fxsim-{w}",
                             daemon=True).start()

    @property
    def workers(self) -> int:
        return len(self.slots) - 1

    def _notify(self) -> None:
        if self.sleepers:
            with self.wake:
                self.wake.notify_all()

    def _spin(self, counts: np.ndarray, index: int, target: int, spins: int) -> bool:
        self.spinning.start()
        arrived = spin_until(counts, index, target, spins)
        self.spinning.stop()
        return arrived

    def _sleep_until(self, ready: Callable[[], bool]) -> None:
        with self.wake:
            self.sleepers += 1
            while not ready():
                self.wake.wait(0.1)
            self.sleepers -= 1

    def _called(self, w: int, seen: int) -> bool:
        """Has worker ``w`` a part in its slot, or has a run started since ``go`` was ``seen``?"""
        return self.slots[w] is not None or self.go[0] > seen

    def _serve(self, w: int) -> None:
        seen = 0
        while True:
            if not self._spin(self.go, 0, seen + 1, self.idle_spins):
                self._sleep_until(functools.partial(self._called, w, seen))
            seen = int(self.go[0])
            slot, self.slots[w] = self.slots[w], None
            if slot is None:
                continue
            job, part = slot
            self.working.start()
            self.results[w] = _outcome(part)  # an error is raised by the caller
            self.working.stop()
            self.finished[w] = job
            self._notify()

    def _post(self, parts: list[Callable[[], Any]]) -> list[int]:
        """Put ``parts[w - 1]`` in worker ``w``'s slot; the job numbers."""
        jobs = []
        for w, part in enumerate(parts, 1):
            self.jobs += 1
            jobs.append(self.jobs)
            self.slots[w] = (self.jobs, part)
        self._notify()
        return jobs

    def _join(self, jobs: list[int]) -> list[tuple[Any, BaseException | None]]:
        """Wait for the workers' jobs ``jobs`` (worker ``w``'s is ``jobs[w - 1]``) to end;
        their results."""
        results = []
        for w, job in enumerate(jobs, 1):
            if not self._spin(self.finished, w, job, self.result_spins):
                self._sleep_until(lambda w=w, job=job: self.finished[w] >= job)
            results.append(self.results[w])
            self.results[w] = (None, None)
        return results

    def run(self, parts: list[Callable[[], Any]]) -> list[Any]:
        """``parts[0]()`` on the calling thread and ``parts[w]()`` on worker ``w``; their
        results in that order. A single part, or all parts when the pool is busy with another
        caller, run on the caller, one after the other. An exception from a part is raised
        after every part has ended."""
        self._check(len(parts))
        if len(parts) == 1 or not self.busy.acquire(blocking=False):
            return [part() for part in parts]
        try:
            jobs = self._post(parts[1:])
            self.go[0] += 1
            results = [_outcome(parts[0]), *self._join(jobs)]
        finally:
            self.busy.release()
        return _values(results)

    def run_native(self, driver, threads: int, args: tuple, per_worker: tuple,
                   parts: np.ndarray) -> None:
        """``driver(*args, *[a[w] for a in per_worker], parts, progress, go)`` on ``threads``
        threads (the caller is ``w = 0``). The driver is compiled: it adds 1 to ``go[0]``
        first, then takes the parts ``(start, stop) = parts[j]`` one by one
        (:func:`fxsim.numeric._spin.take_part`) until none is left, counting those it ends in
        ``progress[1]`` (:func:`fxsim.numeric._spin.end_part`). Returns once every part has
        ended, without waiting for the workers to return from their drivers (a worker that
        comes late finds no part left). With one thread, or when the pool is busy, the caller
        takes every part."""
        self._check(threads)
        progress = np.zeros(2, dtype=np.int64)
        alone = threads == 1 or not self.busy.acquire(blocking=False)
        go = np.zeros(1, dtype=np.int64) if alone else self.go  # alone: nobody to wake
        calls = [functools.partial(driver, *args, *[a[w] for a in per_worker], parts, progress,
                                   go) for w in range(threads)]
        if alone:
            calls[0]()
            return
        try:
            jobs = self._post(calls[1:])
            outcome = _outcome(calls[0])
            if outcome[1] is not None:  # a part may never end: wait for the drivers
                _values([outcome, *self._join(jobs)])
            while not self._spin(progress, 1, len(parts), self.result_spins):
                if any(self.finished[w] >= job for w, job in enumerate(jobs, 1)
                       if self.results[w][1] is not None):
                    _values(self._join(jobs))  # raises the worker's error
                time.sleep(1e-3)  # a worker holds a part for long: its core is taken
        finally:
            self.busy.release()

    def _check(self, threads: int) -> None:
        if threads > self.workers + 1:
            raise ValueError(f"threads: {threads} asked for, the pool runs at most "
                             f"{self.workers + 1}")


def _outcome(part: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return part(), None
    except BaseException as error:
        return None, error


def _values(results: list[tuple[Any, BaseException | None]]) -> list[Any]:
    """The values of ``results``; the first error among them raised instead, if any."""
    for _, error in results:
        if error is not None:
            raise error
    return [value for value, _ in results]


_pool: SpinPool | None = None


def _thread_pool() -> SpinPool:
    """The shared pool: ``NUMBA_NUM_THREADS - 1`` workers, so that with the caller it runs
    the most threads numba ever uses (:func:`numba.set_num_threads` refuses more)."""
    global _pool
    if _pool is None:
        _pool = SpinPool(numba.config.NUMBA_NUM_THREADS - 1)
    return _pool


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts a pool of its own."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def spin_seconds(thread: int | None = None) -> float:
    """Seconds the pool's threads (or the one of ident ``thread``, a caller's) have spent
    spinning so far, those under way included: CPU time that did no work, for measurements
    that leave it out."""
    return _pool.spinning.seconds(thread) if _pool is not None else 0.0


def part_seconds() -> float:
    """Seconds the pool's workers have spent running parts so far (wall time; those under way
    included): with the calling thread's CPU time less its spinning, the CPU time of fxsim's
    work, measured without the lag of other threads' CPU clocks."""
    return _pool.working.seconds() if _pool is not None else 0.0


def numba_threads() -> int:
    """``numba.get_num_threads()``: numba's thread count for the calling thread, read without
    numba's launch lock once its threading layer is up. ``get_num_threads`` takes that lock, a
    multiprocessing RLock that forked children share, on every call: a forked child killed
    while it held it (SIGKILL at a random point, as tests/kill_resume.py does) left the next
    child waiting on it forever."""
    if numba.config.NUMBA_NUM_THREADS == 1:
        return 1
    count = getattr(_numba_parallel, "_get_num_threads", None)
    if getattr(_numba_parallel, "_is_initialized", False) and count is not None:
        return int(count())
    return numba.get_num_threads()


def thread_count(jobs: int) -> int:
    """Threads used for ``jobs`` jobs: numba's thread count, at most one per job."""
    return max(1, min(numba_threads(), jobs))


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
    _thread_pool().run([functools.partial(kernel, *args, start, stop)
                        for start, stop in bounds(jobs, parts)])


def run_balanced(driver, jobs: int, *args, work: int | None = None,
                 per_worker: tuple = ()) -> None:
    """Run the compiled ``driver`` over ``range(jobs)`` cut into about
    :data:`NATIVE_PARTS_PER_THREAD` contiguous parts per thread, which the threads (the calling
    one included) take one by one until none is left, without the GIL: a thread slowed by
    other work on its core takes fewer. ``driver(*args, *[a[w] for a in per_worker], parts,
    progress, go)`` is a kernel's parts form (:meth:`SpinPool.run_native`); ``per_worker``
    arrays have one slice per thread (:func:`thread_count`), thread ``w`` passing slice ``w``.
    One thread when ``work`` (the multiply-adds of the call) is below :data:`SERIAL_WORK`. For
    kernels whose results do not depend on how the range is cut (exact integer ones)."""
    threads = 1 if work is not None and work < SERIAL_WORK else thread_count(jobs)
    count = min(jobs, threads * NATIVE_PARTS_PER_THREAD)
    edges = np.arange(count + 1, dtype=np.int64) * jobs // count  # those of bounds(jobs, count)
    parts = np.stack([edges[:-1], edges[1:]], axis=1)
    _thread_pool().run_native(driver, threads, args, per_worker, parts)


def run_chunks(fn, size: int, min_chunk: int) -> list:
    """``fn(start, stop)`` over contiguous chunks covering ``range(size)``, on
    ``numba.get_num_threads()`` threads including the calling one (a single chunk below
    ``2 * min_chunk`` elements). Chunks are at least ``min_chunk`` elements, about
    :data:`CHUNKS_PER_THREAD` per thread, aligned to :data:`CHUNK_ALIGN`. Each thread takes
    the next chunk not yet taken until none is left, so a thread slowed by other work on its
    core takes fewer. Returns the results, in no particular order."""
    if size < 2 * min_chunk:
        return [fn(0, size)]
    threads = numba_threads()
    chunk = max(min_chunk, size // (threads * CHUNKS_PER_THREAD) // CHUNK_ALIGN * CHUNK_ALIGN)
    starts = range(0, size, chunk)
    taken = itertools.count()  # next() on it is atomic under the GIL

    def take_chunks() -> list:
        results = []
        while (j := next(taken)) < len(starts):
            results.append(fn(starts[j], min(starts[j] + chunk, size)))
        return results

    return [r for part in _thread_pool().run([take_chunks] * threads) for r in part]
