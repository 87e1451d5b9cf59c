"""The LFSR random source: every polynomial has maximal length, a leap is k single steps, jump
ahead agrees with stepping, seeds are never zero."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.numeric import lfsr


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:  # deterministic for n < 3.3e24
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _factor(n: int) -> set[int]:
    """Prime factors by Pollard's rho (2**64 - 1 and below)."""
    if n == 1:
        return set()
    if _is_prime(n):
        return {n}
    if n % 2 == 0:
        return {2} | _factor(n // 2)
    c = 1
    while True:
        x = y = 2
        d = 1
        while d == 1:
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            d = math.gcd(abs(x - y), n)
        if d != n:
            return _factor(d) | _factor(n // d)
        c += 1


@pytest.mark.parametrize("width", sorted(lfsr.TAPS))
def test_every_polynomial_has_maximal_period(width):
    """The step matrix has order exactly 2**width - 1: the LFSR visits every nonzero state."""
    step, one, order = lfsr.step_matrix(width), lfsr.identity(width), (1 << width) - 1
    assert lfsr.power(step, order) == one
    for p in _factor(order):
        assert lfsr.power(step, order // p) != one, (width, p)


def _serial(width: int, state: int, steps: int) -> int:
    """An obviously correct Fibonacci LFSR: one shift per step, feedback = XOR of the taps."""
    for _ in range(steps):
        feedback = 0
        for tap in lfsr.TAPS[width]:
            feedback ^= (state >> (tap - 1)) & 1
        state = ((state << 1) | feedback) & ((1 << width) - 1)
    return state


@settings(max_examples=60, deadline=None)
@given(width=st.sampled_from(sorted(lfsr.TAPS)), data=st.data())
def test_a_leap_is_k_serial_steps_and_r_is_the_low_bits(width, data):
    k = data.draw(st.integers(1, width))
    state = data.draw(st.integers(1, (1 << width) - 1))
    count = data.draw(st.integers(1, 20))
    states = lfsr.states(width, k, state, count)
    for j, s in enumerate(states):
        assert s == _serial(width, state, j * k)
    assert lfsr.sequence(width, k, state, count) == [s & ((1 << k) - 1) for s in states]


@settings(max_examples=40, deadline=None)
@given(width=st.sampled_from([5, 16, 32, 64]), k=st.integers(1, 5),
       leaps=st.integers(0, 300), state=st.integers(1, 2**64 - 1))
def test_jump_ahead_equals_stepping(width, k, leaps, state):
    state = state % ((1 << width) - 1) + 1
    assert lfsr.jump(width, k, state, leaps) == lfsr.states(width, k, state, leaps + 1)[-1]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), stream=st.integers(0, 2**40), lane=st.integers(0, 999),
       width=st.sampled_from(sorted(lfsr.TAPS)))
def test_seed_state_is_documented_and_never_zero(seed, stream, lane, width):
    from fxsim.numeric.rng import random_word_py, stream_key

    s = lfsr.seed_state(width, seed, stream, lane)
    word = random_word_py(stream_key(seed, stream), lane) >> (64 - width)
    assert s == (word or 1) and 0 < s < (1 << width)


def test_bad_width_and_k_are_refused():
    with pytest.raises(ValueError, match=r"LFSR width must be an integer in 2\.\.64, got 65"):
        lfsr.step_matrix(65)
    with pytest.raises(ValueError, match=r"LFSR random bits k must be an integer in 1\.\.8, got 9"):
        lfsr.leap_matrix(8, 9)
