"""The LFSR random source: polynomials, leap-forward matrices, seeds and sequences.

A ``width``-bit Fibonacci LFSR (Xilinx XAPP052 arrangement) shifts left by one bit per step and
feeds back into bit 0 the XOR of the state bits at its taps (1-based positions, bit ``t - 1``):

    state <- ((state << 1) | parity(state & tap_mask)) mod 2**width

with the taps of :data:`TAPS` (XAPP052's table, maximal length ``2**width - 1`` for every width:
the tests check each polynomial's period). A generator of ``k`` random bits per clock *leaps*
``k`` steps per clock: ``state <- A**k state`` over GF(2), one XOR tree per state bit, and its
random integer is the low ``k`` bits of the state (the ``k`` newest feedback bits; the earliest
of them is the most significant bit of ``r``). Element ``j`` of a stream (``j = 0, 1, ...``) uses
``r_j = (A**(k j) s0) mod 2**k``: the seed's own low bits first, then one leap per element.

The seed of a stream is ``s0 = word >> (64 - width)`` with ``word`` the 64-bit counter-based
random word of index ``lane`` under ``(seed, stream)`` (:func:`fxsim.numeric.rng.stream_key`,
:func:`fxsim.numeric.rng.random_word_py`); an all-zero seed (the one state an LFSR never leaves) is
replaced by 1. State ``A**n s0`` of any element is computed by jump-ahead (matrix powers), so a
tensor can be split over threads and chunks without changing a bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fxsim.numeric.formats import check_int

# Xilinx XAPP052 (P. Alfke, "Efficient shift registers, LFSR counters, and long pseudo-random
# sequence generators", 1996), table 3: taps of maximal-length LFSRs, width -> taps.
TAPS: dict[int, tuple[int, ...]] = {
    2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4), 17: (17, 14), 18: (18, 11),
    19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18),
    24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1), 27: (27, 5, 2, 1), 28: (28, 25),
    29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28), 32: (32, 22, 2, 1), 33: (33, 20),
    34: (34, 27, 2, 1), 35: (35, 33), 36: (36, 25), 37: (37, 5, 4, 3, 2, 1), 38: (38, 6, 5, 1),
    39: (39, 35), 40: (40, 38, 21, 19), 41: (41, 38), 42: (42, 41, 20, 19),
    43: (43, 42, 38, 37), 44: (44, 43, 18, 17), 45: (45, 44, 42, 41), 46: (46, 45, 26, 25),
    47: (47, 42), 48: (48, 47, 21, 20), 49: (49, 40), 50: (50, 49, 24, 23),
    51: (51, 50, 36, 35), 52: (52, 49), 53: (53, 52, 38, 37), 54: (54, 53, 18, 17),
    55: (55, 31), 56: (56, 55, 35, 34), 57: (57, 50), 58: (58, 39), 59: (59, 58, 38, 37),
    60: (60, 59), 61: (61, 60, 46, 45), 62: (62, 61, 6, 5), 63: (63, 62), 64: (64, 63, 61, 60),
}

Matrix = tuple[int, ...]  # row i: the bit mask of state bits whose XOR is bit i


def check_width(width: int) -> int:
    return check_int("LFSR width", width, min(TAPS), max(TAPS))


def tap_mask(width: int) -> int:
    """The state bits XORed into the feedback: bit ``t - 1`` for each tap ``t``."""
    return sum(1 << (t - 1) for t in TAPS[check_width(width)])


def step_matrix(width: int) -> Matrix:
    """``A``: one shift-left step; bit 0 is the feedback, bit ``i > 0`` the old bit ``i - 1``."""
    return (tap_mask(width), *(1 << (i - 1) for i in range(1, width)))


def apply(matrix: Matrix, state: int) -> int:
    """``matrix @ state`` over GF(2)."""
    out = 0
    for i, row in enumerate(matrix):
        out |= (int(row & state).bit_count() & 1) << i
    return out


def multiply(a: Matrix, b: Matrix) -> Matrix:
    """``a @ b`` over GF(2): row ``i`` of the product is the XOR of the rows of ``b`` picked by
    row ``i`` of ``a``."""
    rows = []
    for row in a:
        acc, j = 0, 0
        while row:
            if row & 1:
                acc ^= b[j]
            row >>= 1
            j += 1
        rows.append(acc)
    return tuple(rows)


def identity(width: int) -> Matrix:
    return tuple(1 << i for i in range(width))


def power(matrix: Matrix, n: int) -> Matrix:
    """``matrix ** n`` (``n >= 0``) by repeated squaring."""
    result, base = identity(len(matrix)), matrix
    while n:
        if n & 1:
            result = multiply(result, base)
        base = multiply(base, base)
        n >>= 1
    return result


@cache
def leap_matrix(width: int, k: int) -> Matrix:
    """``A**k``: the state transition of a generator that leaps ``k`` steps per clock."""
    check_int("LFSR random bits k", k, 1, check_width(width))
    return power(step_matrix(width), k)


def seed_state(width: int, seed: int, stream: int = 0, lane: int = 0) -> int:
    """The documented seed of lane ``lane`` of the stream ``(seed, stream)``, never zero."""
    from fxsim.numeric.rng import random_word_py, stream_key  # rng loads numba; this need not

    word = random_word_py(stream_key(seed, stream), lane)
    return (word >> (64 - check_width(width))) or 1


def states(width: int, k: int, state: int, count: int) -> list[int]:
    """``state`` and the ``count - 1`` states that follow it, one leap of ``k`` steps apart."""
    leap, out = leap_matrix(width, k), []
    for _ in range(count):
        out.append(state)
        state = apply(leap, state)
    return out


def sequence(width: int, k: int, state: int, count: int) -> list[int]:
    """``r_0 .. r_{count-1}``: the low ``k`` bits of ``state`` and of each following leap."""
    mask = (1 << k) - 1
    return [s & mask for s in states(width, k, state, count)]


def jump(width: int, k: int, state: int, leaps: int) -> int:
    """The state ``leaps`` clocks after ``state``: ``A**(k * leaps) @ state``."""
    return apply(power(leap_matrix(width, k), leaps), state)


RANDOM_KINDS = ("counter", "lfsr")


@dataclass(frozen=True)
class RandomSource:
    """Where stochastic rounding draws its random integers.

    ``kind="counter"`` (what ``random_source=None`` means): fxsim's counter-based generator
    (:mod:`fxsim.numeric.rng`). ``kind="lfsr"``: the hardware generator of this module, as the RTL
    builds it: ``lanes`` independent ``width``-bit LFSRs, element ``i`` of a call served by lane
    ``i mod lanes`` with that lane's ``(i div lanes)``-th random integer ``r_j``; lane ``l`` is
    seeded with :func:`seed_state` ``(width, seed, stream, l)``. ``lanes=1`` is one generator
    shared by every lane of the array, which hands out consecutive ``k``-bit words (a generator
    leaping ``lanes x k`` steps a clock gives the same words); ``lanes=N`` one per MAC lane.
    """

    kind: str = "lfsr"
    width: int = 32
    lanes: int = 1

    def __post_init__(self) -> None:
        if self.kind not in RANDOM_KINDS:
            raise ValueError(f"random source kind must be one of {', '.join(RANDOM_KINDS)}; "
                             f"got {self.kind!r}")
        check_width(self.width)
        check_int("LFSR lanes", self.lanes, 1, 1 << 20)

    def check_bits(self, kbits: int) -> None:
        """Refuse ``kbits`` random bits per element from a narrower LFSR."""
        if self.kind == "lfsr" and kbits > self.width:
            raise ValueError(f"an LFSR of width {self.width} gives at most {self.width} random "
                             f"bits per element; rounding needs {kbits} (random_bits, or 62 for "
                             "'stochastic'): use a wider LFSR")
