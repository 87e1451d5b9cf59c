"""Quantization policies: which format, rounding, overflow and range rule every tensor role of
every layer uses, read from TOML and validated (schema: ``docs/policy-schema.md``).

A policy resolves, for a layer, a role and a class group, to a :class:`RoleSpec`. Tables merge
key by key: ``[defaults]``, then ``[kinds.KIND]`` (every layer of a kind: ``input``,
``conv2d``, ``linear``, ``batchnorm``, ``add``, ``avgpool``), then ``[layers.first]`` /
``[layers.last]`` (the first and the last MAC layer of the net), then ``[layers.NAME]``, then
``[groups.G]`` (formats of the samples of class group ``G``). Every key and value is checked
when the policy is read; an unknown one is a ``ValueError`` naming where it is, what was given
and what is allowed. A policy is checked against a net (its layer names, and every role's
word length at every layer) by :meth:`Policy.check_net`, before a net is built or priced.

``quantize = false`` is the ``fp`` baseline: every role is float64 and no quantizer runs; the
net goes through the same layers and kernels in float64.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


from fxsim.io import toml_text
from fxsim.numeric.user_rounding import MODULES_KEY, load_rounding_modules
from fxsim.policy.netcheck import check_net
from fxsim.policy.schema import (
    CLASS_DIFFICULTY_KEYS,
    DEFAULT_GROUP,
    LAYER_ALIASES,
    LAYER_KINDS,
    OP_KINDS,
    QUANTIZER_ROLES,
    ROLES,
    TOP_KEYS,
    NetPlace,
    RoleSpec,
    as_table,
    check_keys,
    check_share,
    class_difficulty_table,
    mac_aliases,
    resolve_role,
    role_tables,
)
from fxsim.policy.shipped import shipped_policies, shipped_text

__all__ = ["DEFAULT_GROUP", "LAYER_ALIASES", "LAYER_KINDS", "OP_KINDS", "QUANTIZER_ROLES", "ROLES",
           "NetPlace", "Policy", "RoleSpec", "check_share", "mac_aliases", "shipped_policies"]


@dataclass
class Policy:
    """A validated quantization policy. Build with :meth:`load`.

    The tables are kept as read (TOML-shaped, unresolved); :meth:`spec` merges and resolves
    them into a :class:`RoleSpec` for one layer, role and class group. Built directly, a Policy
    is not validated: :meth:`from_dict` (which :meth:`load` and :meth:`from_toml` call) is.

    Parameters
    ----------
    name : str
        The policy's name (non-empty), used in messages and run files.
    description : str, default ""
        One line for ``fxsim policies``.
    quantize : bool, default True
        False is the ``fp`` baseline: every role is float64 and no quantizer runs.
    defaults : dict, default {}
        ``[defaults]``: role -> table of keys (``weights = { bits = 8, ... }``, ...).
    kinds : dict, default {}
        ``[kinds.KIND]``: layer kind (:data:`LAYER_KINDS`) -> role -> table.
    layers : dict, default {}
        ``[layers.NAME]``: layer name, or ``first`` / ``last`` (the first and last MAC layer)
        -> role -> table.
    groups : dict, default {}
        ``[groups.G]``: class group -> role -> table (``activations`` and ``act_grads`` only),
        with the group's ``share`` of a batch (a float in [0, 1]) if given.
    class_difficulty : dict or None, default None
        ``[class_difficulty]``, required with groups: ``easy_group`` (a group's name),
        ``threshold`` (in [0, 1], default 0.9) and ``window`` (steps, >= 1, default 100).
    """

    name: str
    description: str = ""
    quantize: bool = True
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    kinds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    layers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    class_difficulty: dict[str, Any] | None = None
    rounding_modules: tuple[str, ...] = ()

    # ---- reading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, source: str | os.PathLike | dict | Policy) -> Policy:
        """A policy from a TOML path, the name of a shipped policy, a dict or a Policy.

        Parameters
        ----------
        source : str, os.PathLike, dict or Policy
            A TOML file's path (the name, if the file gives none, is its stem), else a shipped
            policy's name (:func:`shipped_policies`; a file wins over a shipped name); a dict
            of the TOML's structure (:meth:`from_dict`); or a Policy, returned as is.

        Returns
        -------
        Policy
            The policy read and validated by :meth:`from_dict` (``source`` itself if a Policy).

        Raises
        ------
        TypeError
            ``source`` is none of these types.
        FileNotFoundError
            ``source`` is neither a file nor a shipped policy (the message lists those).
        ValueError
            The policy is not valid TOML or not valid (see :meth:`from_dict`).
        """
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
                return cls.from_toml(shipped_text(source), source)
            raise FileNotFoundError(
                f"policy {str(source)!r} is neither a file nor a shipped policy; shipped: "
                f"{', '.join(shipped_policies())}")
        return cls.from_toml(path.read_text(), str(path), default_name=path.stem,
                             base=path.parent)

    @classmethod
    def from_toml(cls, text: str, where: str = "policy", default_name: str = "policy",
                  base: str | os.PathLike | None = None) -> Policy:
        """A policy from TOML text.

        Parameters
        ----------
        text : str
            The TOML (schema: ``docs/policy-schema.md``).
        where : str, default "policy"
            What the text is (a path, a name), for the message of a TOML syntax error.
        default_name : str, default "policy"
            The policy's name when the TOML has no ``name``.
        base : path or None, default None
            The folder of relative ``rounding_modules`` paths (None: the current directory).

        Returns
        -------
        Policy
            The validated policy (:meth:`from_dict`).

        Raises
        ------
        ValueError
            ``"<where>: not valid TOML: ..."``, or an invalid policy (see :meth:`from_dict`).
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{where}: not valid TOML: {error}") from None
        data.setdefault("name", default_name)
        return cls.from_dict(data, base)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: str | os.PathLike | None = None) -> Policy:
        """A policy from a dict of the TOML's structure, every key and value checked.

        Each table is checked on its own: ``[defaults]`` must resolve every role (so give
        ``bits`` to each quantizer role), and so must each ``[kinds.KIND]`` and ``[layers.NAME]``
        merged over it, for every group (not under ``quantize = false``). Layer names are
        checked against a net later (:meth:`check_layers`).

        Parameters
        ----------
        data : dict
            Top-level keys :data:`~fxsim.policy.schema.TOP_KEYS`: ``name`` (default
            ``"policy"``), ``description``, ``quantize``, ``rounding_modules``, ``defaults``,
            ``kinds``, ``layers``, ``groups``, ``class_difficulty``. Not modified.
        base : path or None, default None
            The folder of relative ``rounding_modules`` paths (None: the current directory):
            the modules registering user rounding rules, imported first, stored absolute.

        Returns
        -------
        Policy
            The validated policy.

        Raises
        ------
        TypeError
            ``data`` is not a dict.
        ValueError
            An unknown key or value, naming where it is, what was given and what is allowed:
            for example an empty ``name``, an unknown kind, a group named ``default`` or
            setting ``weights``, ``weight_grads``, ``master`` or ``accumulator`` (shared by all
            samples), a ``share`` outside [0, 1], groups without ``[class_difficulty]``, or a
            role that does not resolve (no ``bits``, a bad rounding, range or parameter).
        """
        if not isinstance(data, dict):
            raise TypeError(f"policy must be a table, got {type(data).__name__}")
        name = data.get("name", "policy")
        if not isinstance(name, str) or not name:
            raise ValueError(f"policy name must be a non-empty string, got {name!r}")
        where = f"policy {name!r}"
        check_keys(where, data, TOP_KEYS)
        modules = tuple(load_rounding_modules(where, data.get(MODULES_KEY, []), base))
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
        policy = cls(name, description, quantize, defaults, kinds, layers, groups, difficulty,
                     modules)
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
        """The resolved :class:`RoleSpec` of ``role`` in ``layer`` for samples of ``group``.

        Tables merge key by key, later ones winning: ``[defaults]``, ``[kinds.KIND]``, each
        alias's ``[layers.ALIAS]`` in order, ``[layers.LAYER]``, then ``[groups.GROUP]``.

        Parameters
        ----------
        layer : str
            The layer's name (any string: unknown names simply match no ``[layers]`` table).
        role : str
            One of :data:`ROLES`: ``weights``, ``activations``, ``act_grads``,
            ``weight_grads``, ``master``, ``accumulator``.
        group : str, default "default"
            A class group of :attr:`group_names`; ``default`` is the samples of no group.
        kind : str or None, default None
            The layer's kind (``[kinds.KIND]``); None skips the kinds tables.
        aliases : tuple of str, default ()
            Other names of the layer, such as ``("first",)`` (:func:`mac_aliases`).

        Returns
        -------
        RoleSpec
            The resolved settings; under ``quantize = false``, ``is_float=True`` and
            ``signed=None`` for every role.

        Raises
        ------
        ValueError
            An unknown ``role`` or ``group``, or a merged table that does not resolve (the
            message names the policy, layer, role and group).

        Examples
        --------
        >>> from fxsim.policy import Policy
        >>> tables = {"weights": {"bits": 8}, "activations": {"bits": 8},
        ...           "act_grads": {"bits": 8}, "weight_grads": {"bits": 16}}
        >>> p = Policy.from_dict({"name": "mine", "defaults": tables,
        ...                       "layers": {"last": {"weights": {"bits": 6}}}})
        >>> p.spec("conv1", "weights").bits, p.spec("fc", "weights", aliases=("last",)).bits
        (8, 6)
        >>> p.spec("fc", "master").is_float, p.spec("fc", "accumulator").bits  # float32, wide
        (True, None)
        """
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
        """Refuse ``[layers.NAME]`` tables naming no layer of the net.

        Parameters
        ----------
        layer_names : list of str
            The net's layer names. The aliases ``first`` and ``last`` are always allowed.

        Raises
        ------
        ValueError
            ``"policy 'NAME': [layers.X] names no layer of this net; layers: ..."``, for the
            first unknown name in sorted order.
        """
        unknown = sorted(set(self.layers) - set(layer_names) - set(LAYER_ALIASES))
        if unknown:
            raise ValueError(
                f"policy {self.name!r}: [layers.{unknown[0]}] names no layer of this net; "
                f"layers: {', '.join(layer_names)}")

    def check_net(self, places: Sequence[NetPlace]) -> None:
        """:func:`fxsim.policy.netcheck.check_net`: this policy against a net's layers."""
        check_net(self, places)

    def _check_resolvable(self) -> None:
        # each table on its own; the combinations a net uses are resolved when it is built
        places = [("", None), *(("", k) for k in self.kinds), *((n, None) for n in self.layers)]
        for layer, kind in places:
            for group in self.group_names:
                for role in ROLES:
                    self.spec(layer, role, group, kind)

    # ---- writing ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The policy as a TOML-shaped dict (what :meth:`from_dict` reads back).

        Returns
        -------
        dict
            ``name``, ``description``, ``quantize``, and each of ``defaults``, ``kinds``,
            ``layers``, ``groups``, ``class_difficulty`` not empty: the policy's own tables.
        """
        data: dict[str, Any] = {"name": self.name, "description": self.description,
                                "quantize": self.quantize}
        if self.rounding_modules:
            data[MODULES_KEY] = list(self.rounding_modules)
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
        """TOML text that :meth:`from_toml` reads back to an equal policy.

        Returns
        -------
        str
            :meth:`to_dict` as TOML (what a run's ``policy.toml`` holds).
        """
        return toml_text(self.to_dict())
