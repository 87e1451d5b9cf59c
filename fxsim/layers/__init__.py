"""Fixed-point layers with forward and backward on code tensors (see DESIGN.md's dataflow)."""

from fxsim.layers.base import Binder, Context, Layer, Param, Sequential
from fxsim.layers.loss import softmax_cross_entropy
from fxsim.layers.mac import Conv2d, Linear
from fxsim.layers.norm import BatchNorm2d
from fxsim.layers.residual import Residual, ShortcutA
from fxsim.layers.simple import AvgPool2d, Flatten, GlobalAvgPool2d, Input, MaxPool2d, ReLU

LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.op: cls for cls in (Input, Conv2d, Linear, BatchNorm2d, ReLU, Flatten, MaxPool2d, AvgPool2d,
                            GlobalAvgPool2d, Residual, ShortcutA, Sequential)
}
"""Every layer class by its ``op`` (the ops of :data:`fxsim.policy.OP_KINDS`)."""

__all__ = [
    "LAYER_CLASSES", "AvgPool2d", "BatchNorm2d", "Binder", "Context", "Conv2d", "Flatten",
    "GlobalAvgPool2d",
    "Input", "Layer", "Linear", "MaxPool2d", "Param", "ReLU", "Residual", "Sequential",
    "ShortcutA", "softmax_cross_entropy",
]
