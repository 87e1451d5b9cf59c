"""The reference networks as data: what each layer is, not how it computes.

A net is a tree of :class:`Node` (an ``op``, a ``name``, constructor arguments, children).
:func:`reference_nets.build.build_net` turns it into :mod:`fxsim.layers`; the cost model walks
it with :func:`places` without loading any kernel (this module imports no fxsim code that
compiles).

=============  ==========  ==============================================================
name           input       architecture
=============  ==========  ==============================================================
digits_cnn     1 x 8 x 8   conv3x3(16)-BN-ReLU, conv3x3(32)-BN-ReLU, maxpool 2, linear
mnist_cnn      1 x 28 x 28 conv5x5(16)-BN-ReLU-maxpool 2, conv5x5(32)-BN-ReLU-maxpool 2,
                           linear
resnet20/32/56 3 x 32 x 32 He et al. (CVPR 2016) CIFAR ResNets: conv3x3(16), three stages of
                           n basic blocks (16, 32, 64 channels; stride 2 entering stages 2
                           and 3; parameter-free "option A" shortcuts), global average
                           pool, linear; depth = 6n + 2
vgg_small      3 x 32 x 32 the "VGG-Small" of the quantization literature (LQ-Nets, Zhang et
                           al. ECCV 2018): 2 x conv3x3(128), maxpool, 2 x conv3x3(256),
                           maxpool, 2 x conv3x3(512), maxpool, linear; every conv followed by
                           BN-ReLU. ``width`` scales the channel counts.
=============  ==========  ==============================================================

Layer names (used by a policy's ``[layers.NAME]`` tables) are printed by ``fxsim policies
--net NAME``; ResNets name block ``b`` of stage ``s`` ``s{s}b{b}_conv1``, ``..._bn1``,
``..._add``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fxsim.numeric.shapes import LayerShape, conv_out_size
from fxsim.policy import OP_KINDS, NetPlace

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Node:
    """One layer of a net: ``op`` (a key of :data:`fxsim.policy.OP_KINDS`), its ``name``, the
    arguments of its layer class (``args``, as (key, value) pairs) and its ``children``
    (``sequential``: the layers in order; ``residual``: the branch, then the shortcut if any)."""

    op: str
    name: str
    args: tuple[tuple[str, Any], ...] = ()
    children: tuple[Node, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in OP_KINDS:
            raise ValueError(f"op must be one of {', '.join(OP_KINDS)}; got {self.op!r}")

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    @property
    def kind(self) -> str | None:
        """The policy kind of this layer's ``activations`` quantizer (None: it has none)."""
        return OP_KINDS[self.op]

    def walk(self) -> Iterator[Node]:
        """This node and every node inside it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def node(op: str, name: str, *children: Node, **args: Any) -> Node:
    """A :class:`Node` from keyword arguments."""
    return Node(op, name, tuple(args.items()), children)


# ---- the nets ---------------------------------------------------------------------------------
def conv_bn_relu(prefix: str, cin: int, cout: int, kernel: int = 3, stride: int = 1,
                 relu: bool = True) -> list[Node]:
    """A conv (no bias, 'same' padding) and a batch norm with a fused ReLU."""
    return [node("conv2d", f"{prefix}conv", in_channels=cin, out_channels=cout, kernel=kernel,
                 stride=stride, padding=kernel // 2),
            node("batchnorm", f"{prefix}bn", channels=cout, relu=relu)]


def _linear(name: str, cin: int, cout: int) -> Node:
    return node("linear", name, in_features=cin, out_features=cout)


def digits_cnn(input_shape: Shape = (1, 8, 8), num_classes: int = 10) -> Node:
    c, h, w = input_shape[0], input_shape[1] // 2, input_shape[2] // 2
    return node("sequential", "digits_cnn", *conv_bn_relu("l1_", c, 16),
                *conv_bn_relu("l2_", 16, 32), node("maxpool", "pool", kernel=2),
                node("flatten", "flatten"), _linear("fc", 32 * h * w, num_classes))


def mnist_cnn(input_shape: Shape = (1, 28, 28), num_classes: int = 10) -> Node:
    c, h, w = input_shape[0], input_shape[1] // 4, input_shape[2] // 4
    return node("sequential", "mnist_cnn", *conv_bn_relu("l1_", c, 16, 5),
                node("maxpool", "pool1", kernel=2), *conv_bn_relu("l2_", 16, 32, 5),
                node("maxpool", "pool2", kernel=2), node("flatten", "flatten"),
                _linear("fc", 32 * h * w, num_classes))


def resnet(depth: int, input_shape: Shape = (3, 32, 32), num_classes: int = 10) -> Node:
    """He et al.'s CIFAR ResNet of ``depth = 6n + 2`` layers."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, ...), got {depth}")
    n = (depth - 2) // 6
    stem_conv, stem_bn = conv_bn_relu("", input_shape[0], 16)
    layers = [Node(stem_conv.op, "conv1", stem_conv.args), Node(stem_bn.op, "bn1", stem_bn.args)]
    cin = 16
    for stage, cout in enumerate((16, 32, 64), start=1):
        for block in range(n):
            stride = 2 if stage > 1 and block == 0 else 1
            name = f"s{stage}b{block}"
            branch = node(
                "sequential", f"{name}_branch",
                node("conv2d", f"{name}_conv1", in_channels=cin, out_channels=cout, kernel=3,
                     stride=stride, padding=1),
                node("batchnorm", f"{name}_bn1", channels=cout, relu=True),
                node("conv2d", f"{name}_conv2", in_channels=cout, out_channels=cout, kernel=3,
                     stride=1, padding=1),
                node("batchnorm", f"{name}_bn2", channels=cout))
            shortcut = () if stride == 1 and cin == cout else (node(
                "shortcut_a", f"{name}_shortcut", in_channels=cin, out_channels=cout,
                stride=stride),)
            layers.append(node("residual", name, branch, *shortcut))
            cin = cout
    layers += [node("global_avgpool", "avgpool"), _linear("fc", 64, num_classes)]
    return node("sequential", f"resnet{depth}", *layers)


def vgg_small(input_shape: Shape = (3, 32, 32), num_classes: int = 10,
              width: float = 1.0) -> Node:
    widths = [max(1, round(c * width)) for c in (128, 256, 512)]
    layers: list[Node] = []
    cin = input_shape[0]
    for i, cout in enumerate(widths, start=1):
        layers += conv_bn_relu(f"l{i}a_", cin, cout) + conv_bn_relu(f"l{i}b_", cout, cout)
        layers.append(node("maxpool", f"pool{i}", kernel=2))
        cin = cout
    h, w = input_shape[1] // 8, input_shape[2] // 8
    layers += [node("flatten", "flatten"), _linear("fc", cin * h * w, num_classes)]
    return node("sequential", "vgg_small", *layers)


NETS: dict[str, tuple[Callable[..., Node], Shape, str]] = {
    "digits_cnn": (digits_cnn, (1, 8, 8), "digits"),
    "mnist_cnn": (mnist_cnn, (1, 28, 28), "mnist5k"),
    "resnet20": (lambda s, k: resnet(20, s, k), (3, 32, 32), "cifar10"),
    "resnet32": (lambda s, k: resnet(32, s, k), (3, 32, 32), "cifar10"),
    "resnet56": (lambda s, k: resnet(56, s, k), (3, 32, 32), "cifar10"),
    "vgg_small": (vgg_small, (3, 32, 32), "cifar10"),
}
"""name -> (spec builder ``(input_shape, num_classes) -> Node``, default input shape (C, H, W),
default dataset)."""


def _entry(name: str) -> tuple[Callable[..., Node], Shape, str]:
    if not isinstance(name, str) or name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {name!r}")
    return NETS[name]


def net_spec(name: str, input_shape: Shape | None = None, num_classes: int = 10) -> Node:
    """The :class:`Node` tree of reference net ``name`` for inputs of ``input_shape`` (C, H, W;
    default: the net's own) and ``num_classes`` outputs."""
    builder, default_shape, _ = _entry(name)
    return builder(tuple(input_shape or default_shape), num_classes)


def default_input_shape(name: str) -> Shape:
    """The input shape (C, H, W) net ``name`` is built for."""
    return _entry(name)[1]


def default_dataset(name: str) -> str:
    """The dataset a net is meant for (``digits``, ``mnist5k``, ``cifar10``)."""
    return _entry(name)[2]


# ---- walking a net: shapes and quantizing places -----------------------------------------------
@dataclass(frozen=True)
class Place:
    """One layer of a net in forward (build) order, with its per-sample shapes.

    ``name``: the layer (a residual block's add is ``<block>_add``); ``op`` and ``kind`` as in
    :class:`Node` (``kind``: its activations quantizer's policy kind, None without one);
    ``mac``: the :class:`~fxsim.numeric.shapes.LayerShape` of a conv2d or linear layer.
    """

    name: str
    op: str
    kind: str | None
    in_shape: Shape
    out_shape: Shape
    mac: LayerShape | None = None
    args: tuple[tuple[str, Any], ...] = ()


def places(spec: Node, input_shape: Shape) -> list[Place]:
    """Every layer of ``spec`` in forward order (the order in which the simulator binds their
    quantizers), starting with the input quantizer (``input``), with per-sample shapes."""
    found = [Place("input", "input", OP_KINDS["input"], tuple(input_shape), tuple(input_shape))]
    _walk(spec, tuple(input_shape), found)
    return found


def policy_places(spec: Node | str, input_shape: Shape | None = None) -> list[NetPlace]:
    """Every layer of ``spec`` (a :class:`Node` or a reference net's name) as a policy
    addresses it, input first: what :meth:`fxsim.policy.Policy.check_net` checks, exactly as
    a net built from the spec reports it (:meth:`fxsim.training.network.Network.policy_places`).
    A batch norm's fused ReLU and a residual add's (on unless ``relu=False``) make their
    outputs ReLU outputs."""
    if isinstance(spec, str):
        spec, input_shape = net_spec(spec, input_shape), input_shape or default_input_shape(spec)
    found = places(spec, tuple(input_shape))
    relu_default = {"batchnorm": False, "add": True}
    return [NetPlace(p.name, p.kind, bool(dict(p.args).get("relu", relu_default.get(p.op,
                                                                                    False))))
            for p in found]


def layer_shapes(spec: Node, input_shape: Shape) -> list[LayerShape]:
    """The geometry of every MAC layer of ``spec``, in forward order."""
    return [p.mac for p in places(spec, input_shape) if p.mac is not None]


def output_shape(spec: Node, input_shape: Shape) -> Shape:
    """The per-sample output shape of ``spec``."""
    return _walk(spec, tuple(input_shape), [])


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _walk(spec: Node, shape: Shape, found: list[Place]) -> Shape:
    """Append the places of ``spec`` for an input of ``shape``; return its output shape."""
    if spec.op == "sequential":
        for child in spec.children:
            shape = _walk(child, shape, found)
        return shape
    if spec.op == "residual":
        out = _walk(spec.children[0], shape, found)
        if len(spec.children) > 1:
            _walk(spec.children[1], shape, found)
        found.append(Place(f"{spec.name}_add", "add", OP_KINDS["residual"], out, out,
                           args=spec.args))
        return out
    args = spec.kwargs
    mac = None
    if spec.op == "conv2d":
        mac = LayerShape(spec.name, "conv2d", shape[0], args["out_channels"],
                         _pair(args.get("kernel", 3)), _pair(args.get("stride", 1)),
                         _pair(args.get("padding", 0)), _pair(args.get("dilation", 1)),
                         args.get("groups", 1), (shape[1], shape[2]))
        _check_channels(spec, shape[0], args["in_channels"])
        out: Shape = (args["out_channels"], *mac.out_hw)
    elif spec.op == "linear":
        _check_channels(spec, shape[0], args["in_features"])
        mac = LayerShape(spec.name, "linear", args["in_features"], args["out_features"])
        out = (args["out_features"],)
    elif spec.op in ("maxpool", "avgpool"):
        kernel = _pair(args["kernel"])
        stride = _pair(args.get("stride") or kernel)
        padding = _pair(args.get("padding", 0))
        out = (shape[0], *(conv_out_size(shape[1 + a], kernel[a], stride[a], padding[a], 1)
                           for a in (0, 1)))
    elif spec.op == "global_avgpool":
        out = (shape[0],)
    elif spec.op == "flatten":
        out = (math.prod(shape),)
    elif spec.op == "shortcut_a":
        stride = args.get("stride", 2)
        out = (args["out_channels"], -(-shape[1] // stride), -(-shape[2] // stride))
    else:  # batchnorm, relu: shape kept
        out = shape
    if min(out) < 1:
        raise ValueError(f"layer {spec.name!r}: input {shape} is too small for it")
    found.append(Place(spec.name, spec.op, spec.kind, shape, out, mac, spec.args))
    return out


def _check_channels(spec: Node, given: int, expected: int) -> None:
    if given != expected:
        raise ValueError(f"layer {spec.name!r}: expects {expected} input channels or features, "
                         f"the net gives {given}")
