"""Float64 tensors computed on demand, block by block, for the quantizers of the float islands.

A float island (batch norm) ends in a quantizer: its float64 output is only read to choose a
scale (``max|x|`` for min-max rules) and to be rounded to codes. :class:`DeferredFloat` holds
the recipe of such a tensor instead of its values: a ``fill`` function that computes any run
of its elements (in C order), and optionally the exact ``max|x|`` found without the values
(:func:`fxsim.numeric.convert.quantize` takes it directly). The quantizer then computes each
block of values into a buffer that stays in cache and rounds it there, instead of writing
8 bytes per element to memory and reading them back twice.

Every value is computed by the same ``fill`` whether it is materialized (:meth:`values`) or
consumed block by block, so both give the same floats, bit for bit; anything that needs the
whole array (``np.asarray``, rules that read the values) gets :meth:`values`. The range rules
that need more than ``max|x|`` but not the values themselves take their statistics from the
tensor's methods instead (:meth:`DeferredFloat.mean_and_std`, :meth:`DeferredFloat.max_abs`:
the ``fxsim.ranges.base.BlockTensor`` protocol), parallel passes over the blocks, the values
computed once; a tensor whose values are known already
(:meth:`DeferredFloat.of_values`) gives the same statistics from slices of them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable

import numba
import numpy as np

from fxsim.numeric import _pairwise_kernels, pairwise
from fxsim.numeric.threads import run_chunks

BLOCK = 1 << 17  # elements per block: 1 MB of float64, in L2
PARALLEL_MIN = 1 << 16  # the smallest run of elements given to one thread
_buffers = threading.local()

Fill = Callable[[int, int, int, np.ndarray], None]


def block_buffer(size: int) -> np.ndarray:
    """This thread's float64 scratch buffer, at least ``size`` elements (reused)."""
    buffer = getattr(_buffers, "array", None)
    if buffer is None or buffer.size < size:
        buffer = _buffers.array = np.empty(max(size, BLOCK))
    return buffer[:size]


MAGNITUDE_BITS = np.int64(0x7FFF_FFFF_FFFF_FFFF)  # a float64's bits without its sign


@numba.njit(cache=True, nogil=True)
def _largest_magnitude_bits(values):  # pragma: no cover - compiled
    """The bits of ``max |v|`` of a float64 array: the magnitude bits of nonnegative floats
    order as integers do, and every NaN's lie above infinity's; an integer maximum vectorises
    where a float one (NaN-aware) does not."""
    bits = values.view(np.int64)
    largest = np.int64(0)
    for i in range(bits.size):
        largest = max(largest, bits[i] & MAGNITUDE_BITS)
    return largest


def _float_of_bits(bits: int) -> float:
    """The float64 whose bits are the int64 ``bits``."""
    return float(np.array(bits, dtype=np.int64).view(np.float64))


class DeferredFloat:
    """A float64 tensor of ``shape`` whose values ``fill(start, stop, step, out)`` computes:
    flat (C-order) elements ``start, start + step, ... < stop`` into ``out``; ``fill`` may run
    on several threads at once.

    ``max_abs``: a function giving the exact ``max|x|`` without the values, when the producer
    knows one (else it is found on the first pass over the blocks). The tensor is read-only;
    :meth:`values` materializes it once (cached), and ``np.asarray`` does the same. Its
    statistics (:meth:`max_abs`, :meth:`mean_and_std`) are passes over its blocks on the
    threads of :func:`fxsim.numeric.threads.run_chunks`; :meth:`values` and
    :meth:`mean_and_std` keep the values they compute (and find ``max|x|`` on the way), a pass
    for ``max|x|`` alone does not."""

    dtype = np.dtype(np.float64)

    def __init__(self, shape: tuple[int, ...], fill: Fill,
                 max_abs: Callable[[], float] | None = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        self._size = math.prod(self.shape)
        self.fill = fill
        self._max_abs = max_abs
        self._values: np.ndarray | None = None
        self._largest_bits: int | None = None  # max|x|'s bits, once a full pass has found them
        self._moments: tuple[float, float] | None = None  # (mean, std), once computed

    @classmethod
    def of_values(cls, values: np.ndarray) -> DeferredFloat:
        """The tensor of the known float64 ``values`` (made C-contiguous): its statistics are
        taken over the threads as a deferred tensor's are, from slices of the values."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        flat = values.reshape(-1)

        def fill(start: int, stop: int, step: int, out: np.ndarray) -> None:
            out[:] = flat[start:stop:step]

        tensor = cls(values.shape, fill)
        tensor._values = values
        return tensor

    @property
    def size(self) -> int:
        return self._size

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def values(self) -> np.ndarray:
        """The whole tensor, float64, C-contiguous (computed once)."""
        if self._values is None:
            self._materialize()
        return self._values

    def _materialize(self) -> None:
        """Compute and keep the values, block by block on the threads (:func:`run_blocks`),
        finding ``max|x|`` on the way unless known (each block's while it is in cache)."""
        out = np.empty(self.shape)
        run_blocks(self, _ignore_block, out.reshape(-1))
        self._values = out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self.values()
        return values if dtype is None else values.astype(dtype, copy=False)

    def max_abs(self) -> float:
        """``max |x|`` (0.0 when empty; NaN if a value is NaN), exact: from a pass already
        made over the blocks (:func:`run_blocks`, :meth:`values`, :meth:`mean_and_std`), else
        from the producer when it knows it, else found by a pass over the blocks that keeps
        nothing."""
        if self.size == 0:
            return 0.0
        if self._largest_bits is None:
            if self._max_abs is not None:
                return float(self._max_abs())
            run_blocks(self, _ignore_block)
        return _float_of_bits(self._largest_bits)

    def knows_max_abs(self) -> bool:
        """Is :meth:`max_abs` known without a pass over the values (from the producer, or
        from a pass already made)?"""
        return self._max_abs is not None or self._largest_bits is not None or self.size == 0

    def mean_and_std(self) -> tuple[float, float]:
        """``(np.mean(x), np.std(x))`` of the values, bit for bit (float64; NaN when empty),
        in two passes over the leaves of numpy's summation tree on the threads
        (:func:`fxsim.numeric.pairwise.mean_and_std`), each leaf summed in one compiled pass
        (:mod:`fxsim.numeric._pairwise_kernels`). The first pass finds ``max|x|`` too, unless
        known, and keeps the values it computes (:meth:`values`): the second pass and the
        rounding then read them instead of computing them again (measured on a batch-norm
        gradient of 2M elements: writing them costs no more than a pass that computes them
        and drops them, about 0.6 ms on two threads, and reading them back is cheaper than
        computing them). Computed once (cached). Overflow gives infinities or NaN, silently."""
        if self._moments is None:
            self._moments = pairwise.mean_and_std(
                self.size, self._map_leaves,
                _pairwise_kernels.leaf_sum, _pairwise_kernels.leaf_squares)
        return self._moments

    def _map_leaves(self, reduce: pairwise.LeafReduce) -> list:
        """The :data:`~fxsim.numeric.pairwise.LeafMap` of this tensor: ``reduce(values,
        scratch)`` of each leaf of numpy's tree over it, each leaf computed (or sliced) as
        :func:`run_blocks` computes a block, several leaves at once on the threads (one thread
        below ``2 * PARALLEL_MIN`` elements); computed leaves go into the array that
        :meth:`values` then returns."""
        bounds = pairwise.leaves(self.size)
        find = not self.knows_max_abs()
        kept = np.empty(self.shape) if self._values is None else None

        def chunk(first: int, last: int) -> tuple[list, int]:
            return _run_pieces(self, enumerate(bounds[first:last], first), find,
                               lambda j, values, scratch: (j, reduce(values, scratch)),
                               None if kept is None else kept.reshape(-1))

        serial = self.size < 2 * PARALLEL_MIN
        parts = run_chunks(chunk, len(bounds), len(bounds) if serial else 1)
        results = _gather(self, parts, find)
        if kept is not None:
            self._values = kept
        return [result for _, result in sorted(results, key=lambda pair: pair[0])]

    def strided(self, stride: int) -> np.ndarray:
        """The flat elements ``0, stride, 2 * stride, ...`` (a deterministic subsample)."""
        out = np.empty(-(-self.size // stride))
        if self._values is not None:
            out[:] = self._values.reshape(-1)[::stride]
        else:
            self.fill(0, self.size, stride, out)
        return out


def _ignore_block(start: int, values: np.ndarray) -> None:
    """A :func:`run_blocks` consumer that keeps nothing (a pass for ``max|x|`` alone)."""


def run_blocks(x: DeferredFloat, consume: Callable[[int, np.ndarray], object],
               keep: np.ndarray | None = None) -> list:
    """``consume(start, values)`` for consecutive blocks of at most :data:`BLOCK` elements
    of ``x`` (``start``: the flat index of ``values[0]``), computed into a per-thread buffer
    (into the flat ``keep`` when given; sliced from the values when ``x`` keeps them), over
    the threads of
    :func:`fxsim.numeric.threads.run_chunks`. Returns the results, in no particular order.
    Unless ``x`` knows its ``max|x|`` already (:meth:`DeferredFloat.knows_max_abs`), each
    block's is taken while it is in cache, and the whole tensor's kept for
    :meth:`DeferredFloat.max_abs`: a quantizer may round with a scale guessed before it knew
    ``max|x|``, and keep the codes when the scale ``max|x|`` gives is the same."""
    find = not x.knows_max_abs()

    def chunk(start: int, stop: int) -> tuple[list, int]:
        blocks = ((first, (first, min(first + BLOCK, stop)))
                  for first in range(start, stop, BLOCK))
        return _run_pieces(x, blocks, find, lambda first, values, scratch: consume(first, values),
                           keep)

    return _gather(x, run_chunks(chunk, x.size, PARALLEL_MIN), find)


def _run_pieces(x: DeferredFloat, pieces: Iterable[tuple[int, tuple[int, int]]], find: bool,
                consume: Callable[[int, np.ndarray, np.ndarray], object],
                keep: np.ndarray | None = None) -> tuple[list, int]:
    """``[consume(key, values, scratch) for key, (start, stop) in pieces]`` and, with
    ``find``, the bits of ``max|x|`` over the pieces (else 0). ``values``: flat elements
    ``start:stop`` of ``x``, computed by ``x.fill`` into this thread's :func:`block_buffer`
    (``scratch`` is then that same buffer), or into ``keep[start:stop]`` when given, or sliced
    from the values ``x`` keeps (``scratch`` the buffer, for the consumer's use); the
    magnitude is taken while they are in cache."""
    kept = None if x._values is None else x._values.reshape(-1)
    results, largest = [], 0
    for key, (start, stop) in pieces:
        scratch = block_buffer(stop - start)
        if kept is not None:
            values = kept[start:stop]
        elif keep is not None:
            values = keep[start:stop]
            x.fill(start, stop, 1, values)
        else:
            x.fill(start, stop, 1, scratch)
            values = scratch
        if find:
            largest = max(largest, _largest_magnitude_bits(values))
        results.append(consume(key, values, scratch))
    return results, largest


def _gather(x: DeferredFloat, parts: list[tuple[list, int]], find: bool) -> list:
    """The results of the threads' :func:`_run_pieces` calls over the whole of ``x``, in one
    list; with ``find``, ``max|x|`` (the largest of their magnitudes) kept in ``x``."""
    if find:
        x._largest_bits = max(largest for _, largest in parts)
    return [result for part, _ in parts for result in part]
