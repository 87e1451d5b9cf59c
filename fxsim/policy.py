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

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


from fxsim.formats import check_int
from fxsim.ranges import RANGE_RULES, make_rule, rule_parameters
from fxsim.rounding import canonical_rounding, check_overflow, random_bits_for

ROLES = ("weights", "activations", "act_grads", "weight_grads", "master", "accumulator")
QUANTIZER_ROLES = ("weights", "activations", "act_grads", "weight_grads")
DEFAULT_GROUP = "default"
TOP_KEYS = ("name", "description", "quantize", "defaults", "kinds", "layers", "groups",
            "class_difficulty")
LAYER_KINDS = ("input", "conv2d", "linear", "batchnorm", "add", "avgpool")
LAYER_ALIASES = ("first", "last")  # [layers.first] / [layers.last]: the first and last MAC layer
QUANTIZER_KEYS = ("bits", "frac", "signed", "rounding", "random_bits", "overflow", "range")
MASTER_KEYS = ("float", "bits", "frac", "rounding", "random_bits", "const_frac")
ACCUMULATOR_KEYS = ("bits", "overflow")
CLASS_DIFFICULTY_KEYS = {"easy_group": None, "threshold": 0.9, "window": 100}
DEFAULT_CONST_FRAC = 24
SHIPPED = "fxsim.policies"


def mac_aliases(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The :data:`LAYER_ALIASES` of a net's MAC layers ``names`` (in forward order), by layer
    name: ``("first",)`` for the first, ``("last",)`` for the last, ``("first", "last")`` for
    the only one; layers not in the dict have none."""
    aliases: dict[str, tuple[str, ...]] = {}
    if names:
        aliases[names[0]] = ("first",)
        aliases[names[-1]] = (*aliases.get(names[-1], ()), "last")
    return aliases


@dataclass(frozen=True)
class RoleSpec:
    """The resolved settings of one tensor role of one layer (and class group).

    Quantizer roles (``weights``, ``activations``, ``act_grads``, ``weight_grads``): ``bits``
    word length; ``signed`` True, False, or None (activations only: unsigned where the producing
    layer ends in a fused ReLU, signed elsewhere); ``rounding``/``random_bits``/``overflow`` as in
    :func:`fxsim.quantize`; ``range`` a rule of :mod:`fxsim.ranges` with ``params``.
    ``master``: ``is_float`` (float32 master weights) or a fixed format ``bits``/``frac`` with
    ``rounding`` for the update and ``const_frac`` fraction bits of the optimizer's constants.
    ``accumulator``: ``bits`` (None: wide, never overflows) and ``overflow``.
    ``is_float`` with ``quantize = false`` means: no quantization at all (float64).
    """

    role: str
    bits: int | None = None
    frac: int | None = None
    signed: bool | None = True
    rounding: str = "nearest_even"
    random_bits: int | None = None
    overflow: str = "saturate"
    range: str = "fixed"
    params: tuple[tuple[str, Any], ...] = ()
    is_float: bool = False
    const_frac: int = DEFAULT_CONST_FRAC

    def make_rule(self):
        """A fresh range rule object of this spec (each tensor needs its own: rules keep
        state)."""
        return make_rule(self.range, **dict(self.params))


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
        _check_keys(where, data, TOP_KEYS)
        quantize = data.get("quantize", True)
        if not isinstance(quantize, bool):
            raise ValueError(f"{where}: quantize must be true or false, got {quantize!r}")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise ValueError(f"{where}: description must be a string, got {description!r}")
        defaults = _role_tables(f"{where} [defaults]", data.get("defaults", {}))
        kinds = {}
        for kind, table in _table(f"{where} [kinds]", data.get("kinds", {})).items():
            if kind not in LAYER_KINDS:
                raise ValueError(f"{where}: unknown layer kind [kinds.{kind}]; allowed: "
                                 f"{', '.join(LAYER_KINDS)}")
            kinds[kind] = _role_tables(f"{where} [kinds.{kind}]", table)
        layers = {
            str(layer): _role_tables(f"{where} [layers.{layer}]", table)
            for layer, table in _table(f"{where} [layers]", data.get("layers", {})).items()
        }
        groups = {}
        for group, table in _table(f"{where} [groups]", data.get("groups", {})).items():
            if group == DEFAULT_GROUP:
                raise ValueError(f"{where}: group name {DEFAULT_GROUP!r} is reserved for the "
                                 "samples of no group; choose another name")
            table = dict(_table(f"{where} [groups.{group}]", table))
            share = table.pop("share", None)
            roles = _role_tables(f"{where} [groups.{group}]", table, extra=("share",))
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
            difficulty = _class_difficulty(f"{where} [class_difficulty]", difficulty, groups)
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
        return _resolve(f"policy {self.name!r}, layer {layer!r}, role {role!r}"
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
        return dump_toml(self.to_dict())


def _check_keys(where: str, table: dict, allowed: tuple[str, ...] | list[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")


def _table(where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table, got {value!r}")
    return value


def _role_tables(where: str, value: Any, extra: tuple[str, ...] = ()) -> dict[str, dict]:
    """Validate the shape of a table of roles (``weights = {...}``, ...); values are checked
    when resolved."""
    table = _table(where, value)
    _check_keys(where, table, [*ROLES, *extra])
    out = {}
    for role, spec in table.items():
        spec = dict(_table(f"{where} {role}", spec))
        allowed = {"master": MASTER_KEYS, "accumulator": ACCUMULATOR_KEYS}.get(role)
        if allowed is not None:
            _check_keys(f"{where} {role}", spec, allowed)
        out[role] = spec
    return out


def check_share(where: str, value: Any) -> float:
    """``value`` as a float if it is a number in [0, 1] (a class group's share of samples, a
    threshold); else a ValueError ``"<where> must be a number in [0, 1], got <value>"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)


def _class_difficulty(where: str, value: Any, groups: dict) -> dict[str, Any]:
    table = dict(_table(where, value))
    _check_keys(where, table, tuple(CLASS_DIFFICULTY_KEYS))
    out = {k: table.get(k, v) for k, v in CLASS_DIFFICULTY_KEYS.items()}
    if out["easy_group"] not in groups:
        raise ValueError(f"{where}: easy_group must name a [groups.G] table "
                         f"({', '.join(groups) or 'none defined'}); got {out['easy_group']!r}")
    out["threshold"] = check_share(f"{where}: threshold", out["threshold"])
    out["window"] = _checked(where, "window", out["window"], 1)
    return out


def _checked(where: str, name: str, value: Any, low: int | None = None,
             high: int | None = None) -> int:
    try:
        return check_int(name, value, low, high)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


def _resolve(where: str, role: str, spec: dict[str, Any]) -> RoleSpec:
    if role == "master":
        return _resolve_master(where, spec)
    if role == "accumulator":
        bits = spec.get("bits")
        bits = None if bits is None else _checked(where, "bits", bits, 2, 62)
        try:
            overflow = check_overflow(spec.get("overflow", "saturate"))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        return RoleSpec(role, bits=bits, overflow=overflow, range="fixed")
    if "bits" not in spec:
        raise ValueError(f"{where}: no bits (set them in [defaults] or [layers.NAME])")
    bits = _checked(where, "bits", spec["bits"], 1, 62)
    frac = spec.get("frac")
    frac = None if frac is None else _checked(where, "frac", frac)
    rule = spec.get("range", "fixed" if frac is not None else "minmax")
    if rule not in RANGE_RULES:
        raise ValueError(f"{where}: range must be one of {', '.join(RANGE_RULES)}; got {rule!r}")
    known = rule_parameters(rule)
    params = {}
    for key, value in spec.items():
        if key in QUANTIZER_KEYS and not (key == "frac" and rule == "fixed"):
            continue
        if key not in known:
            raise ValueError(
                f"{where}: unknown key {key!r} for range {rule!r}; allowed: "
                f"{', '.join([*QUANTIZER_KEYS, *(k for k in known if k not in QUANTIZER_KEYS)])}")
        params[key] = value
    signed = spec.get("signed", None if role == "activations" else True)
    if signed is not None and not isinstance(signed, bool):
        raise ValueError(f"{where}: signed must be true or false, got {signed!r}")
    rounding, random_bits = _rounding(where, spec)
    try:
        overflow = check_overflow(spec.get("overflow", "saturate"))
        make_rule(rule, **params)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    return RoleSpec(role, bits=bits, frac=frac, signed=signed, rounding=rounding,
                    random_bits=random_bits, overflow=overflow, range=rule,
                    params=tuple(sorted(params.items())))


def _rounding(where: str, spec: dict[str, Any]) -> tuple[str, int | None]:
    """The canonical ``rounding`` of ``spec`` (default ``nearest_even``) and its
    ``random_bits`` (checked; kept for ``stochastic_k`` only, else None)."""
    try:
        rounding = canonical_rounding(spec.get("rounding", "nearest_even"))
        random_bits = random_bits_for(rounding, spec.get("random_bits"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    return rounding, random_bits if rounding == "stochastic_k" else None


def _resolve_master(where: str, spec: dict[str, Any]) -> RoleSpec:
    if spec.get("float", False) is True or not spec:
        extra = sorted(set(spec) - {"float"})
        if extra:
            raise ValueError(f"{where}: float = true takes no other keys; got {', '.join(extra)}")
        return RoleSpec("master", is_float=True, signed=True)
    if spec.get("float", False) is not False:
        raise ValueError(f"{where}: float must be true or false, got {spec['float']!r}")
    for key in ("bits", "frac"):
        if key not in spec:
            raise ValueError(f"{where}: a fixed-point master needs {key} (or float = true)")
    bits = _checked(where, "bits", spec["bits"], 2, 40)
    frac = _checked(where, "frac", spec["frac"])
    const_frac = _checked(where, "const_frac", spec.get("const_frac", DEFAULT_CONST_FRAC), 1, 30)
    if bits + const_frac > 60:
        raise ValueError(f"{where}: bits + const_frac must be <= 60 (int64 update arithmetic); "
                         f"got {bits} + {const_frac}")
    rounding, random_bits = _rounding(where, spec)
    return RoleSpec("master", bits=bits, frac=frac, rounding=rounding, random_bits=random_bits,
                    const_frac=const_frac)


# ---- shipped policies --------------------------------------------------------------------------
def shipped_policies() -> tuple[str, ...]:
    """Names of the policies shipped in ``fxsim/policies`` (``fxsim policies`` lists them)."""
    folder = resources.files(SHIPPED)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def _shipped_text(name: str) -> str:
    return resources.files(SHIPPED).joinpath(f"{name}.toml").read_text()


# ---- TOML writing (the subset policies use) ----------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "-_" for c in key)
    return key if bare else _toml_value(key)


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text of ``data``: scalars first, then one ``[table]`` per nested table whose values
    are scalars or inline tables (enough for policies and run configurations)."""
    lines: list[str] = []
    tables: list[tuple[str, dict]] = []

    def emit(prefix: str, table: dict) -> None:
        scalars = [(k, v) for k, v in table.items() if not _is_section(v)]
        if prefix:
            lines.append("")
            lines.append(f"[{prefix}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars)
        for k, v in table.items():
            if _is_section(v):
                tables.append((f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), v))

    emit("", data)
    while tables:
        prefix, table = tables.pop(0)
        emit(prefix, table)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_section(value: Any) -> bool:
    """A nested table written as a ``[section]``: one holding at least one table."""
    return (isinstance(value, dict) and any(isinstance(v, dict) for v in value.values())) or (
        isinstance(value, dict) and not value)
