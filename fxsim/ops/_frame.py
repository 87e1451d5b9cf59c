"""Flat frames: how the convolution kernels lay out an operand and the result of a product.

The kernels see every product as shifted planes. An operand ``(N, C, H, W)`` is packed into
planes: zero-padded by ``pad`` rows and columns at the top and left, split into
``phases = (sh, sw)`` (the plane of phase ``(a, b)`` holds the padded rows ``sh * r + a`` and
columns ``sw * c + b``), and flattened with the images stacked: image ``n`` owns the
``rows * cols`` positions ``n * rows * cols + r * cols + c`` of each plane. The zeros at the
bottom and right of one image block are the top and left padding of the next, and zeros
follow the last image. A tap (an input plane and a kernel offset) then contributes
``w * plane[q + shift]`` to every result position ``q`` of the same frame, so one product is
a sum of whole shifted planes: long unit-stride loops for any stride, padding and dilation.

The result has ``result_phases`` too: position ``(n, r, c)`` of result phase ``(a, b)`` is the
output element ``(n, sh' * r + a, sw' * c + b)`` when that is inside the output (the other
positions are computed and dropped). The forward product has one result phase and the input
phases of its stride; the input gradient reads the output gradient (one phase) and has the
stride's result phases, each summing the taps whose offsets land on it.

:func:`forward_frame` and :func:`input_grad_frame` give the frame of a geometry; each is the
product of two :class:`Axis` (rows and columns), built by :func:`forward_axis` and
:func:`input_grad_axis`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fxsim.ops.geometry import ConvGeometry


@dataclass(frozen=True)
class Axis:
    """One axis (rows or columns) of a frame.

    ``length``: positions per image; ``pad``: zero positions before the operand's data (in
    unphased units); ``phases``: the operand's phases (the stride it is read with);
    ``taps[a]``: for result phase ``a``, the ``(kernel index, operand phase, offset)`` of every
    kernel position that lands on it (``offset`` in phased positions, never negative).
    """

    length: int
    pad: int
    phases: int
    taps: tuple[tuple[tuple[int, int, int], ...], ...]

    @property
    def result_phases(self) -> int:
        return len(self.taps)

    @property
    def max_offset(self) -> int:
        return max((offset for taps in self.taps for _, _, offset in taps), default=0)


def forward_axis(size: int, kernel: int, stride: int, padding: int, dilation: int,
                 out: int) -> Axis:
    """The forward product along one axis: output ``i`` reads the padded input at
    ``stride * i + k * dilation``, i.e. phase ``k * dilation % stride`` at ``i + k * dilation //
    stride``. The image block holds the padded data and the output (``length * stride`` covers
    ``padding + size`` and ``stride * out``); reads past the data land on zeros below it or on the
    next block's top padding (at most ``padding`` past the block, as the output size ensures)."""
    length = -(-max(padding + size, stride * out) // stride)
    taps = tuple((k, k * dilation % stride, k * dilation // stride) for k in range(kernel))
    return Axis(length, padding, stride, (taps,))


def input_grad_axis(size: int, kernel: int, stride: int, padding: int, dilation: int,
                    out: int) -> Axis:
    """The input gradient along one axis: input ``h = stride * h2 + a`` (result phase ``a``)
    gathers the output gradient at ``h2 + (a + padding - k * dilation) / stride`` for the
    kernel indices ``k`` that divide evenly. The gradient is padded by ``pad`` (the most
    negative of those offsets) so that every offset is ``>= 0``; the block holds the padded
    gradient and every result position, and reads past the gradient's data stay inside the
    block or the next block's padding."""
    raw = [[(k, (a + padding - k * dilation) // stride) for k in range(kernel)
            if (a + padding - k * dilation) % stride == 0] for a in range(stride)]
    offsets = [offset for taps in raw for _, offset in taps]
    pad = max(0, -min(offsets, default=0))
    phase_size = -(-size // stride)  # result positions of phase 0, the largest
    length = max(pad + out, phase_size + max(offsets, default=0), phase_size, 1)
    taps = tuple(tuple((k, 0, offset + pad) for k, offset in phase) for phase in raw)
    return Axis(length, pad, 1, taps)


@dataclass(frozen=True)
class Frame:
    """A 2-D frame: ``rows`` and ``cols`` axes (see the module docstring)."""

    rows: Axis
    cols: Axis

    @property
    def operand_phases(self) -> int:
        return self.rows.phases * self.cols.phases

    @property
    def result_phases(self) -> tuple[int, int]:
        return self.rows.result_phases, self.cols.result_phases

    @property
    def halo(self) -> int:
        """Rows past a run of result rows that its taps read (the largest shift, in rows)."""
        shift = self.rows.max_offset * self.cols.length + self.cols.max_offset
        return -(-shift // self.cols.length)

    def layout(self) -> tuple[int, int, int, int, int, int]:
        """``(top, left, sh, sw, rows, cols)``: the operand's planes as the kernels fill them,
        padded by the axes' ``pad`` rows and columns."""
        return (self.rows.pad, self.cols.pad, self.rows.phases, self.cols.phases,
                self.rows.length, self.cols.length)


def forward_frame(geom: ConvGeometry) -> Frame:
    """The frame of the forward product (and of the weight gradient): input ``x`` packed in
    the stride's phases, one result phase (the output)."""
    (_, _, h, w), (_, _, kh, kw) = geom.input_shape, geom.weight_shape
    oh, ow = geom.output_hw
    return Frame(forward_axis(h, kh, geom.stride[0], geom.padding[0], geom.dilation[0], oh),
                 forward_axis(w, kw, geom.stride[1], geom.padding[1], geom.dilation[1], ow))


def input_grad_frame(geom: ConvGeometry) -> Frame:
    """The frame of the input gradient: ``grad_out`` packed in one phase, the stride's result
    phases (the input's)."""
    (_, _, h, w), (_, _, kh, kw) = geom.input_shape, geom.weight_shape
    oh, ow = geom.output_hw
    return Frame(input_grad_axis(h, kh, geom.stride[0], geom.padding[0], geom.dilation[0], oh),
                 input_grad_axis(w, kw, geom.stride[1], geom.padding[1], geom.dilation[1], ow))
