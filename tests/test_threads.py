"""The thread pool (fxsim.numeric.threads): every part runs once, results come back in order,
errors reach the caller, and nothing hangs when threads sleep, callers race or parts nest."""

from __future__ import annotations

import functools
import threading
import time

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.numeric import threads
from fxsim.numeric._spin import end_part, iterations_per_second, spin_until, start_parts, take_part


@numba.njit(nogil=True)
def count_parts(hits, taken, parts, progress, go):  # pragma: no cover - compiled
    """A driver: ``hits[i] += 1`` for every job of the parts this thread takes; ``taken[0]``
    counts them."""
    start_parts(go)
    while True:
        j = take_part(progress, parts.shape[0])
        if j < 0:
            return
        for i in range(parts[j, 0], parts[j, 1]):
            hits[i] += 1
        taken[0] += 1
        end_part(progress)


def finishes(fn, seconds: float = 60.0):
    """Run ``fn`` on a thread; its result, failing the test if it has not ended in time."""
    out: list = []
    runner = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    runner.start()
    runner.join(seconds)
    assert not runner.is_alive(), f"still running after {seconds} s"
    return out[0]


@pytest.fixture(scope="module")
def pool() -> threads.SpinPool:
    return threads.SpinPool(2)


def test_run_returns_each_parts_result_in_order_from_other_threads(pool):
    for _ in range(50):
        results = pool.run([lambda k=k: (k, threading.get_ident()) for k in range(3)])
        assert [k for k, _ in results] == [0, 1, 2]
        idents = [ident for _, ident in results]
        assert idents[0] == threading.get_ident()
        assert len(set(idents)) == 3


def test_run_refuses_more_parts_than_threads(pool):
    with pytest.raises(ValueError, match="threads: 4 asked for, the pool runs at most 3"):
        pool.run([int] * 4)


@settings(max_examples=60, deadline=None)
@given(jobs=st.integers(1, 300), threads_used=st.integers(1, 3), per_thread=st.integers(1, 40))
def test_run_native_runs_every_job_once_before_it_returns(pool, jobs, threads_used, per_thread):
    hits = np.zeros(jobs, dtype=np.int64)
    taken = np.zeros((threads_used, 1), dtype=np.int64)
    parts = np.array(threads.bounds(jobs, min(jobs, threads_used * per_thread)), dtype=np.int64)
    pool.run_native(count_parts, threads_used, (hits,), (taken,), parts)
    assert (hits == 1).all()
    assert taken.sum() == len(parts)


def test_run_balanced_covers_the_range_on_one_and_on_all_threads():
    for count in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(count)
        try:
            for jobs in (1, 2, 7, 100, 1001):
                hits = np.zeros(jobs, dtype=np.int64)
                taken = np.zeros((threads.thread_count(jobs), 1), dtype=np.int64)
                threads.run_balanced(count_parts, jobs, hits, per_worker=(taken,))
                assert (hits == 1).all()
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_a_failing_part_raises_on_the_caller_after_the_others_end(pool):
    ended = []

    def slow():
        time.sleep(0.05)
        ended.append("slow")
        return 1

    def fail():
        raise ZeroDivisionError("part 1")

    with pytest.raises(ZeroDivisionError, match="part 1"):
        pool.run([slow, fail])
    assert ended == ["slow"]
    with pytest.raises(ZeroDivisionError, match="part 1"):
        pool.run([fail, slow])
    assert ended == ["slow", "slow"]
    assert pool.run([lambda: 5, lambda: 6]) == [5, 6]  # the pool still works


def test_run_native_raises_a_workers_error_instead_of_waiting_forever(pool):
    def driver(hits, parts, progress, go):
        if threading.current_thread().name.startswith("fxsim-"):  # a pool worker
            raise RuntimeError("worker driver failed")
        count_parts(hits, np.zeros(1, dtype=np.int64), parts, progress, go)

    for _ in range(20):  # the worker may come too late to fail: then no error, all parts done
        hits = np.zeros(64, dtype=np.int64)
        parts = np.array(threads.bounds(64, 64), dtype=np.int64)
        try:
            finishes(functools.partial(pool.run_native, driver, 2, (hits,), (), parts))
        except RuntimeError as error:
            assert str(error) == "worker driver failed"
        else:
            assert (hits == 1).all()


def test_sleeping_workers_wake_for_the_next_part():
    pool = threads.SpinPool(2)
    pool.idle_spins = 0  # workers sleep as soon as they are idle
    pool.result_spins = 0
    for _ in range(3):
        time.sleep(0.02)
        assert finishes(lambda: pool.run([lambda k=k: k * k for k in range(3)])) == [0, 1, 4]
        hits = np.zeros(100, dtype=np.int64)
        parts = np.array(threads.bounds(100, 30), dtype=np.int64)
        finishes(functools.partial(pool.run_native, count_parts, 3, (hits,),
                                   (np.zeros((3, 1), dtype=np.int64),), parts))
        assert (hits == 1).all()


def test_callers_on_two_threads_and_nested_calls_get_their_own_results(pool):
    def caller(base: int) -> list:
        return [pool.run([lambda k=k: base + k for k in range(3)]) for _ in range(200)]

    out: dict[int, list] = {}
    racers = [threading.Thread(target=lambda b=b: out.__setitem__(b, caller(b)))
              for b in (0, 100)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    assert all(out[b] == [[b, b + 1, b + 2]] * 200 for b in (0, 100))
    nested = finishes(lambda: pool.run([lambda: pool.run([lambda: 1, lambda: 2]), lambda: 3]))
    assert nested == [[1, 2], 3]


def test_spinning_and_working_are_counted_per_thread():
    pool = threads.SpinPool(1, cores=2)  # spins, whatever this machine has
    spun, worked = pool.spinning.seconds(), pool.working.seconds()
    caller = threading.get_ident()
    caller_spun = pool.spinning.seconds(caller)
    pool.run([lambda: None, lambda: time.sleep(0.02)])  # the caller waits for the worker
    assert pool.working.seconds() - worked >= 0.02
    assert pool.spinning.seconds(caller) - caller_spun > 0.0
    time.sleep(0.002)  # the worker spins, idle
    assert pool.spinning.seconds() - spun > pool.spinning.seconds(caller) - caller_spun
    assert threads.spin_seconds() >= 0.0 and threads.part_seconds() >= 0.0


def test_no_spinning_with_more_threads_than_cores():
    assert threads.SpinPool(1, cores=2).idle_spins > 0
    crowded = threads.SpinPool(2, cores=2)
    assert crowded.idle_spins == 0 and crowded.result_spins == 0
    assert finishes(lambda: crowded.run([lambda k=k: k for k in range(3)])) == [0, 1, 2]


def test_spin_until_sees_a_store_from_another_thread():
    counters = np.zeros(1, dtype=np.int64)
    spins = int(5 * iterations_per_second())  # about 5 s: far longer than the store takes
    timer = threading.Timer(0.01, lambda: counters.__setitem__(0, 3))
    timer.start()
    assert spin_until(counters, 0, 3, spins)
    assert not spin_until(counters, 0, 4, 1000)
    assert spin_until(counters, 0, 3, 0)  # zero spins still look once


def test_thread_count_is_numbas_and_needs_no_launch_lock():
    from numba.np.ufunc import parallel

    for count in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        numba.set_num_threads(count)
        try:
            assert threads.numba_threads() == numba.get_num_threads() == count
            other = finishes(threads.numba_threads)  # on another thread: numba's count is
            assert other == numba.config.NUMBA_NUM_THREADS  # per thread, that one's the default
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    # a forked child killed while it held numba's launch lock leaves it held: reading the
    # count must not wait for it
    lock = parallel._backend_init_process_lock
    held = threading.Event()
    release = threading.Event()

    def hold():
        with lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(30)
    try:
        assert finishes(threads.numba_threads, 10) == numba.config.NUMBA_NUM_THREADS
        assert finishes(lambda: threads.thread_count(10**6), 10) >= 1
    finally:
        release.set()
        holder.join(30)
