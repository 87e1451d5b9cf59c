"""numpy's pairwise summation of float64, cut into subtrees that are summed apart: ``np.mean``
and ``np.std`` bit for bit, from pieces of a tensor read in any order (no numba, no threads).

numpy sums a contiguous float64 array (``np.add.reduce``, hence ``np.mean`` and ``np.std``) as
``0.0 + pairwise(x)``: a run of at most :data:`PAIRWISE_BLOCK` elements is added directly
(eight interleaved partial sums), a longer run of ``n`` splits at ``n // 2`` rounded down to a
multiple of 8, each half summed the same way (``pairwise_sum`` in numpy's
``loops_utils.h.src``). Cut that tree at its subtrees of at most :data:`SUBTREE` elements, the
*leaves* (:func:`leaves`): each leaf is a run numpy would sum as a whole, so numpy itself sums
it (``np.add.reduce(leaf)``), on any thread and in any order, and :func:`combine` adds the
leaves' sums as the tree adds them.

``np.add.reduce(leaf)`` is ``0.0 + pairwise(leaf)``, not ``pairwise(leaf)``: the two differ
only when ``pairwise(leaf)`` is ``-0.0`` (``0.0 + s`` is ``s`` for every other float, NaN
and infinities included). And an addition ``a + b`` in which a ``-0.0`` operand is replaced by
``+0.0`` gives the same float unless the other operand is a zero too, in which case both
results are zeros. So up the tree every partial sum either equals numpy's or both are zeros
differing in sign, and the final ``0.0 +`` (which :func:`mean_and_std` adds, as numpy does)
turns either zero into ``+0.0``: the total is numpy's, bit for bit.

``tests/test_range_statistics.py`` pins the equality with the installed numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np

PAIRWISE_BLOCK = 128  # numpy's pairwise summation adds runs of at most this many directly
SUBTREE = 1 << 16  # leaves of at most this many elements (a 512 KiB buffer, in L2: 2**15
# took 2.65 ms on 2M values, 2**16 1.6 ms, fewer Python calls)

LeafReduce = Callable[[np.ndarray, np.ndarray], float]
"""``reduce(values, scratch)``: a float from one leaf's float64 ``values`` (C-contiguous,
valid during the call only), ``scratch`` a writable float64 buffer of the same size that may be
``values`` itself."""

LeafMap = Callable[[LeafReduce], list]
"""``map_leaves(reduce)``: ``reduce`` of every leaf of a tensor's tree (:func:`leaves` of its
size), the results in the leaves' order; the calls may run on several threads at once."""


def _split(count: int) -> int:
    """Where numpy's pairwise sum splits a run of ``count > PAIRWISE_BLOCK`` elements."""
    half = count // 2
    return half - half % 8


def leaves(size: int, subtree: int = SUBTREE) -> list[tuple[int, int]]:
    """The ``(start, stop)`` of the leaves of numpy's summation tree over ``size`` elements:
    its subtrees of at most ``subtree`` elements (``subtree >= PAIRWISE_BLOCK``), left to
    right; ``[(0, size)]`` when ``size <= subtree``."""
    found: list[tuple[int, int]] = []
    _collect_leaves(0, size, subtree, found)
    return found


def _collect_leaves(start: int, stop: int, subtree: int, found: list) -> None:
    if stop - start <= subtree:
        found.append((start, stop))
        return
    middle = start + _split(stop - start)
    _collect_leaves(start, middle, subtree, found)
    _collect_leaves(middle, stop, subtree, found)


def combine(size: int, sums: list[float], subtree: int = SUBTREE) -> float:
    """The sum of numpy's tree over ``size`` elements from its leaves' sums ``sums`` (in the
    order of :func:`leaves`), added as the tree adds them, without numpy's leading ``0.0 +``."""
    return _combine(size, iter(sums), subtree)


def _combine(count: int, sums, subtree: int) -> float:
    # a module function, not a recursive closure: a closure that refers to itself is a
    # reference cycle, kept alive (with what it holds) until the garbage collector runs
    if count <= subtree:
        return float(next(sums))
    half = _split(count)
    left = _combine(half, sums, subtree)  # the left subtree's leaves come first
    return left + _combine(count - half, sums, subtree)


def leaf_sum(values: np.ndarray, scratch: np.ndarray) -> float:
    """``np.add.reduce(values)`` (:data:`LeafReduce`; overflow to infinity is silent, as in
    a thread that has no ``np.errstate`` of its caller)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.add.reduce(values))


def leaf_squares(mean: float, values: np.ndarray, scratch: np.ndarray) -> float:
    """``np.add.reduce((values - mean)**2)``, the squares formed in ``scratch``, each element
    as ``np.std`` forms it (subtract, then multiply by itself)."""
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(values, mean, out=scratch)
        np.multiply(scratch, scratch, out=scratch)
        return float(np.add.reduce(scratch))


def mean_and_std(size: int, map_leaves: LeafMap, sum_leaf: LeafReduce = leaf_sum,
                 squares_leaf: Callable[[float, np.ndarray, np.ndarray], float] = leaf_squares,
                 ) -> tuple[float, float]:
    """``(np.mean(x), np.std(x))`` bit for bit (float64, population std) of a tensor of
    ``size`` float64 values read leaf by leaf by ``map_leaves``, in two passes: the sum, then
    the sum of squares around the mean, each combined in numpy's order (see the module
    docstring). NaN for both when ``size`` is 0. Overflow gives infinities or NaN silently.
    ``sum_leaf`` and ``squares_leaf`` sum one leaf, as :func:`leaf_sum` and
    :func:`leaf_squares` do (the compiled ones of :mod:`fxsim.numeric._pairwise_kernels`
    give the same floats)."""
    if size == 0:
        return math.nan, math.nan
    mean = (0.0 + combine(size, map_leaves(sum_leaf))) / size
    squares = combine(size, map_leaves(partial(squares_leaf, mean)))
    with np.errstate(invalid="ignore"):
        return mean, float(np.sqrt((0.0 + squares) / size))


def array_leaves(flat: np.ndarray) -> LeafMap:
    """The :data:`LeafMap` of a flat C-contiguous float64 array on the calling thread: its
    leaves are slices, the squares formed in one buffer."""
    bounds = leaves(flat.size)
    scratch = np.empty(max(stop - start for start, stop in bounds))

    def map_leaves(reduce: LeafReduce) -> list:
        return [reduce(flat[start:stop], scratch[:stop - start]) for start, stop in bounds]

    return map_leaves


def array_mean_and_std(x: np.ndarray) -> tuple[float, float]:
    """``(np.mean(x), np.std(x))`` of a C-contiguous float64 array, bit for bit, without
    numpy's two full-size temporaries (``x - mean`` and its square); one thread."""
    flat = x.reshape(-1)
    return mean_and_std(flat.size, array_leaves(flat))
