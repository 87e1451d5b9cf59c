"""Counter-based random numbers for stochastic rounding.

The random word for element ``i`` of a call keyed by ``(seed, stream)`` is a pure function of
``(seed, stream, i)``: ``mix64(key + (i + 1) * GAMMA)`` with ``key = mix64(mix64(seed + GAMMA)
^ mix64(stream + 2 * GAMMA))``, where ``mix64`` is the SplitMix64 finaliser (Steele, Lea and
Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014) and all arithmetic is
modulo 2**64. Nothing depends on thread count, chunking or evaluation order. ``i`` is the
element's flat C-order index.
"""

from __future__ import annotations

import secrets

import numba
import numpy as np

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def mix64_py(z: int) -> int:
    """SplitMix64's finaliser on a Python int (mod 2**64): the reference for :func:`mix64`."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int) -> int:
    """The 64-bit key of ``(seed, stream)``; both are taken modulo 2**64."""
    return mix64_py(mix64_py(seed + GAMMA) ^ mix64_py(stream + 2 * GAMMA))


def random_word_py(key: int, index: int) -> int:
    """The random 64-bit word of element ``index`` under ``key``, in Python ints (reference)."""
    return mix64_py(key + (index + 1) * GAMMA)


def fresh_seed() -> int:
    """A new 63-bit seed from the operating system, to be recorded so a call can be repeated."""
    return secrets.randbits(63)


@numba.njit(cache=True)
def mix64(z):  # pragma: no cover - compiled
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))
