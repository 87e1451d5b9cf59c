"""Range rules: the Scale and its pow2 fraction choice, the stateless rules (fixed, minmax,
percentile, mse, cqat, dorefa), edge inputs and parameter errors. Adaptive rules and state:
test_ranges_adaptive.py."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fxsim
from fxsim.ranges import RANGE_RULES, REQUIRED, Scale, make_rule, rule_parameters

POSITIVE_FLOATS = st.one_of(
    st.floats(min_value=5e-324, max_value=1.7976931348623157e308),
    st.integers(-1074, 1023).map(lambda k: math.ldexp(1.0, k)),
    st.floats(1e-3, 1e3),
)
SMALL = settings(max_examples=40, deadline=None)


def bits_and_sign():
    return st.booleans().flatmap(lambda signed: st.tuples(st.integers(2 if signed else 1, 62),
                                                           st.just(signed)))


def rule_for(name: str, **params) -> fxsim.ranges.RangeRule:
    """``make_rule`` with a value for required parameters (fixed's frac)."""
    if rule_parameters(name).get("frac") is REQUIRED:
        params.setdefault("frac", 3)
    return make_rule(name, **params)


def codes_with(x: np.ndarray, scale: Scale, rounding: str = "nearest_even") -> np.ndarray:
    """Codes of ``x`` under ``scale`` by fxsim.quantize (saturating) and the clamp to
    ``[code_min, code_max]``: the quantizer the Scale describes."""
    q = fxsim.quantize(x, scale.format(), rounding, "saturate", step=scale.step)
    return np.clip(q.raw.astype(np.int64), scale.code_min, scale.code_max)


def squared_error(x: np.ndarray, scale: Scale) -> float:
    """``sum((x - Q(x))**2)`` with Q from fxsim.quantize, summed exactly-rounded (fsum)."""
    values = fxsim.FxArray(codes_with(x, scale), fxsim.QFormat(62, scale.format().frac),
                           step=scale.step).to_float()
    return math.fsum((x - values) ** 2)


def squared_error_numpy(x: np.ndarray, scale: Scale) -> float:
    """The same with numpy's rint and clip (moderate scales only: lsb a normal float)."""
    lsb = scale.lsb
    values = np.clip(np.rint(x / lsb), scale.code_min, scale.code_max) * lsb
    return math.fsum((x - values) ** 2)


def exact_lsb(scale: Scale) -> Fraction:
    return Fraction(scale.step) if scale.frac is None else Fraction(2) ** -scale.frac


# --- the pow2 fraction length ---------------------------------------------------------------


@SMALL
@given(POSITIVE_FLOATS, bits_and_sign(), st.booleans())
def test_pow2_clip_fits_within_one_lsb_and_no_finer_frac_would(c, bits_signed, negate):
    bits, signed = bits_signed
    scale = make_rule("minmax").choose(np.array([-c if negate and signed else c]), bits, signed)
    lsb = Fraction(2) ** -scale.frac
    top = scale.code_max * lsb
    assert scale.clip == c
    assert Fraction(c) <= top + lsb  # exceeds the range by at most one LSB
    assert Fraction(c) > (top + lsb) / 2  # with frac + 1 it would exceed by more than one LSB


@pytest.mark.parametrize("bits,signed", [(2, True), (4, True), (8, True), (1, False), (8, False)])
@pytest.mark.parametrize("exponent", [-1074, -1022, -3, 0, 1, 7, 1023])
def test_pow2_at_powers_of_two_and_their_neighbours(exponent, bits, signed):
    rule = make_rule("minmax")
    c = math.ldexp(1.0, exponent)
    at = rule.choose(np.array([c]), bits, signed)
    magnitude_bits = bits - 1 if signed else bits
    assert at.frac == magnitude_bits - exponent
    lsb = Fraction(2) ** -at.frac
    assert Fraction(c) == at.code_max * lsb + lsb  # a power of two exceeds by exactly one LSB
    if exponent < 1023:
        above = rule.choose(np.array([math.nextafter(c, math.inf)]), bits, signed)
        assert above.frac == at.frac - 1  # just above: one more integer bit...
        if magnitude_bits >= 2 and exponent > -1074:  # ...and it fits (2**-1073 is a power)
            assert Fraction(above.clip) <= above.code_max * Fraction(2) ** -above.frac
    if exponent > -1074:
        below = math.nextafter(c, 0.0)
        assert rule.choose(np.array([below]), bits, signed).frac == at.frac
        assert Fraction(below) - at.code_max * lsb < lsb


# --- Scale --------------------------------------------------------------------------------


def test_scale_format_is_the_narrowest_that_holds_the_codes():
    assert Scale(3, None, 1.0, -7, 7).format() == fxsim.QFormat(4, 3, True)
    assert Scale(None, 0.5, 1.0, -15, 15).format() == fxsim.QFormat(5, 0, True)
    assert Scale(-2, None, 1.0, 0, 15).format() == fxsim.QFormat(4, -2, False)
    assert Scale(0, None, 1.0, 0, 15).format(signed=True) == fxsim.QFormat(5, 0, True)
    assert Scale(0, None, 1.0, -7, 7).format(bits=8).bits == 8
    with pytest.raises(ValueError, match="bits must be >= 4"):
        Scale(0, None, 1.0, -7, 7).format(bits=3)


@pytest.mark.parametrize("frac,step", [(None, None), (2, 0.5)])
def test_scale_needs_exactly_one_of_frac_and_step(frac, step):
    with pytest.raises(ValueError, match="exactly one of frac and step"):
        Scale(frac, step, 1.0, -7, 7)


@pytest.mark.parametrize("kwargs,word", [
    ({"step": -1.0}, "step"), ({"step": math.inf}, "step"), ({"clip": math.nan}, "clip"),
    ({"code_min": 1}, "code_min"), ({"code_max": 0}, "code_max"),
])
def test_scale_refuses_bad_fields(kwargs, word):
    fields = {"frac": None, "step": 0.5, "clip": 1.0, "code_min": -7, "code_max": 7} | kwargs
    with pytest.raises(ValueError, match=word):
        Scale(**fields)


# --- the stateless rules ------------------------------------------------------------------

FLOAT_ARRAYS = hnp.arrays(
    np.float64, st.integers(1, 300),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)


@SMALL
@given(FLOAT_ARRAYS, st.floats(0.5, 100.0), st.integers(2, 16))
def test_percentile_matches_numpy_linear_percentile(x, p, bits):
    expected = float(np.percentile(np.abs(x), p, method="linear"))
    real = make_rule("percentile", percentile=p, scale="real").choose(x, bits, True)
    if expected > 0:
        assert real.clip == expected
        assert real.step == max(expected / (2 ** (bits - 1) - 1), 5e-324)  # floor: documented
    else:  # falls back to max|x| (or, for an all-zero x, reports 0)
        assert real.clip == np.abs(x).max()


@SMALL
@given(FLOAT_ARRAYS, st.integers(2, 16), st.booleans())
def test_minmax_clips_at_the_largest_magnitude(x, bits, signed):
    scale = make_rule("minmax", scale="real").choose(x, bits, signed)
    assert scale.clip == np.abs(x).max()
    top = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    assert (scale.code_min, scale.code_max) == ((-top if signed else 0), top)
    if scale.clip:
        assert scale.step == max(scale.clip / top, 5e-324)


def test_fixed_uses_its_frac_whatever_the_values():
    rule = make_rule("fixed", frac=5)
    for x in (np.zeros(3), np.array([1e9]), np.array([-1e-9, 3.0])):
        scale = rule.choose(x, 8, True)
        assert (scale.frac, scale.step, scale.code_min, scale.code_max) == (5, None, -127, 127)
        assert scale.clip == 127 / 32
    assert make_rule("fixed", frac=-2000).choose(np.ones(2), 8, True).clip == 1.7976931348623157e308
    assert make_rule("fixed", frac=2000).choose(np.ones(2), 8, True).clip == 0.0


@SMALL
@given(st.integers(0, 2**32), st.integers(2, 8), st.booleans())
def test_cqat_codes_use_only_the_given_bits_on_the_8bit_interval(seed, bits, signed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(500) * rng.uniform(1e-3, 1e3)
    x = x if signed else np.maximum(x, 0.0)  # post-ReLU activations
    scale = make_rule("cqat").choose(x, bits, signed)
    c = np.abs(x).max()
    assert scale.clip == c and scale.step == c / 127
    wide = fxsim.quantize(x, fxsim.QFormat(16, 0), step=scale.step).raw  # the 8-bit quantizer
    assert np.array_equal(wide, np.rint(x / (c / 127)))
    codes = codes_with(x, scale)
    if signed:
        assert scale.format() == fxsim.QFormat(bits, 0, True)
        assert np.abs(codes).max() <= 2 ** (bits - 1) - 1
    else:
        assert scale.format() == fxsim.QFormat(bits, 0, False)
        assert codes.min() >= 0 and codes.max() <= 2**bits - 1
    inside = (wide >= scale.code_min) & (wide <= scale.code_max)
    assert np.array_equal(codes[inside], wide[inside])  # the interval stays the 8-bit one
    assert np.all(codes[~inside] == np.clip(wide[~inside], scale.code_min, scale.code_max))


def test_cqat_paper_widths():
    x = np.linspace(-3.0, 3.0, 101)
    assert make_rule("cqat").choose(x, 5, True).code_max == 15  # weights: [-15, 15]
    assert make_rule("cqat").choose(np.abs(x), 4, False).code_max == 15  # activations: [0, 15]
    with pytest.raises(ValueError, match="bits must be <= base_bits=8"):
        make_rule("cqat").choose(x, 9, True)


@SMALL
@given(FLOAT_ARRAYS, st.integers(2, 16))
def test_dorefa_step_is_2c_over_2b_minus_1(x, bits):
    scale = make_rule("dorefa").choose(x, bits, True)
    c = np.abs(x).max()
    if c:
        assert scale.clip == c
        expected = max(_nearest_float(Fraction(2 * c) / (2**bits - 1)), Fraction(5e-324))
        assert Fraction(scale.step) == expected
        assert scale.code_max == 2 ** (bits - 1) - 1


def _nearest_float(value: Fraction) -> Fraction:
    return Fraction(float(value))  # float(Fraction) rounds to nearest


# --- mse ----------------------------------------------------------------------------------


def _mse_candidates(x, bits, scale_kind, rule):
    c = float(np.abs(x).max())
    code_max = 2 ** (bits - 1) - 1
    if scale_kind == "pow2":
        f0 = make_rule("minmax").choose(x, bits, True).frac
        fracs = range(f0 - 1, f0 + rule.params["frac_span"] + 1)
        return [Scale(f, None, c, -code_max, code_max) for f in fracs]
    grid = rule.params["grid"]
    return [Scale(None, c * (i / grid) / code_max, c, -code_max, code_max)
            for i in range(1, grid + 1)]


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 60),
                  elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)),
       st.integers(2, 8), st.sampled_from(["pow2", "real"]))
def test_mse_picks_the_best_candidate_and_never_loses_to_minmax(x, bits, kind):
    rule = make_rule("mse", scale=kind, grid=30)
    chosen = rule.choose(x, bits, True)
    if not np.abs(x).max() > 1e-200:
        return
    errors = [squared_error_numpy(x, s) for s in _mse_candidates(x, bits, kind, rule)]
    mine = squared_error(x, chosen)  # by fxsim.quantize: the quantizer the Scale describes
    assert mine == pytest.approx(squared_error_numpy(x, chosen), rel=1e-12, abs=1e-300)
    assert mine <= min(errors) * (1 + 1e-12) + 1e-300
    minmax = make_rule("minmax", scale=kind).choose(x, bits, True)
    assert mine <= squared_error(x, minmax) * (1 + 1e-12) + 1e-300


@pytest.mark.parametrize("kind", ["pow2", "real"])
@pytest.mark.parametrize("dist", ["student_t", "laplace"])
def test_mse_beats_minmax_on_heavy_tails(kind, dist):
    rng = np.random.default_rng(7)
    x = rng.standard_t(4, 20_000) if dist == "student_t" else rng.laplace(size=20_000)
    mse_scale = make_rule("mse", scale=kind).choose(x, 4, True)
    minmax_scale = make_rule("minmax", scale=kind).choose(x, 4, True)
    assert squared_error(x, mse_scale) < 0.5 * squared_error(x, minmax_scale)
    assert mse_scale.clip < minmax_scale.clip


@pytest.mark.parametrize("kind", ["pow2", "real"])
@pytest.mark.parametrize("bits", [2, 5])
@pytest.mark.parametrize("largest", [1.7976931348623157e308, 1e-300, 5e-324])
def test_mse_at_the_ends_of_float64(largest, bits, kind):
    x = np.array([largest, -largest / 3, largest / 7, 0.0])
    scale = make_rule("mse", scale=kind).choose(x, bits, True)
    assert 0 < scale.clip <= largest
    minmax = make_rule("minmax", scale=kind).choose(x, bits, True)
    # Q in exact rationals: the chosen scale's error is no larger than min-max's
    errors = []
    for s in (scale, minmax):
        lsb = exact_lsb(s)
        codes = [min(max(round(Fraction(v) / lsb), s.code_min), s.code_max) for v in x]
        errors.append(sum((Fraction(v) - c * lsb) ** 2 for v, c in zip(x, codes, strict=True)))
    assert errors[0] <= errors[1] * (1 + Fraction(1, 10**9))


@pytest.mark.parametrize("kind", ["pow2", "real"])
def test_mse_subsamples_large_tensors_by_a_fixed_stride(kind):
    rng = np.random.default_rng(3)
    x = rng.laplace(size=(70, 1000))
    x[0, 0] = 40.0  # max|x| is in the sample, so both see the same candidates
    stride = math.ceil(x.size / 5000)
    sampled = make_rule("mse", scale=kind, max_samples=5000).choose(x, 5, True)
    assert sampled == make_rule("mse", scale=kind).choose(x.reshape(-1)[::stride], 5, True)
    assert sampled == make_rule("mse", scale=kind, max_samples=5000).choose(x.copy(), 5, True)


# --- edge inputs, every rule --------------------------------------------------------------


def _check_valid(scale: Scale, x: np.ndarray) -> None:
    assert isinstance(scale, Scale)
    assert math.isfinite(scale.clip) and scale.clip >= 0
    if scale.frac is None:  # (a pow2 LSB may be below float64's range: frac is an integer)
        assert math.isfinite(scale.step) and scale.step > 0
    codes = codes_with(x, scale)  # quantizing with it works
    assert codes.shape == x.shape


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(RANGE_RULES), st.floats(-1e300, 1e300, allow_nan=False)
       | st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308]),
       st.integers(2, 8), st.booleans(), st.sampled_from(["pow2", "real"]))
def test_every_rule_on_a_single_element(name, value, bits, signed, kind):
    params = {} if name == "fixed" else {"scale": kind}
    x = np.array([value])
    scale = rule_for(name, **params).choose(x, bits, signed)
    _check_valid(scale, x)
    if name not in ("fixed", "cqat", "mse") and value and (value > 0 or signed):
        # a lone value is its own max: these rules clip at |value|, fitting within one LSB
        lsb = exact_lsb(scale)
        assert Fraction(abs(value)) <= (scale.code_max + 1) * lsb * (1 + Fraction(1, 10**12))


@pytest.mark.parametrize("name", RANGE_RULES)
@pytest.mark.parametrize("x", [np.zeros(0), np.zeros(5), np.full((2, 3), -0.0)])
def test_every_rule_on_zero_tensors(name, x):
    for signed in (True, False):
        rule = rule_for(name)
        scale = rule.choose(x, 4, signed)
        _check_valid(scale, x)
        assert rule.choose(x, 4, signed) == scale
        rule.observe(x, scale)
        if name != "fixed":
            assert scale.clip == 0.0


@pytest.mark.parametrize("name", RANGE_RULES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_rule_refuses_nan_and_infinity(name, bad):
    with pytest.raises(ValueError, match="NaN or infinity"):
        rule_for(name).choose(np.array([1.0, bad]), 4, True)


def test_choose_checks_bits_signed_and_values():
    rule = make_rule("minmax")
    with pytest.raises(ValueError, match=r"bits must be an integer in 2\.\.62, got 1"):
        rule.choose(np.ones(3), 1, True)
    with pytest.raises(TypeError, match="bits must be an integer"):
        rule.choose(np.ones(3), 4.0, True)
    with pytest.raises(TypeError, match="signed must be True or False"):
        rule.choose(np.ones(3), 4, "yes")
    with pytest.raises(TypeError, match="FxArray"):
        rule.choose(fxsim.quantize(np.ones(3), fxsim.QFormat(8, 0)), 4, True)
    with pytest.raises(TypeError, match="real numeric array"):
        rule.choose(np.array(["a"]), 4, True)
    assert rule.choose(np.arange(5), 4, True) == rule.choose(np.arange(5.0), 4, True)


# --- names and parameters -----------------------------------------------------------------


@pytest.mark.parametrize("name,params,words", [
    ("nope", {}, ["'nope'", "minmax", "large_grad_interval"]),
    ("percentile", {"percentile": 150}, ["percentile", "150", "(0, 100]"]),
    ("percentile", {"percentile": 0.0}, ["percentile", "0.0"]),
    ("percentile", {"percentile": True}, ["percentile", "True"]),
    ("minmax", {"scale": "float"}, ["scale", "'float'", "'pow2', 'real'"]),
    ("minmax", {"foo": 1}, ["'foo'", "foo=1", "scale"]),
    ("fixed", {}, ["frac", "needs"]),
    ("fixed", {"frac": 1.5}, ["frac", "1.5", "an integer"]),
    ("fixed", {"frac": 3, "scale": "real"}, ["scale", "'real'", "'pow2'"]),
    ("mse", {"max_samples": 0}, ["max_samples", "0", ">= 1"]),
    ("mse", {"grid": "10"}, ["grid", "'10'"]),
    ("zscore", {"ema": 1.0}, ["ema", "1.0", "[0, 1)"]),
    ("zscore", {"z": -1}, ["z", "-1"]),
    ("large_grad_interval", {"gamma": 2}, ["gamma", "2", "[0.001, 1]"]),
    ("large_grad_interval", {"eps": math.nan}, ["eps", "nan"]),
    ("large_grad_interval", {"init_search": 1}, ["init_search", "1", "True or False"]),
    ("cqat", {"base_bits": 1}, ["base_bits", "1", "2..62"]),
])
def test_bad_names_and_parameters_are_named(name, params, words):
    with pytest.raises(ValueError) as err:
        make_rule(name, **params)
    for word in words:
        assert word in str(err.value)


def test_every_rule_lists_its_parameters_with_a_scale():
    defaults = {"fixed": "pow2", "minmax": "pow2", "percentile": "pow2", "mse": "pow2",
                "zscore": "real", "large_grad_interval": "real", "cqat": "real",
                "dorefa": "real"}
    assert set(RANGE_RULES) == set(defaults)
    for name in RANGE_RULES:
        assert rule_parameters(name)["scale"] == defaults[name]
        assert rule_for(name).params["scale"] == defaults[name]
