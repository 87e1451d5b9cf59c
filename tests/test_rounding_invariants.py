"""The invariants of fxsim.testing on the built-in modes: each keeps exactly what
fxsim.testing.BUILTIN_KEEPS says and breaks the rest (so every check is seen to pass and to
fail), with a minimal counterexample for each broken one."""

from __future__ import annotations

import pytest

from fxsim.numeric.rounding import ROUNDING_MODES
from fxsim.testing import BUILTIN_KEEPS, INVARIANTS, InvariantBroken, check_all, resolve_mode
from fxsim.testing.report import BY_NAME

EXAMPLES = 25  # per invariant (the statistical and thread checks use proportionally fewer)


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_builtin_mode_keeps_exactly_its_invariants(mode):
    report = check_all(mode, max_examples=EXAMPLES, raise_on_failure=False)
    verdicts = report.table.set_index("invariant")["verdict"]
    m = resolve_mode(mode)
    applicable = {inv.name for inv in INVARIANTS if inv.applies_to(m)}
    assert set(verdicts[verdicts == "kept"].index) == BUILTIN_KEEPS[mode]
    assert set(verdicts[verdicts == "broken"].index) == applicable - BUILTIN_KEEPS[mode]
    assert set(verdicts[verdicts == "n/a"].index) == set(verdicts.index) - applicable
    assert report.ok
    broken = report.table[report.table["verdict"] == "broken"]
    assert (broken["counterexample"].str.contains("LSB")).all()
    assert (broken["explanation"].str.len() > 20).all()


@pytest.mark.parametrize(("mode", "invariant", "counterexample"), [
    ("nearest_even", "composes", "y = 0.5000000000000001 (= 4503599627370497*2**-53) LSB "
     "(x = 0.5000000000000001 in s62.0), through s62.1"),
    ("nearest_up", "sign_symmetric", "y = 1/2 LSB (x = 0.5 in s62.0)"),
    ("floor", "toward_zero", "y = -1/2 LSB (x = -0.5 in s62.0)"),
])
def test_broken_builtin_invariants_shrink_to_the_textbook_example(mode, invariant,
                                                                  counterexample):
    """Double rounding (one ULP above 1/2 -> 1/2 on the finer grid -> 0, not 1), nearest_up's
    asymmetric ties, floor away from zero below 0: hypothesis shrinks to these."""
    with pytest.raises(InvariantBroken) as broken:
        BY_NAME[invariant].check(mode, max_examples=EXAMPLES)
    assert broken.value.invariant == invariant and broken.value.mode == mode
    assert broken.value.counterexample == counterexample
