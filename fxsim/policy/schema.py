"""The policy schema: roles, layer kinds, keys, and the reading of one role table into a
:class:`RoleSpec` (every key and value checked, errors naming where they are). :class:`Policy`
(:mod:`fxsim.policy`) merges the tables and resolves them per layer, role and class group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fxsim.numeric.formats import check_int
from fxsim.numeric.lfsr import RandomSource
from fxsim.numeric.rounding import (
    canonical_rounding,
    check_overflow,
    random_bits_for,
)
from fxsim.numeric.user_rounding import registered_rounding
from fxsim.ranges import RANGE_RULES, make_rule, rule_parameters

ROLES = ("weights", "activations", "act_grads", "weight_grads", "master", "accumulator")
QUANTIZER_ROLES = ("weights", "activations", "act_grads", "weight_grads")
DEFAULT_GROUP = "default"
TOP_KEYS = ("name", "description", "quantize", "rounding_modules", "defaults", "kinds",
            "layers", "groups", "class_difficulty")
OP_KINDS: dict[str, str | None] = {
    "input": "input", "conv2d": "conv2d", "linear": "linear", "batchnorm": "batchnorm",
    "residual": "add", "avgpool": "avgpool", "global_avgpool": "avgpool", "maxpool": None,
    "relu": None, "flatten": None, "shortcut_a": None, "sequential": None,
}
"""Every layer op of :mod:`fxsim.layers` (a layer class's ``op``) -> the policy kind of its
``activations`` quantizer (``[kinds.KIND]``), None for layers that quantize nothing."""
LAYER_KINDS: tuple[str, ...] = tuple(dict.fromkeys(k for k in OP_KINDS.values() if k))
MAC_KINDS = ("conv2d", "linear")  # kinds of the layers with weights and accumulators
GROUP_ROLES = ("activations", "act_grads")  # the roles a class group may change
LAYER_ALIASES = ("first", "last")  # [layers.first] / [layers.last]: the first and last MAC layer
RANDOM_KEYS = ("random", "lfsr_width", "lfsr_lanes")  # where stochastic rounding's bits come from
QUANTIZER_KEYS = ("bits", "frac", "signed", "rounding", "random_bits", *RANDOM_KEYS, "overflow",
                  "range")
MASTER_KEYS = ("float", "bits", "frac", "rounding", "random_bits", *RANDOM_KEYS, "const_frac")
ACCUMULATOR_KEYS = ("bits", "overflow")
CLASS_DIFFICULTY_KEYS = {"easy_group": None, "threshold": 0.9, "window": 100}
DEFAULT_CONST_FRAC = 24


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
class NetPlace:
    """A layer of a net as a policy addresses it: ``name`` (``[layers.NAME]``), ``kind`` (the
    policy kind of its activations quantizer, :data:`LAYER_KINDS`; None for a layer that
    quantizes nothing) and ``relu_output`` (its output is that of a fused ReLU: an
    activations role without ``signed`` is then unsigned)."""

    name: str
    kind: str | None = None
    relu_output: bool = False


def check_word(where: str, spec: RoleSpec, relu_output: bool = False) -> None:
    """Refuse a quantizer role whose codes cannot use its word length: signed codes with
    fewer than 2 bits, or what the range rule itself refuses (CQAT: ``bits <= base_bits``).
    ``relu_output``: the place's output is a fused ReLU's (activations then default to
    unsigned)."""
    signed = spec.signed if spec.signed is not None else not relu_output
    if signed and spec.bits is not None and spec.bits < 2:
        raise ValueError(
            f"{where}: signed codes need bits >= 2 (a 1-bit signed code holds only -1 and 0, "
            f"and a symmetric range no nonzero code); got bits = {spec.bits}: set "
            "signed = false or use more bits")
    try:
        spec.make_rule().check_bits(spec.bits, signed)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


@dataclass(frozen=True)
class RoleSpec:
    """The resolved settings of one tensor role of one layer (and class group). Frozen.

    What :meth:`fxsim.policy.Policy.spec` returns: every key checked, defaults filled in.
    ``is_float`` with ``quantize = false`` means: no quantization at all (float64; ``signed``
    None, the other fields their defaults).

    Parameters
    ----------
    role : str
        One of :data:`ROLES`.
    bits : int or None, default None
        Word length. Quantizer roles (``weights``, ``activations``, ``act_grads``,
        ``weight_grads``): 1..62, required. ``master``: 2..40, None for a float master.
        ``accumulator``: 2..62, or None: wide, never overflows.
    frac : int or None, default None
        Quantizer roles: a fixed fraction length (then the default range is ``fixed``), or
        None: the range rule picks the scale. ``master``: the fixed master's fraction length.
    signed : bool or None, default True
        Quantizer roles: True, False, or None (activations only, their default: unsigned
        where the producing layer ends in a fused ReLU, signed elsewhere).
    rounding : str, default "nearest_even"
        The canonical rounding mode (aliases resolved), as in :func:`fxsim.quantize`; for
        ``master``, the rounding of the update.
    random_bits : int or None, default None
        ``k`` for ``stochastic_k`` (1..32), else None.
    random_source : RandomSource or None, default None
        Where stochastic rounding draws its random bits: the LFSRs the RTL builds (policy keys
        ``random = "lfsr"``, ``lfsr_width``, ``lfsr_lanes``), or None: fxsim's counter-based
        generator.
    overflow : {"saturate", "wrap"}, default "saturate"
        As in :func:`fxsim.quantize`; for ``accumulator``, the register's
        (:class:`~fxsim.ops.Accumulator`).
    range : str, default "fixed"
        A rule of :data:`fxsim.ranges.RANGE_RULES`; quantizer roles default to ``minmax``, or
        ``fixed`` when ``frac`` is given.
    params : tuple of (str, object), default ()
        The range rule's parameters, sorted by name (``frac`` for ``fixed``).
    is_float : bool, default False
        ``master``: float32 master weights (``{ float = true }``, or no master table).
    const_frac : int, default 24
        ``master``: fraction bits (1..30) of the optimizer's constants; ``bits + const_frac
        <= 60``.
    """

    role: str
    bits: int | None = None
    frac: int | None = None
    signed: bool | None = True
    rounding: str = "nearest_even"
    random_bits: int | None = None
    random_source: RandomSource | None = None
    overflow: str = "saturate"
    range: str = "fixed"
    params: tuple[tuple[str, Any], ...] = ()
    is_float: bool = False
    const_frac: int = DEFAULT_CONST_FRAC

    def rounding_options(self) -> dict[str, Any]:
        """The rounding keyword arguments of :func:`fxsim.quantize` for this role.

        The same keywords serve :func:`fxsim.requantize`.

        Returns
        -------
        dict
            ``{"rounding": ..., "random_bits": ..., "random_source": ...}``.
        """
        return {"rounding": self.rounding, "random_bits": self.random_bits,
                "random_source": self.random_source}

    def make_rule(self):
        """A fresh range rule object of this spec (each tensor needs its own: rules keep
        state)."""
        return make_rule(self.range, **dict(self.params))


def check_keys(where: str, table: dict, allowed: tuple[str, ...] | list[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")


def as_table(where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table, got {value!r}")
    return value


def role_tables(where: str, value: Any, extra: tuple[str, ...] = ()) -> dict[str, dict]:
    """Validate the shape of a table of roles (``weights = {...}``, ...); values are checked
    when resolved."""
    table = as_table(where, value)
    check_keys(where, table, [*ROLES, *extra])
    out = {}
    for role, spec in table.items():
        spec = dict(as_table(f"{where} {role}", spec))
        allowed = {"master": MASTER_KEYS, "accumulator": ACCUMULATOR_KEYS}.get(role)
        if allowed is not None:
            check_keys(f"{where} {role}", spec, allowed)
        out[role] = spec
    return out


def check_share(where: str, value: Any) -> float:
    """``value`` as a float if it is a number in [0, 1] (a class group's share of samples, a
    threshold); else a ValueError ``"<where> must be a number in [0, 1], got <value>"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)


def class_difficulty_table(where: str, value: Any, groups: dict) -> dict[str, Any]:
    table = dict(as_table(where, value))
    check_keys(where, table, tuple(CLASS_DIFFICULTY_KEYS))
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


def resolve_role(where: str, role: str, spec: dict[str, Any]) -> RoleSpec:
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
    rounding, random_bits, source = _rounding(where, spec)
    try:
        overflow = check_overflow(spec.get("overflow", "saturate"))
        make_rule(rule, **params)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    return RoleSpec(role, bits=bits, frac=frac, signed=signed, rounding=rounding,
                    random_bits=random_bits, random_source=source, overflow=overflow,
                    range=rule, params=tuple(sorted(params.items())))


def _rounding(where: str, spec: dict[str, Any]) -> tuple[str, int | None, RandomSource | None]:
    """The canonical ``rounding`` of ``spec`` (default ``nearest_even``), its ``random_bits``
    (checked; kept for ``stochastic_k`` only, else None) and its random source (None: the
    counter generator)."""
    try:
        rounding = canonical_rounding(spec.get("rounding", "nearest_even"))
        random_bits = random_bits_for(rounding, spec.get("random_bits"))
        source = _random_source(spec, rounding, random_bits)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    return rounding, random_bits if rounding == "stochastic_k" else None, source


def _random_source(spec: dict[str, Any], rounding: str, random_bits: int) -> RandomSource | None:
    """``random = "lfsr"`` (with ``lfsr_width``, default 32, and ``lfsr_lanes``, default 1) or
    ``"counter"`` (the default)."""
    kind = spec.get("random", "counter")
    if kind not in ("counter", "lfsr"):
        raise ValueError(f"random must be 'counter' or 'lfsr', got {kind!r}")
    given = [k for k in ("lfsr_width", "lfsr_lanes") if k in spec]
    if kind == "counter":
        if given:
            raise ValueError(f"{given[0]} applies only with random = 'lfsr'")
        return None
    if not random_bits:
        raise ValueError(f"random = 'lfsr' needs stochastic rounding, got rounding = {rounding!r}")
    for key in given:
        check_int(key, spec[key], 1)
    source = RandomSource("lfsr", spec.get("lfsr_width", 32), spec.get("lfsr_lanes", 1))
    source.check_bits(random_bits)  # 62 for stochastic; a registered rule's own bits
    return source


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
    rounding, random_bits, source = _rounding(where, spec)
    return RoleSpec("master", bits=bits, frac=frac, rounding=rounding, random_bits=random_bits,
                    random_source=source, const_frac=const_frac)


def cost_spec(spec: RoleSpec) -> RoleSpec:
    """``spec`` as the cost model prices it: a registered rounding rule
    (:func:`fxsim.register_rounding`) is replaced by the built-in mode whose unit it was
    registered to cost as (``cost_as``; ``stochastic_k`` with the rule's random bits); a rule
    registered without one is refused with a ValueError asking for it."""
    rule = registered_rounding(spec.rounding)
    if rule is None:
        return spec
    if rule.cost_as is None:
        raise ValueError(
            f"rounding rule {rule.name!r} has no hardware cost: register it with cost_as=MODE, "
            "the built-in mode whose rounding unit prices it (a deterministic mode such as "
            "'nearest_even', or 'stochastic_k' for a rule with random bits)")
    bits = rule.random_bits if rule.cost_as == "stochastic_k" else None
    return replace(spec, rounding=rule.cost_as, random_bits=bits)
