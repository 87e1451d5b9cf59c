"""The hardware random source: stochastic rounding drawing its bits from the RTL's LFSRs gives
exactly the rounding of the LFSR model's sequence, per lane or shared, for any chunking; the
policy keys reach it; the Verilog LFSR-fed requantizer matches it sequence for sequence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtl_tools import icarus

import fxsim
from fxsim.numeric import _lfsr_kernels, lfsr
from fxsim.numeric.lfsr import RandomSource
from fxsim.policy import Policy


def _model_r(width: int, k: int, lanes: int, seed: int, stream: int, count: int) -> list[int]:
    """r of element i: lane i mod lanes, that lane's (i div lanes)-th word (the Python model)."""
    per_lane = [lfsr.sequence(width, k, lfsr.seed_state(width, seed, stream, lane),
                              count // lanes + 1) for lane in range(min(lanes, count))]
    return [per_lane[i % lanes][i // lanes] for i in range(count)]


@settings(max_examples=30, deadline=None)
@given(width=st.sampled_from([8, 16, 31, 32, 64]), data=st.data(),
       lanes=st.sampled_from([1, 2, 7, 16]), seed=st.integers(0, 2**64 - 1),
       stream=st.integers(0, 1000), count=st.integers(1, 300))
def test_words_are_the_model_sequence_per_lane(width, data, lanes, seed, stream, count):
    k = data.draw(st.integers(1, min(width, 32)))
    words = _lfsr_kernels.lfsr_words(count, k, RandomSource("lfsr", width, lanes), seed, stream)
    assert [int(w) >> (64 - k) for w in words] == _model_r(width, k, lanes, seed, stream, count)
    assert all(int(w) & ((1 << (64 - k)) - 1) == 0 for w in words)


def test_chunking_changes_no_word(monkeypatch):
    source = RandomSource("lfsr", 32, 5)
    whole = _lfsr_kernels.lfsr_words(200_003, 6, source, 7, 3)
    monkeypatch.setattr(_lfsr_kernels, "PARALLEL_MIN", 997)  # many odd-sized chunks
    assert np.array_equal(whole, _lfsr_kernels.lfsr_words(200_003, 6, source, 7, 3))


@pytest.mark.parametrize("rounding, k, width", [("stochastic_k", 4, 16), ("stochastic_k", 11, 32),
                                                ("stochastic", None, 64)])
def test_rounding_uses_exactly_the_model_bits(rounding, k, width):
    rng = np.random.default_rng(1)
    codes = fxsim.FxArray(rng.integers(-2**20, 2**20, 5000), fxsim.QFormat(24, 13))
    source = RandomSource("lfsr", width, 3)
    kbits = k or 62
    out = fxsim.requantize(codes, fxsim.QFormat(16, 0), rounding, seed=9, random_bits=k,
                           stream=2, random_source=source)
    r = _model_r(width, kbits, 3, 9, 2, 5000)
    m = [int(v) for v in codes.raw]
    # floor((floor(y 2**k) + r) / 2**k) with y = m / 2**13 (DESIGN.md), in Python integers
    top = [(v * 2**kbits) >> 13 for v in m]
    expected = [(t + ri) >> kbits for t, ri in zip(top, r, strict=True)]
    assert out.raw.tolist() == expected
    # quantize of the same real values, fast float path and exact path, draws the same bits
    x = codes.to_float()
    for force in (False, True):
        q = fxsim.quantize(x, fxsim.QFormat(16, 0), rounding, seed=9, random_bits=k, stream=2,
                           random_source=source, force_exact=force)
        assert q.raw.tolist() == expected


def test_lfsr_rounding_is_unbiased_to_within_its_resolution():
    x = np.full(200_000, 0.3)
    q = fxsim.quantize(x, fxsim.QFormat(8, 0), "stochastic_k", seed=3, random_bits=8,
                       random_source=RandomSource("lfsr", 32, 8))
    # P(up) = floor(0.3 * 256) / 256 (one in 2**32 - 1 words is missing: the zero state)
    assert q.raw.mean() == pytest.approx(76 / 256, abs=0.004)


def test_bad_random_sources_are_refused():
    x = np.zeros(4)
    f = fxsim.QFormat(8, 0)
    with pytest.raises(ValueError, match="applies only to stochastic rounding"):
        fxsim.quantize(x, f, "nearest_even", random_source=RandomSource())
    with pytest.raises(ValueError, match="LFSR of width 16 gives at most 16 random bits"):
        fxsim.quantize(x, f, "stochastic", seed=1, random_source=RandomSource("lfsr", 16))
    with pytest.raises(TypeError, match="random_source must be"):
        fxsim.quantize(x, f, "stochastic", seed=1, random_source="lfsr")
    with pytest.raises(ValueError, match=r"LFSR lanes must be an integer in 1\.\.1048576, got 0"):
        RandomSource("lfsr", 32, 0)


def _policy(**act_grads) -> dict:
    q = {"bits": 8, "range": "minmax"}
    return {"name": "p", "defaults": {"weights": q, "activations": q,
                                      "act_grads": {**q, **act_grads},
                                      "weight_grads": {"bits": 16, "range": "minmax"},
                                      "master": {"float": True}}}


def test_policy_keys_reach_the_quantizer():
    spec = Policy.load(_policy(rounding="stochastic_k", random_bits=6, random="lfsr",
                               lfsr_width=24, lfsr_lanes=16)).spec("l1", "act_grads")
    assert spec.random_source == RandomSource("lfsr", 24, 16)
    assert spec.rounding_options() == {"rounding": "stochastic_k", "random_bits": 6,
                                       "random_source": spec.random_source}
    plain = Policy.load(_policy(rounding="stochastic")).spec("l1", "act_grads")
    assert plain.random_source is None
    assert plain.rounding_options() == {"rounding": "stochastic", "random_bits": None,
                                        "random_source": None}


@pytest.mark.parametrize("keys, message", [
    ({"rounding": "nearest_even", "random": "lfsr"}, "random = 'lfsr' needs stochastic"),
    ({"rounding": "stochastic", "random": "hw"}, "random must be 'counter' or 'lfsr'"),
    ({"rounding": "stochastic", "lfsr_width": 16}, "lfsr_width applies only with random"),
    ({"rounding": "stochastic", "random": "lfsr", "lfsr_width": 32}, "at most 32 random bits"),
    ({"rounding": "stochastic_k", "random_bits": 4, "random": "lfsr", "lfsr_lanes": 0},
     "lfsr_lanes must be an integer >= 1"),
])
def test_bad_policy_keys_name_the_place(keys, message):
    with pytest.raises(ValueError, match=message):
        Policy.load(_policy(**keys))


@icarus
@pytest.mark.parametrize("unit", ["requant:in=20,out=6,rounding=stochastic_k,k=5,random=lfsr,"
                                  "lfsr_width=16",
                                  "requant:in=16,out=4,rounding=stochastic,random=lfsr,"
                                  "lfsr_width=62,shift=9"])
def test_the_verilog_lfsr_fed_requantizer_runs_the_simulators_sequence(unit):
    from fxsim.rtl import sim
    from fxsim.rtl.spec import parse_unit

    result = sim.check_unit(parse_unit(unit), count=3000, seed=12)
    assert result.ok and result.compared == 6000, result.mismatches.head()
