"""The path syntax of a sweep's axes: which run setting or which policy field a value sets.

A path is either a run setting (``epochs``, ``lr``, ``net``, ... :data:`TRAIN_KEYS`) or a
policy field, written as the policy TOML nests it (``docs/policy-schema.md``)::

    defaults.ROLE[.KEY]            defaults.act_grads.bits, defaults.master
    kinds.KIND.ROLE[.KEY]          kinds.conv2d.activations.bits
    layers.NAME.ROLE[.KEY]         layers.first.weights.bits, layers.fc.act_grads.rounding
    groups.GROUP.ROLE[.KEY]        groups.easy.act_grads.bits

A path ending at a role replaces that role's whole table (the value is a table); a path ending
at a key sets that key in the table (made if absent), leaving the table's other keys as the base
policy has them. The value ``"unset"`` removes the key (for ``accumulator.bits``: a wide
accumulator that never overflows). Setting a path sets exactly that table: a base policy's
``[layers.last]`` override still applies over ``defaults``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fxsim.policy.schema import (
    ACCUMULATOR_KEYS,
    LAYER_KINDS,
    MASTER_KEYS,
    QUANTIZER_KEYS,
    QUANTIZER_ROLES,
    ROLES,
)
from fxsim.ranges import RANGE_RULES, rule_parameters

UNSET = "unset"  # the value that removes a key
# run settings an axis may vary (TrainConfig fields; the seed is the grid's `seeds`)
TRAIN_KEYS = ("net", "data", "data_dir", "policy", "epochs", "batch", "lr", "momentum",
              "weight_decay", "schedule", "milestones", "warmup_epochs", "limit", "augment",
              "eval_batch")
POLICY_TABLES = ("defaults", "kinds", "layers", "groups")


def quantizer_keys() -> tuple[str, ...]:
    """Keys a quantizer role's table may hold: the common ones and every range rule's own."""
    keys = list(QUANTIZER_KEYS)
    for rule in RANGE_RULES:
        keys += [k for k in rule_parameters(rule) if k not in keys]
    return tuple(keys)


def role_keys(role: str) -> tuple[str, ...]:
    if role == "master":
        return MASTER_KEYS
    if role == "accumulator":
        return ACCUMULATOR_KEYS
    return quantizer_keys()


@dataclass(frozen=True)
class PolicyPath:
    """A parsed policy path: ``table`` the policy tables down to the role's parent (e.g.
    ``("defaults",)``, ``("kinds", "conv2d")``), ``role`` and ``key`` (None: the whole role)."""

    text: str
    table: tuple[str, ...]
    role: str
    key: str | None

    def apply(self, policy: dict[str, Any], value: Any) -> dict[str, Any]:
        """A deep copy of the policy dict ``policy`` with this path set to ``value``."""
        out = copy.deepcopy(policy)
        node = out
        for name in self.table:
            node = node.setdefault(name, {})
        if self.key is None:
            if value == UNSET:
                node.pop(self.role, None)
            else:
                node[self.role] = copy.deepcopy(value)
            return out
        role = node.setdefault(self.role, {})
        if value == UNSET:
            role.pop(self.key, None)
        else:
            role[self.key] = value
        return out

    def lookup(self, policy: dict[str, Any]) -> Any:
        """The value at this path in ``policy`` (:data:`UNSET` where absent)."""
        node: Any = policy
        for name in (*self.table, self.role) + ((self.key,) if self.key else ()):
            if not isinstance(node, dict) or name not in node:
                return UNSET
            node = node[name]
        return node


def parse_path(text: str, where: str) -> str | PolicyPath:
    """A run setting's name (returned as is) or a :class:`PolicyPath`; ValueError naming
    ``where``, the path and what is allowed otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{where}: a path must be a non-empty string, got {text!r}")
    if text in TRAIN_KEYS:
        return text
    parts = text.split(".")
    if parts[0] not in POLICY_TABLES:
        raise ValueError(
            f"{where}: unknown path {text!r}: it must be a run setting "
            f"({', '.join(TRAIN_KEYS)}) or a policy field starting with "
            f"{', '.join(POLICY_TABLES)} (e.g. defaults.act_grads.bits)")
    depth = 1 if parts[0] == "defaults" else 2
    table, rest = tuple(parts[:depth]), parts[depth:]
    if len(table) < depth or not table[-1]:
        raise ValueError(f"{where}: path {text!r}: [{parts[0]}] needs a name after "
                         f"{parts[0]}. (e.g. {parts[0]}.NAME.ROLE.KEY)")
    if parts[0] == "kinds" and table[1] not in LAYER_KINDS:
        raise ValueError(f"{where}: path {text!r}: unknown layer kind {table[1]!r}; allowed: "
                         f"{', '.join(LAYER_KINDS)}")
    if not rest or rest[0] not in ROLES or len(rest) > 2:
        got = rest[0] if rest else "nothing"
        raise ValueError(f"{where}: path {text!r}: expected a role then optionally a key "
                         f"after {'.'.join(table)}, got {got!r}; roles: {', '.join(ROLES)}")
    role = rest[0]
    if parts[0] == "groups" and role not in ("activations", "act_grads"):
        raise ValueError(f"{where}: path {text!r}: a class group may set activations and "
                         f"act_grads only, got {role!r}")
    key = rest[1] if len(rest) == 2 else None
    if key is not None and key not in role_keys(role):
        raise ValueError(f"{where}: path {text!r}: unknown key {key!r} of role {role!r}; "
                         f"allowed: {', '.join(role_keys(role))}")
    return PolicyPath(text, table, role, key)


def is_quantizer_role(path: str | PolicyPath) -> bool:
    return isinstance(path, PolicyPath) and path.role in QUANTIZER_ROLES


def flatten(table: dict[str, Any], stop_at_role: bool) -> dict[str, Any]:
    """A TOML table whose dotted keys nested it (``defaults.act_grads.bits = [...]`` inside
    ``[axes]`` is ``{"defaults": {"act_grads": {"bits": [...]}}}``) as ``{path: value}``.
    Descends through tables until a value that is not a table, or, with ``stop_at_role``, a
    role's table (``defaults.master = { bits = 16, frac = 12 }``) or a key that is not a policy
    table; quoted dotted keys (``"defaults.act_grads.bits"``) are paths already."""
    out: dict[str, Any] = {}

    def walk(prefix: list[str], node: Any) -> None:
        parts = ".".join(prefix).split(".") if prefix else []
        at_role = bool(parts) and parts[0] in POLICY_TABLES and parts[-1] in ROLES and (
            len(parts) == (2 if parts[0] == "defaults" else 3))
        stop = (not isinstance(node, dict) or (stop_at_role and at_role)
                or (parts and parts[0] not in POLICY_TABLES))
        if stop and prefix:
            out[".".join(prefix)] = node
            return
        for key, value in node.items():
            walk([*prefix, key], value)

    walk([], table)
    return out
