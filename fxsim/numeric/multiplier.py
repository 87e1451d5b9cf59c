"""The fixed-point multiplier of a real-step rescale (DESIGN.md): how integer-only inference
engines move codes of one real LSB to another, ``(q * M) >> n`` with a rounding shift."""

from __future__ import annotations

import math

import numpy as np

from fxsim.numeric import _code_kernels
from fxsim.numeric.formats import MULTIPLIER_BITS, FxArray, check_int, check_step


def fixed_point_multiplier(ratio: float, bits: int = MULTIPLIER_BITS) -> tuple[int, int]:
    """The fixed-point multiplier ``(M, n)`` that moves codes of LSB ``s_in`` to LSB ``s_out``.

    ``M = round(ratio * 2**n)`` (ties to even) is an integer of exactly ``bits`` bits,
    ``2**(bits-1) <= M < 2**bits``, for ``ratio = s_in / s_out``: a code ``q`` becomes
    ``(q * M) >> n`` with a rounding shift, as integer-only inference engines do.
    ``ratio * 2**n`` is exact in float64 (a power-of-two scaling), so ``|M - ratio * 2**n| <=
    1/2`` and the relative error of ``M`` is at most ``2**-bits``.

    Parameters
    ----------
    ratio : float
        ``s_in / s_out``, finite and > 0.
    bits : int, default 31
        Width of ``M`` (:data:`~fxsim.numeric.formats.MULTIPLIER_BITS`), 2..53.

    Returns
    -------
    (int, int)
        ``(M, n)``; ``n`` is negative when ``ratio >= 2**bits - 1/2``.

    Raises
    ------
    ValueError
        ``ratio`` not a finite real > 0, or ``bits`` outside 2..53 (TypeError if not an int).

    Examples
    --------
    >>> from fxsim import fixed_point_multiplier
    >>> fixed_point_multiplier(0.75, bits=8)  # 192 / 2**8
    (192, 8)
    >>> fixed_point_multiplier(1000.0, bits=4)  # 8 * 2**7
    (8, -7)
    """
    bits = check_int("multiplier_bits", bits, 2, 53)
    ratio = check_step(ratio, "ratio")
    _, exponent = math.frexp(ratio)
    shift = bits - exponent
    multiplier = int(np.rint(math.ldexp(ratio, shift)))
    if multiplier == 1 << bits:  # rounded up to the next power of two
        multiplier, shift = multiplier >> 1, shift - 1
    return multiplier, shift


def rescale_multiplier(q: FxArray, lsb_out: float, multiplier_bits: int) -> tuple[int, int]:
    """The fixed-point multiplier ``M`` and right shift ``n`` taking ``q``'s codes to
    ``lsb_out`` (:func:`fixed_point_multiplier`), checked: ``q.raw * M`` must stay below
    2**62 (from the format when that proves it, else from the largest code)."""
    multiplier, shift = fixed_point_multiplier(q.lsb / lsb_out, multiplier_bits)
    if q.fmt.bits + multiplier.bit_length() <= 62:  # |code| < 2**bits: no scan needed
        return multiplier, shift
    largest = int(_code_kernels.max_abs(q.raw))  # 0 when empty
    if largest.bit_length() + multiplier.bit_length() > 62:
        raise ValueError(
            f"q's codes reach {largest} ({largest.bit_length()} bits); times a "
            f"{multiplier_bits}-bit multiplier that exceeds 62 bits: pass a smaller "
            "multiplier_bits"
        )
    return multiplier, shift
