"""Hypothesis strategies for fxsim.ops tests: convolution geometries, formats and codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ops_reference as ref
from hypothesis import strategies as st

from fxsim.numeric.formats import FxArray, QFormat
from fxsim.testing.strategies import qformats


@dataclass
class ConvCase:
    """Operand shapes and geometry of one convolution, and a seed for its codes."""

    n: int
    c: int
    co: int
    hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    seed: int

    @property
    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    @property
    def input_shape(self):
        return (self.n, self.c, *self.hw)

    @property
    def weight_shape(self):
        return (self.co, self.c // self.groups, *self.kernel)

    @property
    def output_shape(self):
        oh, ow = (ref.out_size(s, k, st_, p, d) for s, k, st_, p, d in
                  zip(self.hw, self.kernel, self.stride, self.padding, self.dilation,
                      strict=True))
        return (self.n, self.co, oh, ow)


@st.composite
def conv_cases(draw, max_batch: int = 2) -> ConvCase:
    """Grouped (including depthwise), strided, padded, dilated cases with odd and even sizes
    and 1x1, 3x3, 5x5 (and some rectangular) kernels."""
    depthwise = draw(st.booleans()) and draw(st.booleans())
    groups = draw(st.integers(1, 4)) if depthwise else draw(st.sampled_from([1, 1, 2, 3]))
    cg = 1 if depthwise else draw(st.integers(1, 3))
    cog = draw(st.integers(1, 2)) if depthwise else draw(st.integers(1, 3))
    kh = draw(st.sampled_from([1, 3, 5, 2]))
    kw = kh if draw(st.booleans()) else draw(st.sampled_from([1, 2, 3]))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = []
    for k, p, d in zip((kh, kw), padding, dilation, strict=True):
        low = max(1, d * (k - 1) + 1 - 2 * p)
        hw.append(draw(st.integers(low, low + 5)))
    return ConvCase(draw(st.integers(1, max_batch)), cg * groups, cog * groups, tuple(hw),
                    (kh, kw), stride, padding, dilation, groups,
                    draw(st.integers(0, 2**32 - 1)))


def small_formats(max_bits: int = 12):
    """Formats of 2..max_bits bits and fraction lengths -3..10, signed or not."""
    return qformats(bits=(2, max_bits), frac=(-3, 10))


def codes(fmt: QFormat, shape, rng: np.random.Generator, extremes: bool = False) -> FxArray:
    """Random codes of ``fmt`` (``extremes``: only the format's min and max codes)."""
    if extremes:
        raw = rng.choice([fmt.min_code, fmt.max_code], size=shape)
    else:
        raw = rng.integers(fmt.min_code, fmt.max_code, size=shape, endpoint=True)
    return FxArray(raw.astype(fmt.dtype), fmt)
