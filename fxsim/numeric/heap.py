"""The process's C allocator set for training steps: large temporaries reuse freed heap pages.

A training step allocates and frees hundreds of megabytes in arrays of 1-16 MB (products,
codes, batch-norm values). glibc serves an allocation above its mmap threshold (128 KiB at
start, raised up to 32 MiB as such blocks are freed) with fresh pages from the kernel, and
gives freed memory at the top of the heap back once it exceeds the trim threshold. Fresh pages
fault in zeroed on first touch: writing a new 16 MB float64 array took 2.6-3.2 ms on this
project's 2-core VM, rewriting it 0.5 ms. :func:`keep_freed_pages` raises both thresholds, so
every block of a step comes from the heap and freed pages stay mapped for the next step. On a
ResNet-20 step at batch 128 (``getrusage`` around 8 steps) the page faults went from
3200-5100 to 4 per step and the kernel's CPU time from 0.032-0.046 s to 0.004-0.011 s per
step (int8, arc8, int4_interval), at the same peak resident size (366-377 MB in that
measurement, a process that trains one policy; the benchmark's children peak lower). Memory freed
is not returned to the system until the process ends: the resident size stays at its peak,
which a training run reaches in its first step.

Results do not depend on it: only where arrays live changes. Nothing is done on other C
libraries, nor when the user set glibc's own ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` (which take precedence), nor with ``FXSIM_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 256 << 20  # bytes: larger blocks still get their own mapping
MMAP_THRESHOLD_OLD_GLIBC = 32 << 20  # the most that glibc before 2.35 accepts (64-bit)
TRIM_THRESHOLD = 1 << 30  # bytes of free heap top kept before any is given back
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_applied: bool | None = None


def keep_freed_pages() -> bool:
    """Set glibc's mmap and trim thresholds to :data:`MMAP_THRESHOLD` (or
    :data:`MMAP_THRESHOLD_OLD_GLIBC` where that is the most it takes) and
    :data:`TRIM_THRESHOLD` for this process (once; later calls return the first answer).
    Returns whether they were set: False on a C library without ``mallopt``, when the
    environment sets glibc's thresholds itself or ``FXSIM_MALLOC=default``."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get("FXSIM_MALLOC") == "default" or any(
            name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # not glibc (macOS, musl without it, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mapped = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(
        _M_MMAP_THRESHOLD, MMAP_THRESHOLD_OLD_GLIBC)
    return bool(mapped) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
