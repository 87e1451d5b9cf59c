"""Invariants of how a mode runs rather than what it computes: results that depend on nothing
but each element's value and index (thread count, chunking, array size), reproducibility from
the seed, and a numba-compiled registered rule agreeing with its numpy form.

Same conventions as :mod:`fxsim.testing.elementwise`.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
from hypothesis import strategies as st

from fxsim.numeric.formats import QFormat
from fxsim.numeric.user_rounding import HALF, ONE, registered_rounding
from fxsim.testing.core import InvariantBroken, falsify, resolve_mode
from fxsim.testing.elementwise import MAX_VALUES, format_cases, wide_values

BIG = 140_001  # elements: several chunks for the built-in loops (2**16 each) and user rules
TIES = 256  # ties rounded by two seeds: all equal by chance with probability 2**-256


@contextmanager
def numba_threads(count: int):
    """Run the body with numba's thread count set to ``count`` (restored after)."""
    before = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def check_thread_independent(mode: str, *, random_bits: int | None = None,
                             max_examples: int = 25) -> None:
    """Element ``i``'s code depends only on its value and index: the same for 1 thread and
    for numba's thread count, whether the array is converted whole (cut into chunks) or only
    its first elements are, and whatever the other elements hold."""
    m = resolve_mode(mode, random_bits)
    threads = numba.config.NUMBA_NUM_THREADS
    cases = format_cases(bits=(1, 62), signed=st.booleans(), min_values=2)

    def prop(case) -> None:
        fmt, values, seed = wide_values(case)
        big = np.resize(np.array(values, dtype=np.float64), BIG)
        with numba_threads(threads):
            whole = m.quantize(big, fmt, seed=seed).raw
        with numba_threads(1):
            serial = m.quantize(big, fmt, seed=seed).raw
        variants = [(serial, "with 1 thread", slice(None))]
        for size in (len(values), BIG // 2 + 7):
            part = m.quantize(big[:size], fmt, seed=seed).raw
            variants.append((part, f"when only the first {size} elements are converted",
                             slice(None)))
        others = big.copy()
        others[1::2] = 0.0
        variants.append((m.quantize(others, fmt, seed=seed).raw,
                         "when the elements of odd index are 0 instead", slice(0, None, 2)))
        for other, how, kept in variants:
            other, same = other[kept], whole[:other.size][kept]
            differ = np.flatnonzero(other != same)
            if differ.size:
                i = int(differ[0]) * (kept.step or 1)
                other = other[differ[0]]
                raise InvariantBroken(
                    "thread_independent", m.label,
                    f"element {i} (x = {float(big[i])!r}) of {values} repeated to {BIG} "
                    f"elements, in {fmt}, seed {seed}",
                    f"an element's code must depend only on its value and index; in the whole "
                    f"array on {threads} threads it is {whole[i]}, but {other} {how} (is "
                    "the rule element-wise?)")

    falsify(cases, prop, max_examples)


def check_reproducible(mode: str, *, random_bits: int | None = None,
                       max_examples: int = 30) -> None:
    """The same seed and stream give the same codes and counts; a call without a seed records
    the seed it drew, which repeats it; for random modes another seed or stream gives other
    codes (checked on 256 ties, which every random rounding splits)."""
    m = resolve_mode(mode, random_bits)

    def prop(case) -> None:
        fmt, values, seed = wide_values(case)
        first = m.quantize(values, fmt, seed=seed)
        again = m.quantize(values, fmt, seed=seed)
        where = f"{values} in {fmt}, seed {seed}"
        if first.raw.tolist() != again.raw.tolist() or first.stats != again.stats:
            raise InvariantBroken("reproducible", m.label, where,
                                  f"the same seed must repeat the codes; got {first.raw.tolist()}"
                                  f" then {again.raw.tolist()}")
        fresh = m.quantize(values, fmt, seed=None)
        recorded = fresh.stats.seed
        if m.is_random and recorded is None:
            raise InvariantBroken("reproducible", m.label, where,
                                  "a random mode called without a seed must record the one "
                                  "it drew in stats.seed; it is None")
        repeat = m.quantize(values, fmt, seed=recorded)
        if repeat.raw.tolist() != fresh.raw.tolist():
            raise InvariantBroken("reproducible", m.label, where,
                                  f"the recorded seed {recorded} must repeat the call; got "
                                  f"{fresh.raw.tolist()} then {repeat.raw.tolist()}")
        if not m.is_random:
            return
        ties, unit = np.full(TIES, 0.5), QFormat(8, 0)
        base = m.quantize(ties, unit, seed=seed).raw
        for other, what in ((m.quantize(ties, unit, seed=seed + 1).raw, f"seed {seed + 1}"),
                            (m.quantize(ties, unit, seed=seed, stream=1).raw, "stream 1")):
            if np.array_equal(base, other):
                raise InvariantBroken(
                    "reproducible", m.label, f"{TIES} ties y = 1/2 LSB in {unit}, seed {seed}",
                    f"{what} gives the same {TIES} codes as seed {seed}, stream 0: the random "
                    f"integers do not reach the result (codes {np.unique(base).tolist()})")

    falsify(format_cases(), prop, max_examples)


def check_compiled_matches_numpy(mode: str, *, random_bits: int | None = None,
                                 max_examples: int = 60) -> None:
    """A registered rule compiled by numba returns what its numpy form returns, on any
    ``(q, f, sticky[, r])`` (numba's integer semantics can differ from numpy's, for example
    in shifts by 64 or more)."""
    from fxsim.numeric._user_convert import implementation

    m = resolve_mode(mode, random_bits)
    rule = registered_rounding(m.name)
    if rule is None:
        raise ValueError(f"{m.label} is not a registered rule")
    impl = implementation(rule)
    if not rule.compiled:
        return
    element = st.tuples(
        st.one_of(st.integers(-4, 4), st.integers(-(1 << 61), (1 << 61) - 1)),
        st.one_of(st.sampled_from([0, HALF, HALF - 1, HALF + 1, ONE - 1, ONE >> 2]),
                  st.integers(0, ONE - 1)),
        st.booleans(), st.integers(0, (1 << rule.random_bits) - 1))

    def prop(rows) -> None:
        q, f, sticky, r = (np.array(col, dtype=dtype) for col, dtype in
                           zip(zip(*rows, strict=True), (np.int64, np.int64, np.bool_, np.int64),
                               strict=True))
        args = (q, f, sticky, r) if rule.random_bits else (q, f, sticky)
        compiled = np.asarray(impl(*args)).astype(np.int64)
        plain = np.asarray(rule.fn(*args)).astype(np.int64)
        differ = np.flatnonzero(compiled != plain)
        if differ.size:
            i = int(differ[0])
            shown = f"q = {q[i]}, f = {f[i]}, sticky = {sticky[i]}" + (
                f", r = {r[i]}" if rule.random_bits else "")
            raise InvariantBroken("compiled_matches_numpy", m.label, shown,
                                  f"numba's compiled rule gives {compiled[i]}, numpy "
                                  f"{plain[i]}; run it with compile=False or fix the rule")

    falsify(st.lists(element, min_size=1, max_size=MAX_VALUES), prop, max_examples)
