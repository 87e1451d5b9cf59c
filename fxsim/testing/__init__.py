"""Property testing of rounding schemes with hypothesis: strategies, invariant checks, and
:func:`check_all`, which tells which invariants a mode keeps and which it breaks.

Any built-in mode, or a rule registered with :func:`fxsim.register_rounding`, can be checked::

    from fxsim.testing import check_all
    def test_my_rounding():
        check_all("half_odd")        # fails with the table and minimal counterexamples

Each ``check_*`` function searches for an input that breaks one invariant and raises
:class:`InvariantBroken` (an AssertionError) with the minimal counterexample hypothesis shrinks
to and a plain explanation; :data:`INVARIANTS` lists them and :data:`BUILTIN_KEEPS` says which
built-in mode keeps which. The searches are deterministic (``derandomize``): the same examples
every run. :mod:`fxsim.testing.strategies` holds the strategies (formats, awkward floats, codes,
steps, policies) for your own tests. ``fxsim check-rounding MODE`` runs :func:`check_all` from
the command line.
"""

from fxsim.testing import strategies
from fxsim.testing.compose import (
    check_composes,
    check_double_rounding,
    check_requantize_matches_quantize,
    check_saturate,
    check_wrap,
)
from fxsim.testing.core import InvariantBroken, Mode, resolve_mode
from fxsim.testing.elementwise import (
    check_error_below_one_lsb,
    check_error_half_lsb,
    check_idempotent,
    check_monotone,
    check_rounds_down,
    check_rounds_up,
    check_sign_symmetric,
    check_ties,
    check_toward_zero,
)
from fxsim.testing.report import (
    BUILTIN_KEEPS,
    INVARIANTS,
    Invariant,
    InvariantsBroken,
    RoundingReport,
    builtin_table,
    check_all,
    default_claims,
)
from fxsim.testing.statistics import FALSE_ALARM, check_unbiased, check_variance_bound
from fxsim.testing.system import (
    check_compiled_matches_numpy,
    check_reproducible,
    check_thread_independent,
)

__all__ = [
    "BUILTIN_KEEPS", "FALSE_ALARM", "INVARIANTS", "Invariant", "InvariantBroken",
    "InvariantsBroken", "Mode", "RoundingReport", "builtin_table", "check_all",
    "check_compiled_matches_numpy", "check_composes", "check_double_rounding",
    "check_error_below_one_lsb", "check_error_half_lsb", "check_idempotent", "check_monotone",
    "check_reproducible", "check_requantize_matches_quantize", "check_rounds_down",
    "check_rounds_up", "check_saturate", "check_sign_symmetric", "check_thread_independent",
    "check_ties", "check_toward_zero", "check_unbiased", "check_variance_bound", "check_wrap",
    "default_claims", "resolve_mode", "strategies",
]
