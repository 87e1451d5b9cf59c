"""Numba kernels of the LFSR random source: the random words of a whole call, in parallel.

Element ``i`` of a call gets the word ``r_i << (64 - k)``, with ``r_i`` the random integer of
:class:`fxsim.numeric.lfsr.RandomSource` (lane ``i mod lanes``, that lane's ``(i div lanes)``-th
``k``-bit word): the layout in which the rounding kernels read the top ``k`` bits of a counter
word, so that they take either source unchanged. Each chunk of elements jumps every lane to its
first element of the chunk (powers ``A**(k 2**b)`` of the leap matrix, precomputed) and then
leaps once per element, so neither thread count nor chunking changes a bit. A leap is linear over
GF(2), so it is taken a byte of the state at a time from tables: ``A**k s`` is the XOR over the
state's bytes ``j`` of ``T[j, byte_j]``, ``T[j, v] = A**k (v << 8 j)``.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

from fxsim.numeric import lfsr
from fxsim.numeric.threads import run_chunks

PARALLEL_MIN = 1 << 15
JUMP_BITS = 64  # element indices below 2**64


@numba.njit(cache=True, nogil=True)
def parity(x):  # pragma: no cover - compiled
    x ^= x >> np.uint64(32)
    x ^= x >> np.uint64(16)
    x ^= x >> np.uint64(8)
    x ^= x >> np.uint64(4)
    x ^= x >> np.uint64(2)
    x ^= x >> np.uint64(1)
    return x & np.uint64(1)


@numba.njit(cache=True, nogil=True)
def apply_rows(rows, state):  # pragma: no cover - compiled
    """``rows @ state`` over GF(2) (row ``i``: the mask of state bits XORed into bit ``i``)."""
    out = np.uint64(0)
    for i in range(rows.size):
        out |= parity(rows[i] & state) << np.uint64(i)
    return out


@numba.njit(cache=True, nogil=True)
def fill_words(out, start, stop, lanes, seeds, powers, k, tables):  # pragma: no cover
    """Words of elements ``start .. stop-1`` into ``out[start:stop]``; ``tables`` are the
    byte tables of one leap (:func:`_leap_tables`)."""
    k_mask = (np.uint64(1) << np.uint64(k)) - np.uint64(1) if k < 64 else ~np.uint64(0)
    shift = np.uint64(64 - k)
    for lane in range(lanes):
        first = start + (lane - start) % lanes
        if first >= stop:
            continue
        leaps = first // lanes
        state = seeds[lane]
        b = 0
        while leaps:
            if leaps & 1:
                state = apply_rows(powers[b], state)
            leaps >>= 1
            b += 1
        for i in range(first, stop, lanes):
            out[i] = (state & k_mask) << shift
            nxt = np.uint64(0)
            for j in range(tables.shape[0]):
                nxt ^= tables[j, (state >> np.uint64(8 * j)) & np.uint64(255)]
            state = nxt
    return 0


@cache
def _powers(width: int, k: int) -> np.ndarray:
    """``A**(k 2**b)`` for ``b = 0 .. JUMP_BITS-1``, as rows of uint64 masks."""
    rows, matrix = [], lfsr.leap_matrix(width, k)
    for _ in range(JUMP_BITS):
        rows.append(matrix)
        matrix = lfsr.multiply(matrix, matrix)
    return np.array(rows, dtype=np.uint64)


@cache
def _leap_tables(width: int, k: int) -> np.ndarray:
    """``T[j, v] = A**k (v << 8 j)`` for the ``ceil(width / 8)`` bytes of the state."""
    leap = lfsr.leap_matrix(width, k)
    basis = [lfsr.apply(leap, 1 << i) for i in range(width)]
    tables = np.zeros(((width + 7) // 8, 256), dtype=np.uint64)
    for j in range(tables.shape[0]):
        for v in range(256):
            acc = 0
            for b in range(8):
                if v >> b & 1 and 8 * j + b < width:
                    acc ^= basis[8 * j + b]
            tables[j, v] = acc
    return tables


def lfsr_words(count: int, kbits: int, source: lfsr.RandomSource, seed: int,
               stream: int) -> np.ndarray:
    """The uint64 random words of ``count`` elements of a call keyed by ``(seed, stream)``."""
    source.check_bits(kbits)
    lanes = min(source.lanes, max(count, 1))
    seeds = np.array([lfsr.seed_state(source.width, seed, stream, lane) for lane in range(lanes)],
                     dtype=np.uint64)
    powers = _powers(source.width, kbits)
    tables = _leap_tables(source.width, kbits)
    out = np.empty(count, dtype=np.uint64)

    def chunk(begin, end):
        return fill_words(out, begin, end, lanes, seeds, powers, kbits, tables)

    run_chunks(chunk, count, PARALLEL_MIN)
    return out
