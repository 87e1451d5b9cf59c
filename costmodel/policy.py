"""A tolerant reader of quantization policies (docs/policy-schema.md) for the cost model.

It extracts, per layer, role and class group, what the cost depends on: bits, rounding, overflow,
range rule, random bits. It does not validate a policy (``fxsim.policy`` does): keys it does not
need are ignored. Merging is key by key: ``[defaults]``, then ``[layers.NAME]``, then
``[groups.G]``. A group's ``share`` is the fraction of samples running with its formats; the
samples of no group run with the defaults and layer overrides. ``quantize = false`` is the
float32 baseline. Defaults for keys a role omits: rounding ``nearest_even``, overflow
``saturate``, range ``fixed``; an accumulator without ``bits`` is wide (never overflows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


from costmodel.units import RANGE_RULES
from fxsim.formats import check_int
from fxsim.rounding import canonical_rounding, check_overflow, random_bits_for

ROLES = ("weights", "activations", "act_grads", "weight_grads", "master", "accumulator")
DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class RoleSpec:
    """What the cost of one tensor role depends on. ``bits`` is None for a wide accumulator or a
    float role (``is_float``)."""

    bits: int | None
    rounding: str = "nearest_even"
    overflow: str = "saturate"
    range: str = "fixed"
    random_bits: int | None = None
    is_float: bool = False


@dataclass
class CostPolicy:
    """A policy as the cost model reads it."""

    name: str
    quantize: bool = True
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)

    def group_shares(self) -> dict[str, float]:
        """Fraction of samples per group, the defaults' group ``"default"`` taking the rest."""
        out = {g: self.shares[g] for g in self.groups}
        rest = 1.0 - sum(out.values())
        if rest < -1e-12:
            raise ValueError(f"policy {self.name!r}: group shares sum to {1 - rest:g} > 1")
        if rest > 1e-12 or not out:
            out = {DEFAULT_GROUP: max(rest, 0.0), **out}
        return out

    def role(self, layer: str, role: str, group: str = DEFAULT_GROUP) -> RoleSpec:
        """The merged spec of ``role`` for ``layer`` in ``group``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if not self.quantize:
            return RoleSpec(bits=32, rounding="nearest_even", range="fixed", is_float=True)
        spec: dict[str, Any] = {}
        spec.update(self.defaults.get(role, {}))
        spec.update(self.layers.get(layer, {}).get(role, {}))
        if group != DEFAULT_GROUP:
            spec.update(self.groups[group].get(role, {}))
        where = f"policy {self.name!r}, layer {layer!r}, role {role!r}"
        if spec.get("float"):
            return RoleSpec(bits=32, is_float=True)
        bits = spec.get("bits")
        if bits is None and role != "accumulator":
            raise ValueError(f"{where}: no bits (set them in [defaults] or [layers.{layer}])")
        try:
            bits = None if bits is None else check_int("bits", bits, 1, 62)
            rounding = canonical_rounding(spec.get("rounding", "nearest_even"))
            random_bits = random_bits_for(rounding, spec.get("random_bits"))
            overflow = check_overflow(spec.get("overflow", "saturate"))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        rule = spec.get("range", "fixed")
        if rule not in RANGE_RULES:
            raise ValueError(f"{where}: range must be one of {', '.join(RANGE_RULES)}; "
                             f"got {rule!r}")
        return RoleSpec(bits, rounding, overflow, rule, random_bits or None)


def _tables(where: str, value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table, got {type(value).__name__}")
    out = {}
    for role, spec in value.items():
        if role in ROLES:
            if not isinstance(spec, dict):
                raise ValueError(f"{where}.{role} must be a table, got {spec!r}")
            out[role] = dict(spec)
    return out


def read_policy(policy: Any, shares: dict[str, float] | None = None) -> CostPolicy:
    """A :class:`CostPolicy` from a dict, a TOML path, an object with ``to_dict()`` or a
    CostPolicy. ``shares`` (group -> fraction of samples) overrides the groups' ``share`` keys."""
    if isinstance(policy, CostPolicy):
        result = policy
    else:
        if isinstance(policy, (str, os.PathLike)):
            path = Path(policy)
            if not path.is_file():
                raise FileNotFoundError(f"policy file {path} does not exist")
            with path.open("rb") as handle:
                try:
                    data = tomllib.load(handle)
                except tomllib.TOMLDecodeError as error:
                    raise ValueError(f"policy file {path}: {error}") from None
            data.setdefault("name", path.stem)
        elif hasattr(policy, "to_dict"):
            data = policy.to_dict()
        elif isinstance(policy, dict):
            data = policy
        else:
            raise TypeError(f"policy must be a dict, a TOML path or have to_dict(); got "
                            f"{type(policy).__name__}")
        name = str(data.get("name", "policy"))
        layers = data.get("layers") or {}
        groups = data.get("groups") or {}
        if not isinstance(layers, dict) or not isinstance(groups, dict):
            raise ValueError(f"policy {name!r}: [layers] and [groups] must be tables")
        group_shares = {}
        for g, table in groups.items():
            if isinstance(table, dict) and "share" in table:
                group_shares[g] = table["share"]
        result = CostPolicy(
            name=name,
            quantize=bool(data.get("quantize", True)),
            defaults=_tables(f"policy {name!r} [defaults]", data.get("defaults")),
            layers={k: _tables(f"policy {name!r} [layers.{k}]", v) for k, v in layers.items()},
            groups={k: _tables(f"policy {name!r} [groups.{k}]", v) for k, v in groups.items()},
            shares=group_shares,
        )
    if shares is not None:
        result = replace(result, shares={**result.shares, **shares})
    for g in result.groups:
        share = result.shares.get(g)
        if share is None:
            raise ValueError(
                f"policy {result.name!r}: group {g!r} has no share (the fraction of samples "
                f"it runs): add share = ... to [groups.{g}] or pass shares={{{g!r}: ...}}"
            )
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ValueError(f"policy {result.name!r}: share of group {g!r} must be a number "
                             f"in [0, 1], got {share!r}")
    unknown = set(result.shares) - set(result.groups)
    if unknown:
        raise ValueError(f"policy {result.name!r}: shares given for unknown group(s) "
                         f"{', '.join(sorted(unknown))}; groups: {', '.join(result.groups)}")
    return result
