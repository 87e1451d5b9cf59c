"""The one check of a policy against a net, before anything trains or is priced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fxsim.policy.schema import (
    DEFAULT_GROUP,
    GROUP_ROLES,
    MAC_KINDS,
    QUANTIZER_ROLES,
    ROLES,
    NetPlace,
    check_word,
    mac_aliases,
)

if TYPE_CHECKING:
    from fxsim.policy import Policy


def check_net(policy: Policy, places: Sequence[NetPlace]) -> None:
    """Check ``policy`` against a net: training (:class:`fxsim.training.network.Network`),
    ``fxsim policies --net`` and the cost model all call this, so they accept and refuse the
    same policies with the same messages. ``places``: every layer of the net in forward order
    (:func:`reference_nets.specs.policy_places`, or :meth:`fxsim.layers.Layer.policy_places` of
    a built net).

    Refused: a ``[layers.NAME]`` naming no layer; any role of any layer and class group that
    does not resolve; a quantizer whose word length its codes cannot use (signed codes need 2
    bits or more: a 1-bit signed code holds only -1 and 0 and a symmetric range none; a rule's
    own limit, such as CQAT's ``bits <= base_bits``). Each error names the policy, the layer
    and the role."""
    policy.check_layers([p.name for p in places])
    if not policy.quantize:
        return
    aliases = mac_aliases([p.name for p in places if p.kind in MAC_KINDS])
    for place in places:
        if place.kind is None:
            continue
        for role in ROLES if place.kind in MAC_KINDS else ("activations",):
            for group in policy.group_names if role in GROUP_ROLES else (DEFAULT_GROUP,):
                spec = policy.spec(place.name, role, group, place.kind,
                                   aliases.get(place.name, ()))
                if role in QUANTIZER_ROLES:
                    where = (f"policy {policy.name!r}, layer {place.name!r}, role {role!r}"
                             + ("" if group == DEFAULT_GROUP else f", group {group!r}"))
                    check_word(where, spec, place.relu_output)
