"""The reference networks built from :mod:`fxsim.layers`, from their specs
(:mod:`reference_nets.specs`)."""

from __future__ import annotations

from fxsim.layers import LAYER_CLASSES, Residual, Sequential
from fxsim.layers.base import Layer
from fxsim.numeric.shapes import LayerShape
from reference_nets.specs import Node, net_spec
from reference_nets.specs import layer_shapes as spec_layer_shapes


def build(spec: Node) -> Layer:
    """The fxsim layer (tree) of ``spec``: each node becomes the layer class whose ``op`` it
    names, with the node's arguments."""
    if spec.op == "sequential":
        return Sequential(spec.name, [build(child) for child in spec.children])
    if spec.op == "residual":
        shortcut = build(spec.children[1]) if len(spec.children) > 1 else None
        return Residual(spec.name, build(spec.children[0]), shortcut)
    return LAYER_CLASSES[spec.op](spec.name, **spec.kwargs)


def build_net(name: str, input_shape: tuple[int, int, int] | None = None,
              num_classes: int = 10) -> Sequential:
    """The layers of reference net ``name`` for inputs of ``input_shape`` (C, H, W; default:
    the net's own) and ``num_classes`` outputs. Bind them to a policy with
    :class:`fxsim.training.network.Network`."""
    body = build(net_spec(name, input_shape, num_classes))
    assert isinstance(body, Sequential)
    return body


def layer_shapes(name: str, input_shape: tuple[int, int, int] | None = None,
                 num_classes: int = 10) -> list[LayerShape]:
    """Geometry of every MAC layer of reference net ``name`` (what the cost model prices)."""
    from reference_nets.specs import default_input_shape

    shape = tuple(input_shape or default_input_shape(name))
    return spec_layer_shapes(net_spec(name, shape, num_classes), shape)
