"""The kernels' own corners: stochastic rounding that 52 random bits cannot decide, integer codes of
every dtype through the blocked integer loop, and large arrays whose flagged elements fall in
every parallel chunk. Each is checked against the Python-int reference or the exact path."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from fractions import Fraction

import numpy as np
import pytest
from reference import fit_int, random_ints, ref_quantize, round_fraction

import fxsim
from fxsim.numeric import _convert_kernels as kernels
from fxsim.numeric.rng import random_word_py, stream_key

SEED = 12345


def undecided_values(indices, seed: int) -> np.ndarray:
    """Values in (-1, 1) whose stochastic rounding (62 random bits) at flat ``indices`` the top
    52 random bits cannot decide: ``rest * 2**52`` strictly inside ``(thr - 1, thr)``."""
    key = stream_key(seed, 0)
    values = []
    for i in indices:
        top = random_word_py(key, i) >> 12  # the top 52 of the 62 random bits
        if i % 2:  # y < 0: thr = top + 1, rest * 2**52 = top + 1/2
            values.append(-float(Fraction(2 * top + 1, 2**53)))
        else:  # y >= 0: thr = 2**52 - top, rest * 2**52 = thr - 1/2
            values.append(float(Fraction(2**53 - 2 * top - 1, 2**53)))
    return np.array(values)


def test_undecided_stochastic_elements_take_the_exact_path():
    x = undecided_values(range(64), SEED)
    fmt = fxsim.QFormat(4, 0)
    loop = kernels.quantize_loop(fxsim.numeric.rounding.ROUNDING_IDS["stochastic"])
    out = np.empty(x.size, dtype=np.int8)
    key = np.uint64(stream_key(SEED, 0))
    _, flagged = loop(x, out, 1.0, 0.0, np.int64(0), key, np.int64(62), np.int64(-8),
                      np.int64(7), kernels.NO_WORDS)
    assert flagged == x.size  # every element needs the 10 lower random bits
    q = fxsim.quantize(x, fmt, "stochastic", seed=SEED)
    codes, _ = ref_quantize(x.tolist(), fmt, "stochastic", seed=SEED)
    assert q.raw.tolist() == codes
    assert set(codes[0::2]) == {0, 1} and set(codes[1::2]) == {0, -1}  # lower bits decided


def test_undecided_elements_among_many_in_every_chunk():
    """The exact pass finds the flagged elements of every chunk by their global index."""
    n = 3 * kernels.PARALLEL_MIN + 17
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n)
    picks = np.sort(rng.choice(n, 40, replace=False))
    x[picks] = undecided_values(picks.tolist(), SEED)
    fmt = fxsim.QFormat(6, 0)
    q = fxsim.quantize(x, fmt, "stochastic", seed=SEED)
    exact = fxsim.quantize(x, fmt, "stochastic", seed=SEED, force_exact=True)
    assert np.array_equal(q.raw, exact.raw) and q.stats == exact.stats
    codes, _ = ref_quantize(x[picks].tolist(), fmt, "stochastic", seed=SEED,
                            indices=picks.tolist())
    assert q.raw[picks].tolist() == codes


def sampled_requantize_reference(codes, sample, fmt_in, fmt_out, mode, seed, random_bits):
    kbits = {"stochastic": 62, "stochastic_k": random_bits or 0}.get(mode, 0)
    rand = random_ints(sample, seed, 0, kbits)
    result = []
    for i, r in zip(sample, rand, strict=True):
        y = Fraction(int(codes[i])) * Fraction(2) ** (fmt_out.frac - fmt_in.frac)
        result.append(fit_int(round_fraction(y, mode, kbits, r), fmt_out, "saturate")[0])
    return result


@pytest.mark.parametrize(("bits", "signed"), [(8, True), (16, True), (32, True), (62, True),
                                              (8, False), (16, False), (32, False),
                                              (62, False)])
def test_requantize_every_code_dtype_through_blocks(bits, signed):
    """Codes of each integer dtype, widened block by block, equal the exact path; a sample
    equals the Python-int reference, for a deterministic and a stochastic mode."""
    fmt_in = fxsim.QFormat(bits, bits // 2, signed)
    n = 2 * kernels.PARALLEL_MIN + 3 * kernels.WIDEN_BLOCK + 5
    rng = np.random.default_rng(bits)
    raw = rng.integers(fmt_in.min_code, fmt_in.max_code, n, endpoint=True, dtype=np.int64)
    q = fxsim.FxArray(raw.astype(fmt_in.dtype), fmt_in)
    fmt_out = fxsim.QFormat(max(2, bits // 2), bits // 4 + 1, signed)
    sample = sorted(rng.choice(n, 300, replace=False).tolist())
    for mode in ("nearest_even", "stochastic"):
        r = fxsim.requantize(q, fmt_out, mode, seed=SEED)
        exact = fxsim.requantize(q, fmt_out, mode, seed=SEED, force_exact=True)
        assert r.raw.dtype == fmt_out.dtype
        assert np.array_equal(r.raw, exact.raw) and r.stats == exact.stats
        expected = sampled_requantize_reference(raw, sample, fmt_in, fmt_out, mode, SEED, None)
        assert r.raw[sample].tolist() == expected


@pytest.mark.parametrize("fmt", [fxsim.QFormat(8, 3), fxsim.QFormat(16, 6, signed=False),
                                 fxsim.QFormat(32, 20, signed=False), fxsim.QFormat(50, 30)])
def test_large_arrays_with_nan_inf_and_subnormals_in_every_chunk(fmt):
    """Flagged elements (NaN, +-inf, huge, subnormal results) scattered over all chunks: the
    fast loop plus the exact pass equal the exact path alone, codes and counts."""
    n = 4 * kernels.PARALLEL_MIN + 33
    rng = np.random.default_rng(fmt.bits)
    x = rng.standard_normal(n) * 2.0 ** (fmt.bits - fmt.frac - 2)
    specials = [np.nan, np.inf, -np.inf, 5e-324, -5e-324, 1e300, -1e300, 2.0**-1030]
    spots = rng.choice(n, 200, replace=False)
    x[spots] = rng.choice(specials, spots.size)
    for mode, k in (("nearest_even", None), ("toward_zero", None), ("stochastic_k", 7)):
        q = fxsim.quantize(x, fmt, mode, seed=SEED, random_bits=k, nan="zero")
        exact = fxsim.quantize(x, fmt, mode, seed=SEED, random_bits=k, nan="zero",
                               force_exact=True)
        assert np.array_equal(q.raw, exact.raw) and q.stats == exact.stats
        assert q.stats.nan == int(np.isnan(x).sum())


def _stochastic_digest(size: int, queue) -> None:
    x = np.random.default_rng(2).standard_normal(size)
    codes = fxsim.quantize(x, fxsim.QFormat(6, 2), "stochastic", seed=SEED).raw
    queue.put(hashlib.sha256(codes.tobytes()).hexdigest())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_still_splits_large_arrays_over_threads():
    """A child forked after the parent used its thread pool has none of those threads: it must
    start its own pool, not wait forever on the parent's."""
    size = 3 * kernels.PARALLEL_MIN
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    _stochastic_digest(size, queue)  # the parent's pool now exists
    expected = queue.get()
    child = context.Process(target=_stochastic_digest, args=(size, queue))
    child.start()
    try:
        assert queue.get(timeout=60) == expected
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
