"""Slow, obviously correct references written with Python ints and fractions.Fraction.

Used only by the tests. Nothing here is fast or clever: each function transcribes a line of
DESIGN.md's semantics.
"""

from __future__ import annotations

import math
from fractions import Fraction

from fxsim.numeric.formats import QFormat
from fxsim.numeric.rng import random_word_py, stream_key
from fxsim.numeric.rounding import STOCHASTIC_BITS, canonical_rounding


def round_fraction(y: Fraction, mode: str, kbits: int = 0, r: int = 0) -> int:
    """Round the exact rational ``y`` to an integer by ``mode`` (``r``: the random integer)."""
    mode = canonical_rounding(mode)
    fl = math.floor(y)
    rest = y - fl
    if mode == "floor":
        return fl
    if mode == "ceil":
        return math.ceil(y)
    if mode == "toward_zero":
        return math.trunc(y)
    if mode == "nearest_up":
        return math.floor(y + Fraction(1, 2))
    if mode == "nearest_even":
        if rest != Fraction(1, 2):
            return fl + (rest > Fraction(1, 2))
        return fl + (fl % 2)
    if mode == "nearest_away":
        if rest != Fraction(1, 2):
            return fl + (rest > Fraction(1, 2))
        return fl + 1 if y > 0 else fl
    # stochastic, stochastic_k: floor((floor(y * 2**k) + r) / 2**k)
    scale = 1 << kbits
    return (math.floor(y * scale) + r) // scale


def fit_int(v: int, fmt: QFormat, overflow: str) -> tuple[int, bool]:
    """Fit ``v`` into ``fmt``: clamp, or reduce modulo ``2**bits`` into the code range."""
    if fmt.min_code <= v <= fmt.max_code:
        return v, False
    if overflow == "saturate":
        return (fmt.max_code if v > fmt.max_code else fmt.min_code), True
    modulus = 1 << fmt.bits
    w = v % modulus
    if w > fmt.max_code:
        w -= modulus
    return w, True


def random_ints(indices, seed: int | None, stream: int, kbits: int) -> list[int]:
    """The random integers the stochastic modes use for the elements at flat ``indices``."""
    if not kbits:
        return [0] * len(indices)
    key = stream_key(seed, stream)
    return [random_word_py(key, i) >> (64 - kbits) for i in indices]


def kbits_of(mode: str, random_bits: int | None) -> int:
    mode = canonical_rounding(mode)
    if mode == "stochastic":
        return STOCHASTIC_BITS
    return random_bits if mode == "stochastic_k" else 0


def ref_quantize(values, fmt, mode, overflow="saturate", seed=None, stream=0,
                 random_bits=None, step=None, indices=None):
    """Reference of fxsim.quantize on a flat list of Python floats; returns (codes, events).
    ``indices``: the flat positions of ``values`` in the array (default 0, 1, ...)."""
    kbits = kbits_of(mode, random_bits)
    rand = random_ints(indices or range(len(values)), seed, stream, kbits)
    codes, events = [], 0
    for x, r in zip(values, rand, strict=True):
        if math.isinf(x):
            codes.append(fmt.max_code if x > 0 else fmt.min_code)
            events += 1
            continue
        if step is None:
            y = Fraction(x) * Fraction(2) ** fmt.frac
        else:
            y = Fraction(float(x) / float(step))  # the float64 quotient, as documented
        code, event = fit_int(round_fraction(y, mode, kbits, r), fmt, overflow)
        codes.append(code)
        events += event
    return codes, events


def ref_requantize(codes, fmt_in, fmt_out, mode, overflow="saturate", seed=None, stream=0,
                   random_bits=None):
    """Reference of fxsim.requantize on a flat list of int codes; returns (codes, events)."""
    kbits = kbits_of(mode, random_bits)
    rand = random_ints(range(len(codes)), seed, stream, kbits)
    out, events = [], 0
    for q, r in zip(codes, rand, strict=True):
        y = Fraction(int(q)) * Fraction(2) ** (fmt_out.frac - fmt_in.frac)
        code, event = fit_int(round_fraction(y, mode, kbits, r), fmt_out, overflow)
        out.append(code)
        events += event
    return out, events


def ref_rescale(codes, lsb_in, lsb_out, fmt_out, mode, overflow="saturate", seed=None, stream=0,
                random_bits=None, multiplier_bits=31):
    """Reference of requantize between real steps: ``round(code * M / 2**n)``, ``M`` and ``n``
    from fxsim.fixed_point_multiplier (the multiplier is part of the specification)."""
    from fxsim import fixed_point_multiplier

    multiplier, shift = fixed_point_multiplier(lsb_in / lsb_out, multiplier_bits)
    kbits = kbits_of(mode, random_bits)
    rand = random_ints(range(len(codes)), seed, stream, kbits)
    out, events = [], 0
    for q, r in zip(codes, rand, strict=True):
        y = Fraction(int(q) * multiplier) * Fraction(2) ** -shift
        code, event = fit_int(round_fraction(y, mode, kbits, r), fmt_out, overflow)
        out.append(code)
        events += event
    return out, events
