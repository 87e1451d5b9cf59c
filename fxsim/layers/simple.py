"""Layers without weights: the input quantizer, ReLU, pooling, flatten.

ReLU and max pooling act on codes and keep their format (no quantization). Average pooling sums
codes exactly (:func:`fxsim.ops.avg_pool2d` folds the division by the window into the scale) and
requantizes the result with the layer's ``activations`` quantizer; its backward spreads the
gradient exactly. None of them quantizes a gradient.
"""

from __future__ import annotations

import math

import numpy as np

from fxsim import ops
from fxsim.layers.base import Binder, Layer, apply, masked, ste
from fxsim.numeric.formats import FxArray
from fxsim.numeric.shapes import conv_out_size
from fxsim.ops.geometry import as_pair


class Input(Layer):
    """Quantizes the float input images with the ``activations`` role of the layer named
    ``input`` (override it with ``[layers.input]``)."""

    op = "input"

    def __init__(self, name: str = "input") -> None:
        self.name = name

    def bind(self, binder: Binder) -> None:
        super().bind(binder)
        self.q_out = binder.quantizers_for(self.name, "activations", self.kind)

    def forward(self, xs, ctx):
        return apply(self.q_out, [np.asarray(x, dtype=np.float64) for x in xs], ctx)

    def backward(self, grads, ctx):
        return None


class ReLU(Layer):
    """``max(x, 0)`` on codes (format kept); the gradient passes where ``x > 0``."""

    op = "relu"

    def __init__(self, name: str) -> None:
        self.name = name

    def forward(self, xs, ctx):
        masks = [(x.raw if isinstance(x, FxArray) else x) > 0 for x in xs]
        if ctx.training:
            self._saved = masks
        return [masked(x, m) for x, m in zip(xs, masks, strict=True)]

    def backward(self, grads, ctx):
        masks = self._saved
        del self._saved
        return [masked(g, m) for g, m in zip(grads, masks, strict=True)]


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)``, C order."""

    op = "flatten"

    def __init__(self, name: str) -> None:
        self.name = name

    def forward(self, xs, ctx):
        if ctx.training:
            self._saved = [x.shape for x in xs]
        return [_reshape(x, (x.shape[0], -1)) for x in xs]

    def backward(self, grads, ctx):
        shapes = self._saved
        del self._saved
        return [_reshape(g, s) for g, s in zip(grads, shapes, strict=True)]

    def shapes(self, in_shape):
        return [], (math.prod(in_shape),)


def _reshape(x, shape):
    if isinstance(x, FxArray):
        return x.with_raw(x.raw.reshape(shape))
    return x.reshape(shape)


class _Pool(Layer):
    def __init__(self, name: str, kernel, stride=None, padding=0) -> None:
        self.name = name
        self.kernel = as_pair("kernel", kernel, 1)
        self.stride = self.kernel if stride is None else as_pair("stride", stride, 1)
        self.padding = as_pair("padding", padding, 0)

    def shapes(self, in_shape):
        c, h, w = in_shape
        out = tuple(conv_out_size((h, w)[a], self.kernel[a], self.stride[a], self.padding[a], 1)
                    for a in (0, 1))
        return [], (c, *out)


class MaxPool2d(_Pool):
    """Max pooling on codes (format kept); backward scatters each gradient to its window's
    arg-max (overlapping windows add exactly)."""

    op = "maxpool"

    def forward(self, xs, ctx):
        results = [ops.max_pool2d(x, self.kernel, self.stride, self.padding) for x in xs]
        if ctx.training:
            self._saved = [(x.shape, idx) for x, (_, idx) in zip(xs, results, strict=True)]
        return [out for out, _ in results]

    def backward(self, grads, ctx):
        saved = self._saved
        del self._saved
        return [ops.max_pool2d_backward(g, idx, shape)
                for g, (shape, idx) in zip(grads, saved, strict=True)]


class AvgPool2d(_Pool):
    """Average pooling: the exact window sum with the division folded into the scale, then
    the ``activations`` quantizer. Zero padding counts in the divisor."""

    op = "avgpool"

    def bind(self, binder: Binder) -> None:
        super().bind(binder)
        self.q_out = binder.quantizers_for(self.name, "activations", self.kind)

    def forward(self, xs, ctx):
        sums = [ops.avg_pool2d(x, self.kernel, self.stride, self.padding) for x in xs]
        outs = apply(self.q_out, sums, ctx)
        if ctx.training:
            self._saved = [x.shape for x in xs]
        return outs

    def backward(self, grads, ctx):
        shapes = self._saved
        del self._saved
        grads = ste(self.q_out, grads, ctx)
        return [ops.avg_pool2d_backward(g, shape, self.kernel, self.stride, self.padding)
                for g, shape in zip(grads, shapes, strict=True)]


class GlobalAvgPool2d(AvgPool2d):
    """Average over the whole H x W plane: ``(N, C, H, W) -> (N, C)``; the window is set by
    the first input (so the layer fits any input size)."""

    op = "global_avgpool"

    def __init__(self, name: str) -> None:
        super().__init__(name, 1)

    def forward(self, xs, ctx):
        h, w = xs[0].shape[2:]
        self.kernel = self.stride = (h, w)
        outs = super().forward(xs, ctx)
        return [_reshape(o, o.shape[:2]) for o in outs]

    def backward(self, grads, ctx):
        return super().backward([_reshape(g, (*g.shape, 1, 1)) for g in grads], ctx)

    def shapes(self, in_shape):
        return [], (in_shape[0],)
