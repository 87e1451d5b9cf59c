"""Geometry of 2-D convolutions and pooling windows: pairs, output sizes and shape checks.

Every check raises a ValueError or TypeError naming the parameter, the value given and what
is allowed, before any kernel runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from fxsim.numeric.formats import check_int
from fxsim.numeric.shapes import conv_out_size

Pair = tuple[int, int]


def as_pair(name: str, value: object, low: int) -> Pair:
    """An int or an (h, w) pair of ints, each ``>= low``, as a tuple of two ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        return check_int(name, value[0], low), check_int(name, value[1], low)
    v = check_int(name, value, low)
    return v, v


def check_shape(name: str, shape: tuple[int, ...], ndim: int, layout: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ``ndim`` positive ints, or a ValueError naming the layout."""
    shape = tuple(shape)
    if len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {layout}, got shape {shape}")
    for size in shape:
        check_int(f"{name} size", size, 0)
    return tuple(int(s) for s in shape)


@dataclass(frozen=True)
class ConvGeometry:
    """A grouped, strided, padded, dilated 2-D convolution in NCHW layout.

    Input ``(n, c, h, w)``, weight ``(co, c // groups, kh, kw)``, output ``(n, co, oh, ow)``
    with PyTorch's output size formula. ``out[n, o, i, j] = sum over (ci, ki, kj) of
    x[n, g*cg + ci, i*sh - ph + ki*dh, j*sw - pw + kj*dw] * w[o, ci, ki, kj]`` where ``g`` is
    the group of ``o``; positions in the zero padding contribute nothing.
    """

    input_shape: tuple[int, int, int, int]
    weight_shape: tuple[int, int, int, int]
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int

    @classmethod
    def build(cls, input_shape, weight_shape, stride, padding, dilation, groups,
              input_name: str = "x", weight_name: str = "w") -> ConvGeometry:
        """Validate the parameters and shapes; raises naming the offending one."""
        input_shape = check_shape(input_name, input_shape, 4, "(N, C, H, W)")
        weight_shape = check_shape(weight_name, weight_shape, 4, "(C_out, C_in/groups, KH, KW)")
        geom = cls(input_shape, weight_shape, as_pair("stride", stride, 1),
                   as_pair("padding", padding, 0), as_pair("dilation", dilation, 1),
                   check_int("groups", groups, 1))
        geom._check(input_name, weight_name)
        return geom

    def _check(self, input_name: str, weight_name: str) -> None:
        _, c, h, w = self.input_shape
        co, cg, kh, kw = self.weight_shape
        g = self.groups
        if c % g or co % g:
            raise ValueError(f"groups={g} must divide the input channels ({c}) and the output "
                             f"channels ({co})")
        if cg != c // g:
            raise ValueError(f"{weight_name} has {cg} input channels per group (shape "
                             f"{self.weight_shape}); {input_name} has {c} channels and "
                             f"groups={g}, so {c // g} are needed")
        if min(kh, kw, co) < 1 or c < 1:
            raise ValueError(f"empty kernel or channels: {weight_name} shape "
                             f"{self.weight_shape}, {input_name} shape {self.input_shape}")
        for axis, size, k in (("height", h, kh), ("width", w, kw)):
            i = 0 if axis == "height" else 1
            span = self.dilation[i] * (k - 1) + 1
            if size + 2 * self.padding[i] < span:
                raise ValueError(
                    f"impossible convolution: the kernel spans {span} along the {axis} "
                    f"(kernel {k}, dilation {self.dilation[i]}) but the padded input has "
                    f"{size + 2 * self.padding[i]} (size {size}, padding {self.padding[i]})")

    @property
    def output_hw(self) -> Pair:
        _, _, h, w = self.input_shape
        _, _, kh, kw = self.weight_shape
        return (conv_out_size(h, kh, self.stride[0], self.padding[0], self.dilation[0]),
                conv_out_size(w, kw, self.stride[1], self.padding[1], self.dilation[1]))

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.input_shape[0], self.weight_shape[0], *self.output_hw)

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward product (each backward product has as many)."""
        n, co, oh, ow = self.output_shape
        return n * co * oh * ow * self.weight_shape[1] * self.weight_shape[2] * self.weight_shape[3]

    def terms(self, op: str) -> int:
        """Products summed into one output of ``op`` (at most, for ``backward_input``)."""
        n, _, _, _ = self.input_shape
        co, cg, kh, kw = self.weight_shape
        oh, ow = self.output_hw
        if op == "forward":
            return cg * kh * kw
        if op == "backward_input":
            return co // self.groups * kh * kw
        return n * oh * ow

    def check_grad(self, grad_shape: tuple[int, ...], name: str = "grad_out") -> None:
        if tuple(grad_shape) != self.output_shape:
            raise ValueError(f"{name} must have the convolution's output shape "
                             f"{self.output_shape}, got {tuple(grad_shape)}")
