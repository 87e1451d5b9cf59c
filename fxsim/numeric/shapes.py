"""Shapes of the layers that do multiply-accumulates, as the cost model and benchmarks read them.

A :class:`LayerShape` is pure geometry: no codes, no formats. ``reference_nets`` builds the list
for a net; ``costmodel`` prices it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAC_KINDS = ("conv2d", "linear")


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula, floor division)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class LayerShape:
    """One conv2d or linear layer of a net, per sample.

    ``in_hw`` is the input's (height, width); a linear layer has ``in_hw == (1, 1)`` and
    ``kernel == (1, 1)``. MAC counts are per sample: a batch multiplies them by its size.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    in_hw: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        if self.kind not in MAC_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MAC_KINDS)}; got {self.kind!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"layer {self.name!r}: groups={self.groups} must divide in_channels="
                f"{self.in_channels} and out_channels={self.out_channels}"
            )

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(
            conv_out_size(self.in_hw[a], self.kernel[a], self.stride[a], self.padding[a],
                          self.dilation[a])
            for a in (0, 1)
        )

    @property
    def reduction(self) -> int:
        """Terms summed into one forward output: ``in_channels / groups * kh * kw``."""
        return self.in_channels // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def weight_count(self) -> int:
        return self.out_channels * self.reduction

    @property
    def input_count(self) -> int:
        return self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def output_count(self) -> int:
        return self.out_channels * self.out_hw[0] * self.out_hw[1]

    @property
    def macs(self) -> int:
        """Forward MACs per sample: ``Cout * Hout * Wout * Cin / groups * kh * kw``. The
        backward-input and backward-weight products have the same count."""
        return self.output_count * self.reduction
