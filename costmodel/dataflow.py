"""Where each MAC layer's operands come from: the layer whose ``activations`` quantizer produced
its input, and the MAC layer (if any) whose input gradient it receives.

In the simulator (:mod:`fxsim.layers.mac`) a conv or linear layer reads input activations in
the format of the layer before it (the input quantizer, a batch norm, a residual add, an
average pool, or another MAC layer), not in its own ``activations`` format, which is the
format of its output. A :class:`MacSite` records that for one MAC layer.

* A reference net name: the sites are taken from the net's spec
  (:func:`reference_nets.specs.places`, every layer in forward order, the order in which the
  simulator binds their quantizers): a MAC layer reads the output of the last ``activations``
  quantizer before it (true of chains and of residual blocks whose shortcut has no MAC
  layer, as in every reference net; a net with a MAC layer in a shortcut is refused;
  ``[layers.first]``/``[layers.last]`` are the first and last MAC layers, as in
  :class:`fxsim.training.network.Network`: both use :func:`fxsim.policy.mac_aliases`).
* A list of :class:`fxsim.numeric.shapes.LayerShape`: a plain chain, nothing between the layers. The
  first layer reads the input quantizer's output (layer ``input``, kind ``input``), each other
  layer the output of the MAC layer before it.
* A list of :class:`MacSite`: as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from costmodel.policy import Place
from fxsim.numeric.shapes import LayerShape
from fxsim.policy import mac_aliases

INPUT = Place("input", "input")  # the input quantizer fxsim.training.network.Network puts first
# the batch each reference net trains with (fxsim reproduce's settings: digits batch 32,
# ResNet-20 batch 128 as in He et al., CVPR 2016; the others: fxsim train's default 32 and
# the CIFAR recipe's 128); a list of layers takes fxsim train's default
TRAINING_BATCH = {"digits_cnn": 32, "mnist_cnn": 32, "resnet20": 128, "resnet32": 128,
                  "resnet56": 128, "vgg_small": 128}
DEFAULT_BATCH = 32  # fxsim train's default batch
NODE_KINDS = {"input": "input", "batchnorm": "batchnorm", "add": "add",
              "global_avgpool": "avgpool", "avgpool": "avgpool", "maxpool": "maxpool"}


def training_batch(net) -> int:
    """The batch ``net`` trains with (:data:`TRAINING_BATCH`; other nets: 32)."""
    return TRAINING_BATCH.get(net, DEFAULT_BATCH) if isinstance(net, str) else DEFAULT_BATCH


@dataclass(frozen=True)
class NodeSite:
    """A layer without MACs that a training step runs.

    ``kind``: ``input`` (the input quantizer), ``batchnorm``, ``add`` (a residual add),
    ``avgpool``, ``maxpool``, ``loss``; ``in_elements``/``out_elements`` per sample;
    ``inputs``: the layers whose outputs it reads (their ``activations`` formats);
    ``policy_kind``: the policy kind of its ``activations`` quantizer, None without one (max
    pooling keeps its input's codes; the loss is a float island); ``window``: elements
    reduced into one output (pools)."""

    name: str
    kind: str
    in_elements: int
    out_elements: int
    inputs: tuple[Place, ...] = ()
    policy_kind: str | None = None
    window: int = 1

    @property
    def quantizes(self) -> bool:
        return self.policy_kind is not None

    @property
    def place(self) -> Place:
        return Place(self.name, self.policy_kind)


@dataclass(frozen=True)
class MacSite:
    """One MAC layer in its net.

    ``shape``: its geometry; ``source``: the layer whose activations quantizer produced its
    input; ``aliases``: ``"first"``/``"last"``; ``input_grad``: whether it computes the gradient
    of its input (the simulator's first MAC layer does not); ``grad_from``: the MAC layer whose
    (unquantized, exact) input gradient is this layer's incoming gradient, or None when it
    arrives from a float island (batch norm, the loss) or from several layers.
    """

    shape: LayerShape
    source: Place = INPUT
    aliases: tuple[str, ...] = ()
    input_grad: bool = True
    grad_from: str | None = None

    @property
    def place(self) -> Place:
        return Place(self.shape.name, self.shape.kind, self.aliases)


def chain_sites(shapes: Sequence[LayerShape]) -> list[MacSite]:
    """Sites of a plain chain of MAC layers (see the module docstring)."""
    for i, shape in enumerate(shapes):
        if not isinstance(shape, LayerShape):
            raise TypeError(f"net entry {i} must be a LayerShape, got {type(shape).__name__}")
    places = _places([s.name for s in shapes], {s.name: s.kind for s in shapes})
    sites = [MacSite(s, places[shapes[i - 1].name] if i else INPUT, places[s.name].aliases)
             for i, s in enumerate(shapes)]
    return _linked(sites)


def net_sites(name: str, input_shape: tuple[int, int, int] | None = None,
              num_classes: int = 10) -> list[MacSite]:
    """Sites of reference net ``name`` (``reference_nets.specs.NETS``), read from its spec."""
    from reference_nets.specs import NETS

    if not isinstance(name, str) or name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)} or a list of LayerShape; "
                         f"got {name!r}")
    return list(_spec_sites(name, tuple(input_shape or NETS[name][1]), num_classes))


def net_nodes(name: str, input_shape: tuple[int, int, int] | None = None,
              num_classes: int = 10) -> list[NodeSite]:
    """The layers without MACs of reference net ``name`` in forward order (the input
    quantizer, batch norms, residual adds, pools), then its loss, read from its spec."""
    from reference_nets.specs import NETS

    if not isinstance(name, str) or name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {name!r}")
    return list(_spec_nodes(name, tuple(input_shape or NETS[name][1]), num_classes))


@lru_cache(maxsize=32)
def _spec_nodes(name: str, shape: tuple[int, int, int], num_classes: int
                ) -> tuple[NodeSite, ...]:
    import math

    from reference_nets.specs import net_spec, places

    found = places(net_spec(name, shape, num_classes), shape)
    sites = {s.shape.name: s for s in _spec_sites(name, shape, num_classes)}
    nodes, source = [], INPUT
    for place in found:
        here = Place(place.name, place.kind, sites[place.name].aliases
                     if place.name in sites else ())
        if place.op in NODE_KINDS:
            inputs = (source,) if place.op != "input" else ()
            if place.op == "add":  # the branch's output and the block's input
                block = place.name[: -len("_add")]
                start = next(j for j, p in enumerate(found) if p.name.startswith(f"{block}_"))
                before = [p for p in found[:start] if p.kind is not None]
                inputs = (source, Place(before[-1].name, before[-1].kind))
            elements_in = math.prod(place.in_shape)
            elements_out = math.prod(place.out_shape)
            nodes.append(NodeSite(place.name, NODE_KINDS[place.op], elements_in, elements_out,
                                  inputs, place.kind, max(elements_in // elements_out, 1)))
        if place.kind is not None:
            source = here
    last = found[-1]
    nodes.append(NodeSite("loss", "loss", math.prod(last.out_shape), math.prod(last.out_shape),
                          (Place(last.name, last.kind),), None, 1))
    return tuple(nodes)


@lru_cache(maxsize=32)
def _spec_sites(name: str, shape: tuple[int, int, int], num_classes: int
                ) -> tuple[MacSite, ...]:
    from reference_nets.specs import net_spec, places

    spec = net_spec(name, shape, num_classes)
    _check_shortcuts(name, spec)
    found = places(spec, shape)
    kinds = {p.name: p.kind for p in found if p.kind is not None}
    macs = [p.name for p in found if p.mac is not None]
    named = _places(macs, kinds)
    sites, source = [], INPUT.name
    for place in found:
        if place.mac is not None:
            sites.append(MacSite(place.mac, named[source], named[place.name].aliases))
        if place.kind is not None:
            source = place.name
    return tuple(_linked(sites))


def _check_shortcuts(name: str, spec) -> None:
    """Refuse a residual block whose shortcut has a MAC layer: it reads the block's input, but
    it is walked after the branch, so forward order would give it the branch's output."""
    for block in spec.walk():
        if block.op == "residual" and len(block.children) > 1 and any(
                inner.op in ("conv2d", "linear") for inner in block.children[1].walk()):
            raise NotImplementedError(
                f"net {name!r}: block {block.name!r} has a MAC layer in its shortcut; the cost "
                "model reads operand sources in forward order, which does not hold there (pass "
                "the net as a list of costmodel.MacSite instead)")


def _places(macs: list[str], kinds: dict[str, str]) -> dict[str, Place]:
    """Place of every layer named in ``kinds`` (and the input), the first and last of the MAC
    layers ``macs`` with their aliases."""
    aliases = mac_aliases(macs)
    places = {name: Place(name, kind, aliases.get(name, ())) for name, kind in kinds.items()}
    places.setdefault(INPUT.name, INPUT)
    return places


def _linked(sites: list[MacSite]) -> list[MacSite]:
    """``sites`` with the first one computing no input gradient and ``grad_from`` set: the one
    MAC layer that reads a layer's output sends it its gradient."""
    readers: dict[str, list[str]] = {}
    for site in sites:
        readers.setdefault(site.source.name, []).append(site.shape.name)
    out = []
    for i, site in enumerate(sites):
        names = readers.get(site.shape.name, [])
        out.append(replace(site, input_grad=i > 0,
                           grad_from=names[0] if len(names) == 1 else None))
    return out


def resolve_sites(net: str | Sequence[LayerShape] | Sequence[MacSite]) -> list[MacSite]:
    """The MAC sites of ``net``: a reference net name, a chain of LayerShape, or MacSites."""
    if isinstance(net, str):
        return net_sites(net)
    items = list(net)
    if items and all(isinstance(item, MacSite) for item in items):
        return items
    return chain_sites(items)
