"""The reference networks, built from fxsim's layers.

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
--net NAME``; ResNets name block ``b`` of stage ``s`` ``s{s}b{b}_conv1``, ``..._bn1``, ``..._add``.
"""

from __future__ import annotations

from collections.abc import Callable

from fxsim.layers import (
    BatchNorm2d,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    Residual,
    Sequential,
    ShortcutA,
)
from fxsim.shapes import LayerShape


def conv_bn_relu(name: str, cin: int, cout: int, kernel: int = 3, stride: int = 1,
                 relu: bool = True) -> list:
    """A conv (no bias, 'same' padding) and a batch norm with a fused ReLU."""
    return [Conv2d(f"{name}conv", cin, cout, kernel, stride, padding=kernel // 2),
            BatchNorm2d(f"{name}bn", cout, relu=relu)]


def digits_cnn(input_shape=(1, 8, 8), num_classes: int = 10) -> Sequential:
    c = input_shape[0]
    h, w = input_shape[1] // 2, input_shape[2] // 2
    return Sequential("digits_cnn", [
        *conv_bn_relu("l1_", c, 16), *conv_bn_relu("l2_", 16, 32),
        MaxPool2d("pool", 2), Flatten("flatten"), Linear("fc", 32 * h * w, num_classes),
    ])


def mnist_cnn(input_shape=(1, 28, 28), num_classes: int = 10) -> Sequential:
    c = input_shape[0]
    h, w = input_shape[1] // 4, input_shape[2] // 4
    return Sequential("mnist_cnn", [
        *conv_bn_relu("l1_", c, 16, 5), MaxPool2d("pool1", 2),
        *conv_bn_relu("l2_", 16, 32, 5), MaxPool2d("pool2", 2),
        Flatten("flatten"), Linear("fc", 32 * h * w, num_classes),
    ])


def resnet(depth: int, input_shape=(3, 32, 32), num_classes: int = 10) -> Sequential:
    """He et al.'s CIFAR ResNet of ``depth = 6n + 2`` layers."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, ...), got {depth}")
    n = (depth - 2) // 6
    layers: list = conv_bn_relu("", input_shape[0], 16)
    layers[0].name, layers[1].name = "conv1", "bn1"
    cin = 16
    for stage, cout in enumerate((16, 32, 64), start=1):
        for block in range(n):
            stride = 2 if stage > 1 and block == 0 else 1
            name = f"s{stage}b{block}"
            branch = Sequential(f"{name}_branch", [
                Conv2d(f"{name}_conv1", cin, cout, 3, stride, padding=1),
                BatchNorm2d(f"{name}_bn1", cout, relu=True),
                Conv2d(f"{name}_conv2", cout, cout, 3, 1, padding=1),
                BatchNorm2d(f"{name}_bn2", cout),
            ])
            shortcut = None if stride == 1 and cin == cout else ShortcutA(
                f"{name}_shortcut", cin, cout, stride)
            layers.append(Residual(name, branch, shortcut))
            cin = cout
    layers += [GlobalAvgPool2d("avgpool"), Linear("fc", 64, num_classes)]
    return Sequential(f"resnet{depth}", layers)


def vgg_small(input_shape=(3, 32, 32), num_classes: int = 10, width: float = 1.0) -> Sequential:
    widths = [max(1, round(c * width)) for c in (128, 256, 512)]
    layers: list = []
    cin = input_shape[0]
    for i, cout in enumerate(widths, start=1):
        layers += conv_bn_relu(f"l{i}a_", cin, cout) + conv_bn_relu(f"l{i}b_", cout, cout)
        layers.append(MaxPool2d(f"pool{i}", 2))
        cin = cout
    h, w = input_shape[1] // 8, input_shape[2] // 8
    layers += [Flatten("flatten"), Linear("fc", cin * h * w, num_classes)]
    return Sequential("vgg_small", layers)


NETS: dict[str, tuple[Callable[..., Sequential], tuple[int, int, int], str]] = {
    "digits_cnn": (digits_cnn, (1, 8, 8), "digits"),
    "mnist_cnn": (mnist_cnn, (1, 28, 28), "mnist5k"),
    "resnet20": (lambda s, k: resnet(20, s, k), (3, 32, 32), "cifar10"),
    "resnet32": (lambda s, k: resnet(32, s, k), (3, 32, 32), "cifar10"),
    "resnet56": (lambda s, k: resnet(56, s, k), (3, 32, 32), "cifar10"),
    "vgg_small": (vgg_small, (3, 32, 32), "cifar10"),
}


def _entry(name: str):
    if name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {name!r}")
    return NETS[name]


def build_net(name: str, input_shape: tuple[int, int, int] | None = None,
              num_classes: int = 10) -> Sequential:
    """The layers of reference net ``name`` for inputs of ``input_shape`` (C, H, W; default:
    the net's own) and ``num_classes`` outputs. Bind them to a policy with
    :class:`fxsim.network.Network`."""
    builder, default_shape, _ = _entry(name)
    return builder(tuple(input_shape or default_shape), num_classes)


def default_dataset(name: str) -> str:
    """The dataset a net is meant for (``digits``, ``mnist5k``, ``cifar10``)."""
    return _entry(name)[2]


def layer_shapes(name: str, input_shape: tuple[int, int, int] | None = None,
                 num_classes: int = 10) -> list[LayerShape]:
    """Geometry of every MAC layer of reference net ``name`` (what the cost model prices)."""
    shape = tuple(input_shape or _entry(name)[1])
    found, _ = build_net(name, shape, num_classes).shapes(shape)
    return found
