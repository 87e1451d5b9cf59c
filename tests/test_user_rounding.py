"""User-defined rounding rules (fxsim.register_rounding): the exact form they receive, their
own conversion path (a rule that re-implements a built-in equals it bit for bit), errors that
name the rule, and policies, training and the cost model that find them in a fresh process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import user_rules  # registers the rules
from hypothesis import given, settings
from hypothesis import strategies as st

import fxsim
from fxsim.numeric._user_convert import exact_parts
from fxsim.numeric.user_rounding import (
    ONE,
    load_rounding_module,
    register_rounding,
    registered_rounding,
    unregister_rounding,
)
from fxsim.testing.strategies import code_arrays, float_values, qformats, steps

RULES_FILE = Path(user_rules.__file__).resolve()
CLONES = [("nearest_even_clone", "nearest_even", None),
          ("stochastic_k5_clone", "stochastic_k", 5)]
SEEDS = st.integers(0, 2**64 - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                          st.floats(-4.0, 4.0)), min_size=1, max_size=30),
       st.integers(-1200, 1200), st.one_of(st.none(), steps()))
def test_rules_receive_floor_fraction_and_sticky_exactly(values, scale_exp, step):
    """Whichever path computes them (float64 where exact, else integers)."""
    q, f, sticky = exact_parts(np.array(values), scale_exp, step)
    for x, qi, fi, si in zip(values, q.tolist(), f.tolist(), sticky.tolist(), strict=True):
        if step is None:
            y = Fraction(x) * Fraction(2) ** scale_exp
        elif math.isfinite(x / step):
            y = Fraction(x / step)  # the float64 quotient, as documented
        else:
            continue
        if abs(y) >= 2**62:
            assert (qi, fi, si) == (0, 0, False)  # not given to rules
            continue
        rest = (y - math.floor(y)) * ONE
        assert qi == math.floor(y) and fi == math.floor(rest) and si == (rest != fi)


def _outcome(convert, *args, **kwargs):
    """``(codes, stats)`` of a conversion, or the message of the error it raised."""
    try:
        result = convert(*args, **kwargs)
    except ValueError as error:
        return str(error)
    return result.raw.tolist(), result.stats


@pytest.mark.parametrize(("clone", "builtin", "random_bits"), CLONES)
@settings(max_examples=80, deadline=None)
@given(data=st.data(), seed=SEEDS, overflow=st.sampled_from(["saturate", "wrap"]))
def test_a_rule_equal_to_a_builtin_quantizes_alike(clone, builtin, random_bits, data, seed,
                                                   overflow):
    fmt = data.draw(qformats())
    x = np.array(data.draw(st.lists(float_values(fmt, allow_infinity=overflow == "saturate"),
                                    min_size=1, max_size=40)))
    step = data.draw(st.one_of(st.none(), steps()))
    ours = _outcome(fxsim.quantize, x, fmt, clone, overflow, seed, step=step)
    theirs = _outcome(fxsim.quantize, x, fmt, builtin, overflow, seed, step=step,
                      random_bits=random_bits)
    assert ours == theirs


@pytest.mark.parametrize(("clone", "builtin", "random_bits"), CLONES)
@settings(max_examples=80, deadline=None)
@given(data=st.data(), seed=SEEDS, overflow=st.sampled_from(["saturate", "wrap"]))
def test_a_rule_equal_to_a_builtin_requantizes_alike(clone, builtin, random_bits, data, seed,
                                                     overflow):
    fmt_in = data.draw(qformats(frac=(-80, 140)))
    fmt_out = data.draw(qformats(frac=(-80, 140)))
    q = fxsim.FxArray(data.draw(code_arrays(fmt_in, 1, 40)), fmt_in,
                      step=data.draw(st.one_of(st.none(), st.floats(1e-3, 1e3))))
    step = data.draw(st.one_of(st.none(), st.floats(1e-3, 1e3)))
    multiplier_bits = 31 if q.step is None and step is None else max(
        2, min(31, 62 - int(np.abs(q.raw.astype(np.int64)).max()).bit_length()))
    ours = _outcome(fxsim.requantize, q, fmt_out, clone, overflow, seed, step=step,
                    multiplier_bits=multiplier_bits)
    theirs = _outcome(fxsim.requantize, q, fmt_out, builtin, overflow, seed, step=step,
                      multiplier_bits=multiplier_bits, random_bits=random_bits)
    assert ours == theirs


def test_large_arrays_on_threads_match_the_builtin():
    x = np.random.default_rng(1).standard_normal(300_001) * 50
    for clone, builtin, bits in CLONES:
        fmt = fxsim.QFormat(6, 2)
        ours = fxsim.quantize(x, fmt, clone, seed=9)
        theirs = fxsim.quantize(x, fmt, builtin, seed=9, random_bits=bits)
        assert np.array_equal(ours.raw, theirs.raw) and ours.stats == theirs.stats


def test_huge_values_nan_and_infinity_never_reach_the_rule():
    seen = []

    def spy(q, f, sticky):
        seen.append((int(np.abs(q).max()), int(f.max()), int(f.min())))
        return q

    register_rounding("spy_floor", spy, compile=False)
    try:
        x = np.array([1e300, -1e300, np.inf, -np.inf, np.nan, 2.0**62, 3.75, -2.5, 5e-324])
        q = fxsim.quantize(x, fxsim.QFormat(8, 0), "spy_floor", nan="zero")
        assert q.raw.tolist() == [127, -128, 127, -128, 0, 127, 3, -3, 0]
        assert q.stats.saturated == 5 and q.stats.nan == 1
        biggest_q, biggest_f, smallest_f = seen[0]
        assert biggest_q < 2**62 and 0 <= smallest_f <= biggest_f < ONE
        assert registered_rounding("spy_floor").compiled is False
        wrapped = fxsim.quantize(np.array([2.0**62 + 2.0**11]), fxsim.QFormat(12, 0), "spy_floor",
                                 "wrap")
        assert wrapped.raw.tolist() == [-2048] and wrapped.stats.wrapped == 1
    finally:
        unregister_rounding("spy_floor")


def test_numba_compiles_what_it_can_and_says_why_not():
    fxsim.quantize(np.ones(3), fxsim.QFormat(8, 0), "stochastic3", seed=1)
    assert registered_rounding("stochastic3").compiled is True
    assert "numba-compiled" in registered_rounding("stochastic3").describe()
    fxsim.quantize(np.ones(3), fxsim.QFormat(8, 0), "ties_to_odd")
    rule = registered_rounding("ties_to_odd")  # calls a plain-Python helper: numpy only
    assert rule.compiled is False and "Untyped global name '_above_half'" in rule.compile_error
    register_rounding("ties_to_odd_strict", user_rules.ties_to_odd, compile=True)
    try:
        with pytest.raises(ValueError,
                           match=r"'ties_to_odd_strict' \(compile=True\): numba cannot"):
            fxsim.quantize(np.ones(3), fxsim.QFormat(8, 0), "ties_to_odd_strict")
    finally:
        unregister_rounding("ties_to_odd_strict")


@pytest.mark.parametrize(("fn", "message"), [
    (lambda q, f, s: f >= 0,
     r"must return an integer array of shape \(3,\) .*got bool.*not the bool"),
    (lambda q, f, s: q[:1], r"got int64 of shape \(1,\)"),
    (lambda q, f, s: q * 1.0, "must return an integer array.*got float64"),
    (lambda q, f, s: q + {}[0], "rounding rule 'bad' failed on 3 elements: KeyError"),
])
def test_a_bad_rule_result_is_an_error_naming_the_rule(fn, message):
    register_rounding("bad", fn, compile=False)
    try:
        with pytest.raises(ValueError, match=message):
            fxsim.quantize(np.array([0.5, 1.5, -2.0]), fxsim.QFormat(8, 0), "bad")
    finally:
        unregister_rounding("bad")


@pytest.mark.parametrize(("name", "fn", "options", "error", "message"), [
    ("Bad-Name", user_rules.ties_to_odd, {}, ValueError, "lower-case letters"),
    ("floor", user_rules.ties_to_odd, {}, ValueError, "'floor' is a built-in mode"),
    ("rtz", user_rules.ties_to_odd, {}, ValueError, "built-in mode"),
    ("x", user_rules.ties_to_odd, {"random_bits": 3}, TypeError,
     r"fxsim calls fn\(q, f, sticky, r\); 'ties_to_odd' takes 3"),
    ("x", user_rules.stochastic3, {}, TypeError, r"fn\(q, f, sticky\); 'stochastic3' takes 4"),
    ("x", user_rules.ties_to_odd, {"random_bits": 63}, ValueError,
     "random_bits must be .*0..62"),
    ("x", user_rules.ties_to_odd, {"ties": "nearest"}, ValueError,
     "ties must be one of even, odd"),
    ("x", user_rules.ties_to_odd, {"cost_as": "stochastic"}, ValueError,
     "cost_as must be a built-in mode for a deterministic rule"),
    ("x", user_rules.stochastic3, {"random_bits": 3, "cost_as": "floor"}, ValueError,
     "for a random rule, one of stochastic, stochastic_k"),
    ("ties_to_odd", user_rules.stochastic3, {"random_bits": 3}, ValueError,
     "'ties_to_odd' is already registered .* pass replace=True"),
    ("x", 3, {}, TypeError, "fn must be callable"),
])
def test_registration_refuses_bad_rules(name, fn, options, error, message):
    with pytest.raises(error, match=message):
        register_rounding(name, fn, **options)


def test_registering_the_same_rule_again_is_harmless_and_bits_are_the_rules():
    before = registered_rounding("ties_to_odd")
    register_rounding("ties_to_odd", user_rules.ties_to_odd, ties="odd", cost_as="nearest_even")
    assert registered_rounding("ties_to_odd").fn is before.fn
    assert load_rounding_module(str(RULES_FILE)) == str(RULES_FILE)  # already imported
    with pytest.raises(ValueError, match="registered with random_bits=3; got random_bits=4"):
        fxsim.quantize(np.ones(2), fxsim.QFormat(8, 0), "stochastic3", random_bits=4)
    assert fxsim.quantize(np.ones(2), fxsim.QFormat(8, 0), "stochastic3").stats.seed is not None


def _policy_file(tmp_path: Path, rounding: str, extra: str = "", modules=None) -> Path:
    """A policy rounding every quantized role by ``rounding``, naming the rules module."""
    roles = [f'{role} = {{ bits = {bits}, rounding = "{rounding}"{extra}, range = "minmax" }}'
             for role, bits in (("weights", 8), ("activations", 8), ("act_grads", 8),
                                ("weight_grads", 16))]
    modules = [str(RULES_FILE)] if modules is None else modules
    path = tmp_path / f"{rounding}.toml"
    path.write_text(f'name = "{rounding}"\nrounding_modules = {json.dumps(modules)}\n'
                    "[defaults]\n" + "\n".join(roles) +
                    '\nmaster = { bits = 32, frac = 24, rounding = "nearest_even" }\n')
    return path


def test_a_policy_names_the_rules_module_and_a_fresh_process_trains_with_it(tmp_path):
    """A run in a fresh process (the fxsim command) finds the rule through the policy's
    rounding_modules, and a rule equal to stochastic_k trains bit for bit like it."""
    clone = _policy_file(tmp_path, "stochastic_k5_clone")
    builtin = _policy_file(tmp_path, "stochastic_k", extra=", random_bits = 5", modules=[])
    args = ["--epochs", "1", "--limit", "96", "--quiet"]
    subprocess.run([sys.executable, "-m", "fxsim.cli", "train", "--policy", str(clone),
                    "--out", str(tmp_path / "clone"), *args], check=True, capture_output=True)
    from fxsim.cli import main

    assert main(["train", "--policy", str(builtin), "--out", str(tmp_path / "builtin"),
                 *args]) == 0
    hashes = [json.loads((tmp_path / run / "summary.json").read_text())["weights_sha256"]
              for run in ("clone", "builtin")]
    assert hashes[0] == hashes[1]
    saved = (tmp_path / "clone" / "policy.toml").read_text()
    assert str(RULES_FILE) in saved and "stochastic_k5_clone" in saved


def test_relative_rounding_modules_are_read_from_the_policy_folder(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.py").write_text(
        "import fxsim\nfxsim.register_rounding('relative_floor', lambda q, f, s: q)\n")
    path = _policy_file(tmp_path, "relative_floor", modules=["rules/mine.py"])
    policy = fxsim.policy.Policy.load(path)
    assert policy.rounding_modules == (str((tmp_path / "rules" / "mine.py").resolve()),)
    with pytest.raises(ValueError, match=r"policy 'x': rounding module 'nope.py': no such file"):
        fxsim.policy.Policy.load({"name": "x", "rounding_modules": ["nope.py"]})
    with pytest.raises(ValueError, match="rounding_modules must be a list"):
        fxsim.policy.Policy.load({"name": "x", "rounding_modules": "rules.py"})
    with pytest.raises(ValueError, match="module 'no_such_module_xyz' cannot be imported"):
        fxsim.policy.Policy.load({"name": "x", "rounding_modules": ["no_such_module_xyz"]})
    unregister_rounding("relative_floor")


def test_the_cost_model_prices_a_rule_as_its_stated_unit_or_asks_for_one(tmp_path):
    import costmodel

    ours = costmodel.summarize(costmodel.estimate(
        "digits_cnn", _policy_file(tmp_path, "nearest_even_clone"), batch=8))
    theirs = costmodel.summarize(costmodel.estimate(
        "digits_cnn", _policy_file(tmp_path, "nearest_even", modules=[]), batch=8))
    assert ours == theirs
    with pytest.raises(ValueError, match="'top_bits_nearest' has no hardware cost: register it "
                                         "with cost_as=MODE"):
        costmodel.estimate("digits_cnn", _policy_file(tmp_path, "top_bits_nearest"), batch=8)


def test_reading_a_policy_with_rules_loads_no_numba(tmp_path):
    path = _policy_file(tmp_path, "ties_to_odd")
    code = (f"import costmodel, sys; costmodel.estimate('digits_cnn', {str(path)!r}, batch=8); "
            "assert 'numba' not in sys.modules, 'numba imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("lanes", [1, 3])
def test_a_random_rule_draws_the_lfsr_words_when_the_policy_says_so(lanes):
    """With the hardware random source (``random = "lfsr"``), a rule equal to stochastic_k
    takes the LFSRs' bits exactly as the built-in does."""
    from fxsim.numeric.lfsr import RandomSource

    source = RandomSource("lfsr", 16, lanes)
    x = np.random.default_rng(2).standard_normal(70_001) * 9
    fmt = fxsim.QFormat(6, 1)
    ours = fxsim.quantize(x, fmt, "stochastic_k5_clone", seed=3, random_source=source)
    theirs = fxsim.quantize(x, fmt, "stochastic_k", seed=3, random_bits=5,
                            random_source=source)
    counter = fxsim.quantize(x, fmt, "stochastic_k5_clone", seed=3)
    assert np.array_equal(ours.raw, theirs.raw) and not np.array_equal(ours.raw, counter.raw)
    spec = fxsim.policy.Policy.load({
        "name": "lfsr", "rounding_modules": [str(RULES_FILE)],
        "defaults": {role: {"bits": 8, "rounding": "stochastic3", "random": "lfsr",
                            "lfsr_width": 4}
                     for role in ("weights", "activations", "act_grads", "weight_grads")}
    }).spec("fc", "act_grads")
    assert spec.random_source == RandomSource("lfsr", 4, 1) and spec.rounding == "stochastic3"


def test_editing_a_rounding_rule_makes_its_finished_runs_stale(tmp_path):
    """The run's recorded source digest covers the policy's rounding modules: a finished run is
    reused while the rule's file is unchanged, and refused as stale once it is edited."""
    import shutil

    from fxsim.training import TrainConfig, train
    from fxsim.training.provenance import source_digest
    from fxsim.training.runs import StaleRun, run_state

    rules = tmp_path / "my_rules.py"
    shutil.copy(RULES_FILE, rules)
    policy = _policy_file(tmp_path, "stochastic_k5_clone", modules=[str(rules)])
    config = TrainConfig(policy=str(policy), epochs=1, limit=64)
    run = train(config, tmp_path / "run")
    recorded = run.summary["versions"]["fxsim_source"]
    assert recorded != source_digest()  # the rule's file is part of it
    assert run_state(config, tmp_path / "run") == "finished"
    rules.write_text(rules.read_text() + "\n# an edit\n")
    with pytest.raises(StaleRun, match="rounding rules"):
        run_state(config, tmp_path / "run")
