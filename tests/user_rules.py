"""Rounding rules registered by a user module, for the tests of fxsim.testing and of the
registered-rule path: correct ones (clones of built-ins, round-half-to-odd, 3-bit stochastic)
and deliberately broken ones, each with the invariant it breaks.

Importing this module registers them; policies name it in ``rounding_modules``.
"""

from __future__ import annotations

import numpy as np

import fxsim
from fxsim.numeric.user_rounding import HALF


def _above_half(f, sticky):
    return (f > HALF) | ((f == HALF) & sticky)


def _tie(f, sticky):
    return (f == HALF) & ~sticky


def nearest_even_clone(q, f, sticky):
    """nearest_even, written as a rule: must equal the built-in bit for bit."""
    return q + (_above_half(f, sticky) | (_tie(f, sticky) & (q % 2 == 1)))


def ties_to_odd(q, f, sticky):
    """Round half to odd: nearest, ties to the odd neighbour."""
    return q + (_above_half(f, sticky) | (_tie(f, sticky) & (q % 2 == 0)))


def stochastic_k5_clone(q, f, sticky, r):
    """stochastic_k with 5 random bits: up when the top 5 dropped bits plus r carry out."""
    return q + ((f >> 57) + r >= 32)


def stochastic3(q, f, sticky, r):
    """Stochastic rounding with 3 random bits (an LFSR-fed unit)."""
    return q + ((f >> 59) + r >= 8)


# ---- deliberately broken ------------------------------------------------------------------------
def stochastic3_biased(q, f, sticky, r):
    """BROKEN (unbiased): '>' where '>=' was meant, so it rounds up 1/8 too rarely."""
    return q + ((f >> 59) + r > 8)


def top_bits_nearest(q, f, sticky):
    """BROKEN (monotone): 'up when the top two dropped bits are 10', meant '>= 10': a fraction
    of 3/4 rounds down while 1/2 rounds up."""
    return q + ((f >> 60) == 2)


def even_by_adding_half(q, f, sticky):
    """BROKEN (ties): registered as ties to even, but adding half an LSB and truncating ties
    up."""
    return q + (f >= HALF)


def ceil_sticky_ignored(q, f, sticky):
    """BROKEN (rounds_up): a ceiling that tests only f, so a value below 2**-62 LSB (all of its
    bits in the sticky bit) rounds down to 0."""
    return q + (f != 0)


def median_split(q, f, sticky):
    """BROKEN (thread_independent): rounds up above the block's median fraction, so an
    element's code depends on its neighbours."""
    return q + (f > np.median(f))


def deaf_random(q, f, sticky, r):
    """BROKEN (reproducible, unbiased): declares random bits but never reads them."""
    return q + (f >= HALF)


RULES = {
    "nearest_even_clone": (nearest_even_clone, {"ties": "even", "cost_as": "nearest_even"}),
    "ties_to_odd": (ties_to_odd, {"ties": "odd", "cost_as": "nearest_even"}),
    "stochastic_k5_clone": (stochastic_k5_clone, {"random_bits": 5, "cost_as": "stochastic_k"}),
    "stochastic3": (stochastic3, {"random_bits": 3, "cost_as": "stochastic_k"}),
    "stochastic3_biased": (stochastic3_biased, {"random_bits": 3}),
    "top_bits_nearest": (top_bits_nearest, {}),
    "even_by_adding_half": (even_by_adding_half, {"ties": "even"}),
    "ceil_sticky_ignored": (ceil_sticky_ignored, {"cost_as": "ceil"}),
    "median_split": (median_split, {}),
    "deaf_random": (deaf_random, {"random_bits": 4}),
}
for _name, (_fn, _options) in RULES.items():
    fxsim.register_rounding(_name, _fn, **_options)
