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
whole array (``np.asarray``, rules that read the values) gets :meth:`values`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numba
import numpy as np

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


def _largest_magnitude(values: np.ndarray) -> float:
    """``max |v|`` of a float64 array (NaN if any value is NaN; 0.0 when empty)."""
    return float(np.array(_largest_magnitude_bits(values), dtype=np.int64).view(np.float64))


class DeferredFloat:
    """A float64 tensor of ``shape`` whose values ``fill(start, stop, step, out)`` computes:
    flat (C-order) elements ``start, start + step, ... < stop`` into ``out``.

    ``max_abs``: a function giving the exact ``max|x|`` without the values, when the producer
    knows one (else it is found block by block). The tensor is read-only; :meth:`values`
    materializes it once (cached), and ``np.asarray`` does the same."""

    dtype = np.dtype(np.float64)

    def __init__(self, shape: tuple[int, ...], fill: Fill,
                 max_abs: Callable[[], float] | None = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.fill = fill
        self._max_abs = max_abs
        self._values: np.ndarray | None = None
        self._largest_bits: int | None = None  # max|x|'s bits, once a full pass has found them

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def values(self) -> np.ndarray:
        """The whole tensor, float64, C-contiguous (computed once)."""
        if self._values is None:
            self._materialize(False)
        return self._values

    def _materialize(self, magnitude: bool) -> int:
        """Compute and keep the values, chunk by chunk; with ``magnitude``, return the bits of
        their ``max|x|`` (:func:`_largest_magnitude_bits`), taken from each chunk while it is
        still in cache."""
        out = np.empty(self.shape)
        flat = out.reshape(-1)

        def chunk(start: int, stop: int) -> int:
            self.fill(start, stop, 1, flat[start:stop])
            return _largest_magnitude_bits(flat[start:stop]) if magnitude else 0

        found = run_chunks(chunk, self.size, PARALLEL_MIN)
        self._values = out
        return max(found, default=0)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self.values()
        return values if dtype is None else values.astype(dtype, copy=False)

    def max_abs(self) -> float:
        """``max |x|`` (0.0 when empty; NaN if a value is NaN), exact: from the producer when it
        knows it, else from a pass already made over the blocks (:func:`run_blocks`), else
        found while the values are materialized (and kept)."""
        if self._values is not None or self.size == 0:
            return _largest_magnitude(self.values().reshape(-1))
        if self._max_abs is not None:
            return float(self._max_abs())
        if self._largest_bits is None:
            self._largest_bits = self._materialize(True)
        return float(np.array(self._largest_bits, dtype=np.int64).view(np.float64))

    def knows_max_abs(self) -> bool:
        """Is :meth:`max_abs` known without a pass over the values (from the producer, or
        from a pass already made)?"""
        return (self._max_abs is not None or self._largest_bits is not None
                or self._values is not None or self.size == 0)

    def strided(self, stride: int) -> np.ndarray:
        """The flat elements ``0, stride, 2 * stride, ...`` (a deterministic subsample)."""
        out = np.empty(-(-self.size // stride))
        if self._values is not None:
            out[:] = self._values.reshape(-1)[::stride]
        else:
            self.fill(0, self.size, stride, out)
        return out


def run_blocks(x: DeferredFloat, consume: Callable[[int, np.ndarray], object]) -> list:
    """``consume(start, values)`` for consecutive blocks of at most :data:`BLOCK` elements
    of ``x`` (``start``: the flat index of ``values[0]``), computed into a per-thread buffer,
    over the threads of :func:`fxsim.numeric.threads.run_chunks`. Returns the results, in no
    particular order. Unless ``x`` knows its ``max|x|`` already (:meth:`DeferredFloat.
    knows_max_abs`), each block's is taken while it is in cache, and the whole tensor's kept
    for :meth:`DeferredFloat.max_abs`: a quantizer may round with a scale guessed before it
    knew ``max|x|``, and keep the codes when the scale ``max|x|`` gives is the same."""
    find = not x.knows_max_abs()

    def chunk(start: int, stop: int) -> tuple[list, int]:
        results, largest = [], 0
        for first in range(start, stop, BLOCK):
            last = min(first + BLOCK, stop)
            values = block_buffer(last - first)
            x.fill(first, last, 1, values)
            if find:
                largest = max(largest, _largest_magnitude_bits(values))
            results.append(consume(first, values))
        return results, largest

    parts = run_chunks(chunk, x.size, PARALLEL_MIN)
    if find:
        x._largest_bits = max(largest for _, largest in parts)
    return [r for part, _ in parts for r in part]
