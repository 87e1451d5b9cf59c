"""Deliberately broken rounding rules, registered by a user module (tests/user_rules.py), are
caught by fxsim.testing and by ``fxsim check-rounding``: each with the right verdict, the
minimal counterexample hypothesis shrinks to, and an explanation; correct rules pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import user_rules

from fxsim.cli import main
from fxsim.testing import (
    InvariantBroken,
    InvariantsBroken,
    check_all,
    check_monotone,
    check_reproducible,
    check_thread_independent,
    check_ties,
    check_unbiased,
)

RULES = str(Path(user_rules.__file__).resolve())
EXAMPLES = 40


@pytest.mark.parametrize(("check", "rule", "counterexample", "explained"), [
    # '>' for '>=': rounds 1/2 up with probability 3/8; the simplest value that shows it
    (check_unbiased, "stochastic3_biased", "y = 1/2 LSB (x = 0.5 in s62.0), 65536 copies, seed 0",
     "the sample mean is 0.37"),
    # up when the top two dropped bits are '10': 1/2 -> 1 but 3/4 -> 0
    (check_monotone, "top_bits_nearest",
     "y = 1/2 LSB (x = 0.5 in s62.0) and y = 3/4 LSB (x = 0.75 in s62.0)",
     "the smaller value rounds to 1, the larger to 0"),
    # 'add half and truncate' declared as ties to even: the first tie already goes up
    (check_ties, "even_by_adding_half", "y = 1/2 LSB (x = 0.5 in s62.0)",
     "ties even round 1/2 to 0; got 1"),
])
def test_each_broken_rule_is_caught_with_its_minimal_counterexample(check, rule, counterexample,
                                                                    explained):
    with pytest.raises(InvariantBroken) as broken:
        check(rule, max_examples=EXAMPLES)
    assert broken.value.counterexample == counterexample
    assert explained in broken.value.explanation


@pytest.mark.parametrize(("rule", "caught", "flaws"), [
    ("stochastic3_biased", {"unbiased"}, {"variance_bound"}),
    ("top_bits_nearest", {"monotone"}, set()),
    ("even_by_adding_half", {"ties"}, set()),
])
def test_check_all_fails_a_broken_rule_on_its_flaws_only(rule, caught, flaws):
    """``caught``: what the checks must find; ``flaws``: what else the rule breaks, which they
    may find; every other claimed invariant must hold."""
    with pytest.raises(InvariantsBroken) as failure:
        check_all(rule, max_examples=EXAMPLES)
    assert caught <= set(failure.value.report.failed["invariant"]) <= caught | flaws
    assert "Counterexamples (minimal" in str(failure.value)


@pytest.mark.parametrize(("check", "rule", "explained"), [
    (check_thread_independent, "median_split", "(is the rule element-wise?)"),
    (check_reproducible, "deaf_random", "seed 1 gives the same 256 codes as seed 0"),
])
def test_a_rule_that_is_not_element_wise_or_ignores_its_random_bits_is_caught(check, rule,
                                                                              explained):
    with pytest.raises(InvariantBroken) as broken:
        check(rule, max_examples=EXAMPLES // 4)
    assert explained in broken.value.explanation


def test_a_ceiling_that_forgets_the_sticky_bit_fails_on_a_tiny_value():
    """The bug keeps every default claim (only the claim of what ceil keeps fails), on the
    smallest float, whose bits all fall below the 62 fraction bits."""
    with pytest.raises(InvariantsBroken) as failure:
        check_all("ceil_sticky_ignored", expect="ceil", max_examples=EXAMPLES)
    failed = failure.value.report.failed.set_index("invariant")
    assert list(failed.index) == ["rounds_up"]
    assert failed.loc["rounds_up", "counterexample"] == (
        "y = 5e-324 (= 1*2**-1074) LSB (x = 5e-324 in s62.0)")
    assert "q = 0 is below y" in failed.loc["rounds_up", "explanation"]


@pytest.mark.parametrize("rule", ["ties_to_odd", "stochastic3"])
def test_correct_rules_keep_what_they_claim(rule):
    expect = ["error_half_lsb", "sign_symmetric"] if rule == "ties_to_odd" else None
    report = check_all(rule, expect=expect, max_examples=EXAMPLES // 2)
    assert report.ok and report.verdict("ties" if rule == "ties_to_odd" else "unbiased") == "kept"


def test_check_rounding_command_prints_verdicts_and_fails_on_a_broken_claim(capsys):
    assert main(["check-rounding", "even_by_adding_half", "--rounding-module", RULES,
                 "--max-examples", "20"]) == 1
    out = capsys.readouterr().out
    assert "ties                         broken  claimed" in out
    assert "ties: y = 1/2 LSB (x = 0.5 in s62.0)" in out
    assert "claimed but broken: ties." in out
    assert main(["check-rounding", "ties_to_odd", "--rounding-module", RULES,
                 "--max-examples", "10"]) == 0
    assert "every claimed invariant holds" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "rounding must be one of nearest_even, .* got 'nope'"),
    (["floor", "--rounding-module", "no_such_rules.py"], "rounding module 'no_such_rules.py'"),
    (["floor", "--expect", "monotone,nope"], "unknown invariant 'nope'"),
    (["floor", "--random-bits", "4"], "random_bits applies only to rounding='stochastic_k'"),
    ([], "give a MODE to check"),
])
def test_check_rounding_errors_are_one_clear_line(args, message, capsys):
    assert main(["check-rounding", *args]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
