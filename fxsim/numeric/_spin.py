"""Waiting without sleeping: a compiled ``nogil`` loop that watches a counter.

A thread that sleeps on a lock takes tens of microseconds to wake on a virtual machine (the
idle virtual CPU must be woken by the host); a pool thread that waits that long for each of the
hundreds of parallel calls of a training step leaves a core idle for a large part of a short
call. :func:`spin_until` lets a thread wait for a counter to change while it keeps its core,
for at most a given number of iterations, with the GIL released, as OpenMP runtimes do
(``OMP_WAIT_POLICY``). The counter is read with an atomic acquire load, so the compiler cannot
hoist the read out of the loop; writers are Python code (a plain numpy store under the GIL),
whose stores reach the reader through the cache coherence of the hardware.

:func:`iterations_per_second` measures the loop's speed once, so that callers can state spin
limits in seconds.
"""

from __future__ import annotations

import functools
import time

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _item_pointer(context, builder, signature, args):
    """The address of ``counters[index]``: the intrinsics' first two arguments."""
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, array_type, array, [args[1]])


@intrinsic
def _load_acquire(typingctx, counters, index):
    """``counters[index]`` (int64 array), read with an atomic acquire load."""
    if not (isinstance(counters, types.Array) and counters.dtype == types.int64):
        return None
    sig = types.int64(counters, index)

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_item_pointer(context, builder, signature, args), "acquire",
                                   8)

    return sig, codegen


@intrinsic
def _fetch_add(typingctx, counters, index, value):
    """Add ``value`` to ``counters[index]`` (int64 array) atomically; the value before."""
    if not (isinstance(counters, types.Array) and counters.dtype == types.int64):
        return None
    sig = types.int64(counters, index, types.int64)

    def codegen(context, builder, signature, args):
        return builder.atomic_rmw("add", _item_pointer(context, builder, signature, args),
                                  args[2], "acq_rel")

    return sig, codegen


@numba.njit(nogil=True, cache=True, inline="always")
def start_parts(go: np.ndarray) -> None:  # pragma: no cover - compiled
    """A native run's first step (:meth:`fxsim.numeric.threads.SpinPool.run_native`): count
    the run as started in ``go[0]``, which wakes the spinning workers now that this thread
    holds no GIL."""
    _fetch_add(go, 0, 1)


@numba.njit(nogil=True, cache=True, inline="always")
def take_part(progress: np.ndarray, count: int) -> int:  # pragma: no cover - compiled
    """The next part not yet taken (``progress[0]`` counts those taken), or -1 when all
    ``count`` are."""
    j = _fetch_add(progress, 0, 1)
    return j if j < count else -1


@numba.njit(nogil=True, cache=True, inline="always")
def end_part(progress: np.ndarray) -> None:  # pragma: no cover - compiled
    """Count a part as ended (``progress[1]``)."""
    _fetch_add(progress, 1, 1)


@numba.njit(nogil=True, cache=True)
def spin_until(counters: np.ndarray, index: int, target: int, spins: int) -> bool:
    """Watch ``counters[index]`` for up to ``spins`` iterations (at least one), the GIL
    released; True as soon as it is at least ``target``, False if it never was."""
    for _ in range(max(spins, 1)):  # noqa: SIM110 (numba compiles no generator expression)
        if _load_acquire(counters, index) >= target:
            return True
    return False


@functools.cache
def iterations_per_second() -> float:
    """Iterations of :func:`spin_until` per second on this machine (measured once, after
    compiling it)."""
    counters = np.zeros(1, dtype=np.int64)
    spin_until(counters, 0, 1, 1)
    spins = 1 << 20
    start = time.perf_counter()
    spin_until(counters, 0, 1, spins)
    return spins / max(time.perf_counter() - start, 1e-6)
