"""Range and clipping rules: per tensor and per training step, the scale of a quantizer.

They are pure float statistics: "floats may compute the statistics that choose a step; they
never touch the codes" (DESIGN.md). A rule's :meth:`~RangeRule.choose` turns a tensor's real
values into a :class:`Scale` (a power-of-two fraction length or a real interval, plus the code
range); adaptive rules update their state in :meth:`~RangeRule.observe` after the step.

=======================  ==================  =====================================================
rule                     default ``scale``   clip ``c`` (see each class for the paper and details)
=======================  ==================  =====================================================
``fixed``                pow2 (only)         the given ``frac``
``minmax``               pow2                ``max|x|``
``percentile``           pow2                ``np.percentile(|x|, 99.9)`` (linear interpolation)
``mse``                  pow2                minimises ``sum((x - Q(x))**2)`` over candidates
``zscore``               real                ``min(max|x|, |mean| + 3 std)`` (ARC, reconstructed)
``large_grad_interval``  real                ``gamma * max|g|``, ``gamma`` adapted (INT4, LBT)
``cqat``                 real                ``max|x|``, 8-bit step, codes clamped to ``bits``
``dorefa``               real                ``max|g|``, ``step = 2c / (2**b - 1)``
=======================  ==================  =====================================================

``scale="pow2"``: ``frac = (bits - 1 if signed else bits) - ceil(log2(c))``: ``c`` exceeds the
range top by at most one LSB, exactly one at a power of two
(:func:`~fxsim.ranges.scale.pow2_frac`). ``scale="real"``: ``step = c / code_max`` unless the
rule's paper says otherwise. Signed codes are symmetric, ``[-(2**(b-1) - 1), 2**(b-1) - 1]``.

Use :func:`make_rule` to build one by name, :data:`RANGE_RULES` for the names and
:func:`rule_parameters` / :func:`rule_parameter_help` for each rule's parameters.
"""

# Importing the rule modules registers their rules, in this order (the order of RANGE_RULES).
from fxsim.ranges import rules  # noqa: F401

# isort: split
from fxsim.ranges import mse  # noqa: F401

# isort: split
from fxsim.ranges import adaptive  # noqa: F401

# isort: split
from fxsim.ranges.base import (
    RangeRule,
    make_rule,
    registered_rules,
    rule_parameter_help,
    rule_parameters,
)
from fxsim.ranges.params import REQUIRED
from fxsim.ranges.scale import SCALE_KINDS, Scale

RANGE_RULES: tuple[str, ...] = registered_rules()
"""The names of every range rule, in registration order (a rule module registers its rules with
:func:`~fxsim.ranges.base.register` when it is imported, above)."""

__all__ = [
    "RANGE_RULES",
    "REQUIRED",
    "SCALE_KINDS",
    "RangeRule",
    "Scale",
    "make_rule",
    "rule_parameter_help",
    "rule_parameters",
]
