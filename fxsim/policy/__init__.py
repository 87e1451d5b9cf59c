"""Quantization policies: which format, rounding, overflow and range rule every tensor role of
every layer uses, read from TOML and validated (schema: ``docs/policy-schema.md``).

A policy resolves, for a layer, a role and a class group, to a :class:`RoleSpec`. Tables merge
key by key: ``[defaults]``, then ``[kinds.KIND]`` (every layer of a kind: ``input``,
``conv2d``, ``linear``, ``batchnorm``, ``add``, ``avgpool``), then ``[layers.first]`` /
``[layers.last]`` (the first and the last MAC layer of the net), then ``[layers.NAME]``, then
``[groups.G]`` (formats of the samples of class group ``G``). Every key and value is checked
when the policy is read; an unknown one is a ``ValueError`` naming where it is, what was given
and what is allowed. Layer names are checked against the net when a net is built with the
policy (:meth:`Policy.check_layers`).

``quantize = false`` is the ``fp`` baseline: every role is float64 and no quantizer runs; the
net goes through the same layers and kernels in float64.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


from fxsim.io import toml_text
from fxsim.policy.schema import (
    CLASS_DIFFICULTY_KEYS,
    DEFAULT_GROUP,
    LAYER_ALIASES,
    LAYER_KINDS,
    OP_KINDS,
    QUANTIZER_ROLES,
    ROLES,
    TOP_KEYS,
    RoleSpec,
    as_table,
    check_keys,
    check_share,
    class_difficulty_table,
    mac_aliases,
    resolve_role,
    role_tables,
)

SHIPPED = "fxsim.policies"

__all__ = ["DEFAULT_GROUP", "LAYER_ALIASES", "LAYER_KINDS", "OP_KINDS", "QUANTIZER_ROLES", "ROLES",
           "Policy", "RoleSpec", "check_share", "mac_aliases", "shipped_policies"]


@dataclass
class Policy:
    """A validated quantization policy. Build with :meth:`load`."""

    name: str
    description: str = ""
    quantize: bool = True
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    kinds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    layers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    class_difficulty: dict[str, Any] | None = None

    # ---- reading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, source: str | os.PathLike | dict | Policy) -> Policy:
        """A policy from a TOML path, the name of a shipped policy (``fxsim policies``), a dict
        of the TOML's structure, or a Policy (returned as is)."""
        if isinstance(source, Policy):
            return source
        if isinstance(source, dict):
            return cls.from_dict(source)
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError(f"policy must be a TOML path, a shipped policy name or a dict; got "
                            f"{type(source).__name__}")
        path = Path(source)
        if not path.is_file():
            if isinstance(source, str) and source in shipped_policies():
                return cls.from_toml(_shipped_text(source), source)
            raise FileNotFoundError(
                f"policy {str(source)!r} is neither a file nor a shipped policy; shipped: "
                f"{', '.join(shipped_policies())}")
        return cls.from_toml(path.read_text(), str(path), default_name=path.stem)

    @classmethod
    def from_toml(cls, text: str, where: str = "policy", default_name: str = "policy") -> Policy:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{where}: not valid TOML: {error}") from None
        data.setdefault("name", default_name)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        if not isinstance(data, dict):
            raise TypeError(f"policy must be a table, got {type(data).__name__}")
        name = data.get("name", "policy")
        if not isinstance(name, str) or not name:
            raise ValueError(f"policy name must be a non-empty string, got {name!r}")
        where = f"policy {name!r}"
        check_keys(where, data, TOP_KEYS)
        quantize = data.get("quantize", True)
        if not isinstance(quantize, bool):
            raise ValueError(f"{where}: quantize must be true or false, got {quantize!r}")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise ValueError(f"{where}: description must be a string, got {description!r}")
        defaults = role_tables(f"{where} [defaults]", data.get("defaults", {}))
        kinds = {}
        for kind, table in as_table(f"{where} [kinds]", data.get("kinds", {})).items():
            if kind not in LAYER_KINDS:
                raise ValueError(f"{where}: unknown layer kind [kinds.{kind}]; allowed: "
                                 f"{', '.join(LAYER_KINDS)}")
            kinds[kind] = role_tables(f"{where} [kinds.{kind}]", table)
        layers = {
            str(layer): role_tables(f"{where} [layers.{layer}]", table)
            for layer, table in as_table(f"{where} [layers]", data.get("layers", {})).items()
        }
        groups = {}
        for group, table in as_table(f"{where} [groups]", data.get("groups", {})).items():
            if group == DEFAULT_GROUP:
                raise ValueError(f"{where}: group name {DEFAULT_GROUP!r} is reserved for the "
                                 "samples of no group; choose another name")
            table = dict(as_table(f"{where} [groups.{group}]", table))
            share = table.pop("share", None)
            roles = role_tables(f"{where} [groups.{group}]", table, extra=("share",))
            for role in ("weights", "weight_grads", "master", "accumulator"):
                if role in roles:
                    raise ValueError(
                        f"{where} [groups.{group}]: role {role!r} cannot vary per class group "
                        "(weights and their gradients are shared by all samples); allowed: "
                        "activations, act_grads, share")
            if share is not None:
                roles["share"] = check_share(f"{where} [groups.{group}] share", share)
            groups[str(group)] = roles
        difficulty = data.get("class_difficulty")
        if difficulty is not None:
            difficulty = class_difficulty_table(f"{where} [class_difficulty]", difficulty, groups)
        elif groups:
            raise ValueError(
                f"{where}: [groups] need a [class_difficulty] table saying which samples run in "
                f"which group (keys: {', '.join(CLASS_DIFFICULTY_KEYS)})")
        policy = cls(name, description, quantize, defaults, kinds, layers, groups, difficulty)
        if quantize:
            policy._check_resolvable()
        return policy

    # ---- resolving -------------------------------------------------------------------------
    @property
    def group_names(self) -> tuple[str, ...]:
        """The class groups, the default group (samples of no group) first."""
        return (DEFAULT_GROUP, *self.groups)

    def spec(self, layer: str, role: str, group: str = DEFAULT_GROUP, kind: str | None = None,
             aliases: tuple[str, ...] = ()) -> RoleSpec:
        """The resolved :class:`RoleSpec` of ``role`` in ``layer`` (of layer kind ``kind``,
        also known by ``aliases`` such as ``"first"``) for samples of ``group``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if group != DEFAULT_GROUP and group not in self.groups:
            raise ValueError(f"group must be one of {', '.join(self.group_names)}; got {group!r}")
        if not self.quantize:
            return RoleSpec(role, is_float=True, signed=None)
        merged: dict[str, Any] = {}
        merged.update(self.defaults.get(role, {}))
        if kind is not None:
            merged.update(self.kinds.get(kind, {}).get(role, {}))
        for name in (*aliases, layer):
            merged.update(self.layers.get(name, {}).get(role, {}))
        if group != DEFAULT_GROUP:
            merged.update(self.groups[group].get(role, {}))
        return resolve_role(f"policy {self.name!r}, layer {layer!r}, role {role!r}"
                        + ("" if group == DEFAULT_GROUP else f", group {group!r}"), role, merged)

    def check_layers(self, layer_names: list[str]) -> None:
        """Refuse ``[layers.NAME]`` tables naming no layer of the net."""
        unknown = sorted(set(self.layers) - set(layer_names) - set(LAYER_ALIASES))
        if unknown:
            raise ValueError(
                f"policy {self.name!r}: [layers.{unknown[0]}] names no layer of this net; "
                f"layers: {', '.join(layer_names)}")

    def _check_resolvable(self) -> None:
        # each table on its own; the combinations a net uses are resolved when it is built
        places = [("", None), *(("", k) for k in self.kinds), *((n, None) for n in self.layers)]
        for layer, kind in places:
            for group in self.group_names:
                for role in ROLES:
                    self.spec(layer, role, group, kind)

    # ---- writing ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The policy as a TOML-shaped dict (what :meth:`from_dict` reads back)."""
        data: dict[str, Any] = {"name": self.name, "description": self.description,
                                "quantize": self.quantize}
        if self.defaults:
            data["defaults"] = self.defaults
        if self.kinds:
            data["kinds"] = self.kinds
        if self.layers:
            data["layers"] = self.layers
        if self.groups:
            data["groups"] = self.groups
        if self.class_difficulty is not None:
            data["class_difficulty"] = self.class_difficulty
        return data

    def to_toml(self) -> str:
        """TOML text that :meth:`from_toml` reads back to an equal policy."""
        return toml_text(self.to_dict())


# ---- shipped policies --------------------------------------------------------------------------
def shipped_policies() -> tuple[str, ...]:
    """Names of the policies shipped in ``fxsim/policies`` (``fxsim policies`` lists them)."""
    folder = resources.files(SHIPPED)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def _shipped_text(name: str) -> str:
    return resources.files(SHIPPED).joinpath(f"{name}.toml").read_text()
