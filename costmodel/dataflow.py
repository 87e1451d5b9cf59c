"""Where each MAC layer's operands come from: the layer whose ``activations`` quantizer produced
its input, and the MAC layer (if any) whose input gradient it receives.

In the simulator (:mod:`fxsim.layers.mac`) a conv or linear layer reads input activations in
the format of the layer before it (the input quantizer, a batch norm, a residual add, an
average pool, or another MAC layer), not in its own ``activations`` format, which is the
format of its output. A :class:`MacSite` records that for one MAC layer.

* A reference net name: the sites are taken from the net itself. Its layers are bound to a
  recording :class:`fxsim.layers.base.Binder`, which sees every quantizer in build order, and
  build order is forward order: a MAC layer reads the output of the last ``activations``
  quantizer built before it (true of chains and of residual blocks whose shortcut has no MAC
  layer, as in every reference net; a net with a MAC layer in a shortcut is refused;
  ``[layers.first]``/``[layers.last]`` are the first and last MAC layers, as in
  :class:`fxsim.network.Network`: both use :func:`fxsim.policy.mac_aliases`).
* A list of :class:`fxsim.shapes.LayerShape`: a plain chain, nothing between the layers. The
  first layer reads the input quantizer's output (layer ``input``, kind ``input``), each other
  layer the output of the MAC layer before it.
* A list of :class:`MacSite`: as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from costmodel.policy import Place
from fxsim.policy import mac_aliases
from fxsim.shapes import LayerShape

INPUT = Place("input", "input")  # the input quantizer fxsim.network.Network puts first
# the batch each reference net trains with (fxsim reproduce's settings: digits batch 32,
# ResNet-20 batch 128 as in He et al., CVPR 2016; the others: fxsim train's default 32 and
# the CIFAR recipe's 128); a list of layers takes fxsim train's default
TRAINING_BATCH = {"digits_cnn": 32, "mnist_cnn": 32, "resnet20": 128, "resnet32": 128,
                  "resnet56": 128, "vgg_small": 128}
DEFAULT_BATCH = 32  # fxsim train's default batch


def training_batch(net) -> int:
    """The batch ``net`` trains with (:data:`TRAINING_BATCH`; other nets: 32)."""
    return TRAINING_BATCH.get(net, DEFAULT_BATCH) if isinstance(net, str) else DEFAULT_BATCH


@dataclass(frozen=True)
class NodeSite:
    """A layer without MACs that a training step runs: ``kind`` one of ``input`` (the input
    quantizer), ``batchnorm``, ``add``
    (a residual add), ``avgpool``, ``maxpool``, ``loss``; ``in_elements``/``out_elements``
    per sample; ``inputs``: the layers whose outputs it reads (their ``activations`` formats);
    ``quantizes``: whether it has its own ``activations`` quantizer (max pooling keeps its
    input's codes; the loss is a float island)."""

    name: str
    kind: str
    in_elements: int
    out_elements: int
    inputs: tuple[Place, ...] = ()
    quantizes: bool = True
    window: int = 1  # elements reduced into one output (pools)

    @property
    def place(self) -> Place:
        policy_kind = {"avgpool": "avgpool", "batchnorm": "batchnorm", "add": "add",
                       "input": "input"}.get(self.kind)
        return Place(self.name, policy_kind)


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
    """Sites of reference net ``name`` (``reference_nets.NETS``), read from its layers."""
    from reference_nets import NETS

    if not isinstance(name, str) or name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)} or a list of LayerShape; "
                         f"got {name!r}")
    return list(_recorded_sites(name, tuple(input_shape or NETS[name][1]), num_classes))


def net_nodes(name: str, input_shape: tuple[int, int, int] | None = None,
              num_classes: int = 10) -> list[NodeSite]:
    """The layers without MACs of reference net ``name``, in forward order, and its loss."""
    from reference_nets import NETS

    if not isinstance(name, str) or name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {name!r}")
    return list(_recorded(name, tuple(input_shape or NETS[name][1]), num_classes)[1])


@lru_cache(maxsize=32)
def _recorded_sites(name: str, shape: tuple[int, int, int], num_classes: int
                    ) -> tuple[MacSite, ...]:
    return _recorded(name, shape, num_classes)[0]


@lru_cache(maxsize=32)
def _recorded(name: str, shape: tuple[int, int, int], num_classes: int
              ) -> tuple[tuple[MacSite, ...], tuple[NodeSite, ...]]:
    from fxsim.layers.base import Binder
    from fxsim.policy import Policy
    from reference_nets import build_net

    body = build_net(name, shape, num_classes)
    _check_shortcuts(name, body)

    class Recorder(Binder):
        """Records (layer, role, kind) of every quantizer a layer asks for; builds none."""

        def __init__(self) -> None:
            super().__init__(Policy.load("fp"), seed=0)
            self.calls: list[tuple[str, str, str]] = []

        def quantizers_for(self, layer, role, kind, **options):
            self.calls.append((layer, role, kind))

    recorder = Recorder()
    body.bind(recorder)
    shapes = {s.name: s for s in body.shapes(shape)[0]}
    kinds = {layer: kind for layer, _, kind in recorder.calls}
    macs = [layer for layer, role, _ in recorder.calls if role == "weights"]
    places = _places(macs, kinds)
    sites, source = [], INPUT.name
    for layer, role, _ in recorder.calls:
        if role == "weights":
            sites.append(MacSite(shapes[layer], places[source], places[layer].aliases))
        elif role == "activations":
            source = layer
    sites = _linked(sites)
    return tuple(sites), tuple(_interim_nodes(body, recorder.calls, shapes, places, sites,
                                              num_classes))


def _interim_nodes(body, calls, shapes, places, sites, num_classes) -> list[NodeSite]:
    """Non-MAC layers read from the built layers (until reference_nets/specs.py lists them as
    data): batch norms and adds keep the element count of the tensor they follow, average
    pooling reduces to the next MAC layer's input, max pooling (no quantizer of its own) sits
    between the MAC layer before it and the one after."""
    from fxsim.layers.mac import MacLayer
    from fxsim.layers.simple import MaxPool2d

    nodes: list[NodeSite] = [NodeSite(INPUT.name, "input", sites[0].shape.input_count,
                                      sites[0].shape.input_count)]
    count, last = 0, INPUT
    by_name = {s.shape.name: s for s in sites}
    order = [layer for layer in body.walk() if isinstance(layer, (MacLayer, MaxPool2d))]
    for layer, role, kind in calls:
        if role == "weights":
            count = shapes[layer].output_count
            last = places[layer]
            continue
        if role != "activations" or layer not in places or kind not in (
                "batchnorm", "add", "avgpool"):
            continue
        inputs = (last,)
        out = count
        if kind == "add":
            block = layer[: -len("_add")]
            first = by_name.get(f"{block}_conv1")
            inputs = (last, first.source) if first else (last,)
        if kind == "avgpool":
            after = [s for s in sites if s.source.name == layer]
            out = after[0].shape.input_count if after else count
        nodes.append(NodeSite(layer, kind, count, out, inputs, True,
                              max(count // max(out, 1), 1)))
        count, last = out, places[layer]
    # max pools: between the MAC layer before and the one after, in walk order
    for i, item in enumerate(order):
        if isinstance(item, MaxPool2d) and i + 1 < len(order) and i > 0:
            before, after = by_name[order[i - 1].name], by_name[order[i + 1].name]
            window = item.kernel[0] * item.kernel[1]
            nodes.append(NodeSite(item.name, "maxpool", before.shape.output_count,
                                  after.shape.input_count, (after.source,), False, window))
    nodes.append(NodeSite("loss", "loss", num_classes, num_classes, (sites[-1].place,),
                          False, 1))
    return nodes


def _check_shortcuts(name: str, body) -> None:
    """Refuse a residual block whose shortcut has a MAC layer: it reads the block's input, but
    it is built after the branch, so build order would give it the branch's output."""
    from fxsim.layers.mac import MacLayer
    from fxsim.layers.residual import Residual

    for layer in body.walk():
        if isinstance(layer, Residual) and layer.shortcut is not None and any(
                isinstance(inner, MacLayer) for inner in layer.shortcut.walk()):
            raise NotImplementedError(
                f"net {name!r}: block {layer.name!r} has a MAC layer in its shortcut; the cost "
                "model reads operand sources in build order, which does not hold there (pass "
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
