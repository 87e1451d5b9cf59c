"""The cost model's view of a quantization policy: a validated :class:`fxsim.policy.Policy` plus
the share of samples each class group runs.

Policies are read by ``fxsim.policy`` (schema: ``docs/policy-schema.md``), so every policy the
simulator accepts prices with exactly the settings it trains with: shipped names (``int8``,
``int4_interval``, ... ``fxsim policies``), TOML paths, dicts, objects with ``to_dict()``;
``[defaults]``, ``[kinds.KIND]``, ``[layers.first]``/``[layers.last]``, ``[layers.NAME]`` and
``[groups.G]`` merged as the simulator merges them (:meth:`fxsim.policy.Policy.spec`).

A group's ``share`` is the fraction of a batch's samples that run with its formats (a policy
key the simulator ignores: there, a sample's class decides); the samples of no group run with
the default group's formats. ``shares=`` (for example a measured one,
:func:`costmodel.run.shares_from_run`) overrides the policy's keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fxsim.policy import DEFAULT_GROUP, Policy, RoleSpec, check_share
from fxsim.policy.schema import cost_spec

SHARE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Place:
    """A layer as a policy addresses it: ``name`` (``[layers.NAME]``), ``kind``
    (``[kinds.KIND]``, one of :data:`fxsim.policy.LAYER_KINDS`; None: no kind table applies)
    and ``aliases`` (``"first"``/``"last"`` for the first and last MAC layer)."""

    name: str
    kind: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CostPolicy:
    """A policy and the share of samples of each of its class groups (every group has one)."""

    policy: Policy
    shares: Mapping[str, float]

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def quantize(self) -> bool:
        """False for the ``fp`` baseline (``quantize = false``), priced as float32 training."""
        return self.policy.quantize

    def group_shares(self) -> dict[str, float]:
        """Fraction of samples per group: the default group (``"default"``) first, with what
        the groups leave; groups of share 0 are kept (their rows are dropped by the
        workload)."""
        out = {g: self.shares[g] for g in self.policy.groups}
        rest = 1.0 - sum(out.values())
        if rest < -SHARE_TOLERANCE:
            raise ValueError(f"policy {self.name!r}: group shares sum to {1 - rest:g} > 1; "
                             "give shares that sum to at most 1")
        return {DEFAULT_GROUP: max(rest, 0.0), **out}

    def spec(self, place: Place, role: str, group: str = DEFAULT_GROUP) -> RoleSpec:
        """The simulator's resolved settings of ``role`` at ``place`` for samples of ``group``
        (:meth:`fxsim.policy.Policy.spec`)."""
        # a user-registered rounding rule is priced as the built-in unit it names (cost_as)
        return cost_spec(self.policy.spec(place.name, role, group, place.kind, place.aliases))


def load_policy(policy: Any) -> Policy:
    """A :class:`fxsim.policy.Policy` from a Policy, a shipped policy name, a TOML path, a dict
    or an object with ``to_dict()`` (such as a Policy of another import)."""
    if isinstance(policy, (Policy, dict, str, os.PathLike)):
        return Policy.load(policy)
    if callable(getattr(policy, "to_dict", None)):
        return Policy.load(policy.to_dict())
    raise TypeError(f"policy must be a shipped policy name, a TOML path, a dict, an "
                    f"fxsim.policy.Policy or have to_dict(); got {type(policy).__name__}")


def read_policy(policy: Any, shares: Mapping[str, float] | None = None) -> CostPolicy:
    """A :class:`CostPolicy` from anything :func:`load_policy` takes, or a CostPolicy.

    ``shares`` (group -> fraction of samples) overrides the groups' ``share`` keys. Every group
    needs a share from one or the other; shares must be numbers in [0, 1] summing to at most 1.
    """
    if isinstance(policy, CostPolicy):
        base, given = policy.policy, dict(policy.shares)
    else:
        base = load_policy(policy)
        given = {g: t["share"] for g, t in base.groups.items() if "share" in t}
    name = base.name
    if shares is not None:
        if not isinstance(shares, Mapping):
            raise TypeError(f"shares must be a mapping of group name to share, got "
                            f"{type(shares).__name__}")
        unknown = sorted(set(shares) - set(base.groups))
        if unknown:
            raise ValueError(f"policy {name!r}: shares given for unknown group(s) "
                             f"{', '.join(unknown)}; its groups: "
                             f"{', '.join(base.groups) or 'none'}")
        given.update(shares)
    for group in base.groups:
        if group not in given:
            raise ValueError(
                f"policy {name!r}: group {group!r} has no share (the fraction of samples it "
                f"runs): add share = ... to [groups.{group}] or pass shares={{{group!r}: ...}}"
                " (a measured one: costmodel.shares_from_run(RUN_DIR) or fxsim cost --run)")
        given[group] = check_share(f"policy {name!r}: share of group {group!r}", given[group])
    result = CostPolicy(base, {g: given[g] for g in base.groups})
    result.group_shares()  # refuse shares summing above 1 now
    return result


def real_scale(spec: RoleSpec) -> bool:
    """Whether a quantizer role moves codes with a real step (``scale = "real"``, given or the
    rule's default), that is with a fixed-point multiplier rather than a shift."""
    if spec.is_float or spec.role in ("master", "accumulator"):
        return False
    return spec.make_rule().params.get("scale") == "real"
