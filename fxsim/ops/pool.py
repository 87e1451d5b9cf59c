"""Max and average pooling, forward and backward, on integer codes or float64 (NCHW).

Windows follow PyTorch (``ceil_mode=False``): ``kernel`` and ``stride`` (default: the kernel)
are ints or ``(h, w)`` pairs, ``padding`` at most half the kernel. Codes are never rounded:

* max pooling returns the largest code of each window and its flat index ``ih * W + iw`` in
  the input plane (the first maximum in row-major window order; padding never wins); its
  backward adds each gradient code at its index, so overlapping windows add, exactly.
* average pooling returns the exact window SUM of codes; the division by the window size
  ``k = kh * kw`` is folded into the result's scale: ``frac += log2(k)`` when ``k`` is a power
  of two (exact), else the result carries a real ``step = lsb / k`` (float64). Zero padding
  counts in the divisor (PyTorch's ``count_include_pad=True``). Its backward spreads each
  gradient code over its window the same way (sum of codes, scale divided by ``k``).

The result's word length is the smallest that holds every possible sum (same signedness as
the input). On float64 arrays the same ops compute in float64 (average = sum / k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fxsim.numeric.formats import MAX_BITS, FxArray, QFormat
from fxsim.ops.accumulator import signed_width
from fxsim.ops.geometry import Pair, as_pair, check_shape
from fxsim.ops.operands import FLOAT, operand_mode

Operand = FxArray | np.ndarray


@dataclass(frozen=True)
class PoolGeometry:
    input_shape: tuple[int, int, int, int]
    kernel: Pair
    stride: Pair
    padding: Pair

    @classmethod
    def build(cls, input_shape, kernel, stride, padding, name: str = "x") -> PoolGeometry:
        shape = check_shape(name, input_shape, 4, "(N, C, H, W)")
        kernel = as_pair("kernel", kernel, 1)
        stride = kernel if stride is None else as_pair("stride", stride, 1)
        padding = as_pair("padding", padding, 0)
        for i, axis in enumerate(("height", "width")):
            if 2 * padding[i] > kernel[i]:
                raise ValueError(f"padding must be at most half the kernel, got padding "
                                 f"{padding} for kernel {kernel}")
            if shape[2 + i] + 2 * padding[i] < kernel[i]:
                raise ValueError(f"impossible pooling: kernel {kernel[i]} is larger than the "
                                 f"padded input {axis} {shape[2 + i] + 2 * padding[i]}")
        return cls(shape, kernel, stride, padding)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        n, c, h, w = self.input_shape
        return (n, c, *((size + 2 * p - k) // s + 1 for size, k, s, p in
                        zip((h, w), self.kernel, self.stride, self.padding, strict=True)))

    @property
    def window(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def overlap(self) -> int:
        """The most windows any input position belongs to."""
        return math.prod(-(-k // s) for k, s in zip(self.kernel, self.stride, strict=True))

    def taps(self):
        """``(ki, kj, rows, cols)``: the slices of the padded input each window tap reads."""
        _, _, oh, ow = self.output_shape
        (sh, sw) = self.stride
        for ki in range(self.kernel[0]):
            for kj in range(self.kernel[1]):
                yield ki, kj, slice(ki, ki + sh * (oh - 1) + 1, sh), slice(kj, kj + sw * (ow - 1)
                                                                          + 1, sw)

    def pad(self, values: np.ndarray, fill) -> np.ndarray:
        """``values`` with ``fill`` around it (``values`` itself without padding)."""
        if not any(self.padding):
            return values
        n, c, h, w = self.input_shape
        ph, pw = self.padding
        out = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=values.dtype)
        out[:, :, ph:ph + h, pw:pw + w] = values
        return out

    def crop(self, padded: np.ndarray) -> np.ndarray:
        _, _, h, w = self.input_shape
        ph, pw = self.padding
        return np.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])


def _sum_format(fmt: QFormat, step: float | None, terms: int, divisor: int):
    """Format and step of a sum of ``terms`` codes of ``fmt`` whose value is divided by
    ``divisor``: the division is folded into the scale (see the module docstring)."""
    low, high = terms * fmt.min_code, terms * fmt.max_code
    bits = signed_width(low, high) if fmt.signed else max(1, high.bit_length())
    if bits > MAX_BITS:
        raise ValueError(f"a sum of {terms} codes of {fmt} needs {bits} bits, more than 62")
    power = divisor.bit_length() - 1
    if divisor == 1 << power:
        new_step = None if step is None else step / divisor
        return QFormat(bits, fmt.frac + power, fmt.signed), new_step
    lsb = step if step is not None else fmt.lsb
    return QFormat(bits, fmt.frac, fmt.signed), lsb / divisor


def _window_sum(values: np.ndarray, geom: PoolGeometry, dtype) -> np.ndarray:
    padded = geom.pad(values, 0)
    out = np.zeros(geom.output_shape, dtype=dtype)
    for _, _, rows, cols in geom.taps():
        out += padded[:, :, rows, cols]
    return out


def _spread(grad: np.ndarray, geom: PoolGeometry, dtype) -> np.ndarray:
    n, c, h, w = geom.input_shape
    padded = np.zeros((n, c, h + 2 * geom.padding[0], w + 2 * geom.padding[1]), dtype=dtype)
    for _, _, rows, cols in geom.taps():
        padded[:, :, rows, cols] += grad
    return geom.crop(padded)


def max_pool2d(x: Operand, kernel, stride=None, padding=0) -> tuple[Operand, np.ndarray]:
    """Max pooling of codes: each window's largest code and where it is.

    Windows as PyTorch's (``ceil_mode=False``): ``OH = (H + 2*ph - kh) // sh + 1``, ``OW``
    likewise. Codes are compared as integers, never rounded; on a tie the first maximum in
    row-major window order wins, and padding never does.

    Parameters
    ----------
    x : FxArray or numpy.ndarray
        Codes ``(N, C, H, W)``, or float64 values (then NaN wins over numbers, the first NaN
        of a window, and padding is -inf).
    kernel : int or (int, int)
        Window ``(kh, kw)``, each >= 1; an int applies to both axes.
    stride : int or (int, int) or None, default None
        Step between windows, each >= 1; None is the kernel (non-overlapping windows).
    padding : int or (int, int), default 0
        Zeros (for max pooling: below every code) on each side, at most half the kernel.

    Returns
    -------
    out : FxArray or numpy.ndarray
        ``(N, C, OH, OW)``: the maxima, in ``x``'s format, step and dtype (float64 for float
        input).
    indices : numpy.ndarray
        int64 ``(N, C, OH, OW)``: each maximum's flat position ``ih * W + iw`` in its input
        plane (PyTorch's convention), for :func:`max_pool2d_backward`.

    Raises
    ------
    TypeError
        ``x`` neither an FxArray nor a float64 ndarray; a non-integer ``kernel``, ``stride`` or
        ``padding``.
    ValueError
        ``x`` not 4-D; a kernel or stride below 1, a negative padding or one over half the
        kernel; a kernel larger than the padded input.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.array([[[[1, 5, 2, 0], [3, 5, -1, 4]]]], dtype=np.int8), QFormat(8, 3))
    >>> out, idx = ops.max_pool2d(x, 2)
    >>> out.raw.tolist(), idx.tolist(), str(out.fmt)  # the first 5 wins: position 0 * 4 + 1
    ([[[[5, 4]]]], [[[[1, 7]]]], 's8.3')
    """
    mode = operand_mode(x=x)
    geom = PoolGeometry.build(getattr(x, "shape", ()), kernel, stride, padding)
    values = x if mode == FLOAT else x.raw
    if mode == FLOAT:
        fill = -np.inf
    else:  # below every code, so padding never wins (a tie keeps the first real maximum)
        values = values.astype(np.int16 if values.itemsize == 1 else np.int64, copy=False)
        fill = np.iinfo(values.dtype).min
    padded = geom.pad(values, fill)
    best = np.full(geom.output_shape, fill, dtype=values.dtype)
    tap = np.zeros(geom.output_shape, dtype=np.int16)  # the winning tap ki * KW + kj
    for ki, kj, rows, cols in geom.taps():
        candidate = padded[:, :, rows, cols]
        better = candidate > best
        if mode == FLOAT:
            better |= np.isnan(candidate) & ~np.isnan(best)
        np.copyto(best, candidate, where=better)
        tap[better] = ki * geom.kernel[1] + kj
    _, _, oh, ow = geom.output_shape
    rows = np.arange(oh).reshape(-1, 1) * geom.stride[0] - geom.padding[0]
    cols = np.arange(ow).reshape(1, -1) * geom.stride[1] - geom.padding[1]
    index = (rows + tap // geom.kernel[1]) * geom.input_shape[3] + (cols + tap % geom.kernel[1])
    if mode == FLOAT:
        return best, index
    return FxArray(best.astype(x.raw.dtype), x.fmt, check=False, step=x.step), index


def max_pool2d_backward(grad_out: Operand, indices: np.ndarray,
                        input_shape: tuple[int, ...]) -> Operand:
    """Gradient of :func:`max_pool2d`: each ``grad_out`` code added at its window's maximum.

    Starting from zero codes of ``input_shape``, each ``grad_out`` code is added at its
    ``indices`` position; overlapping windows that chose one input add, exactly.

    Parameters
    ----------
    grad_out : FxArray or numpy.ndarray
        Gradient codes of the pooling's output ``(N, C, OH, OW)``, or float64 values.
    indices : numpy.ndarray
        The integer ``indices`` :func:`max_pool2d` returned, of ``grad_out``'s shape, each in
        ``[0, H * W)``.
    input_shape : tuple of int
        ``(N, C, H, W)`` of the pooling's input.

    Returns
    -------
    FxArray or numpy.ndarray
        int64 codes of ``input_shape`` with ``grad_out``'s frac, step and signedness and the
        word length that holds the largest sum (from the most outputs that chose one input);
        float64 for float input.

    Raises
    ------
    TypeError
        ``grad_out`` neither an FxArray nor a float64 ndarray; ``indices`` not integers.
    ValueError
        ``input_shape`` not 4-D; ``indices`` and ``grad_out`` of different shapes, or not
        ``input_shape``'s ``(N, C)``; an index outside ``[0, H * W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> g = FxArray(np.array([[[[3, -2]]]], dtype=np.int8), QFormat(8, 6))
    >>> idx = np.array([[[[1, 7]]]])  # from max_pool2d on a (1, 1, 2, 4) input
    >>> ops.max_pool2d_backward(g, idx, (1, 1, 2, 4)).raw.tolist()
    [[[[0, 3, 0, 0], [0, 0, 0, -2]]]]
    """
    mode = operand_mode(grad_out=grad_out)
    n, c, h, w = check_shape("input_shape", input_shape, 4, "(N, C, H, W)")
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    if indices.shape != grad_out.shape or grad_out.shape[:2] != (n, c):
        raise ValueError(f"indices {indices.shape} and grad_out {grad_out.shape} must have one "
                         f"shape, with the input_shape's (N, C) = {(n, c)}")
    if indices.size and (indices.min() < 0 or indices.max() >= h * w):
        raise ValueError(f"indices must lie in [0, {h * w}) (H * W), got "
                         f"[{indices.min()}, {indices.max()}]")
    planes = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)
    flat = (indices.astype(np.int64) + planes).ravel()
    values = grad_out if mode == FLOAT else grad_out.raw.astype(np.int64)
    out = np.zeros(n * c * h * w, dtype=values.dtype)
    np.add.at(out, flat, values.ravel())
    out = out.reshape(n, c, h, w)
    if mode == FLOAT:
        return out
    most = int(np.bincount(flat).max()) if flat.size else 1
    fmt, _ = _sum_format(grad_out.fmt, grad_out.step, most, 1)
    return FxArray(out, fmt, check=False, step=grad_out.step)


def avg_pool2d(x: Operand, kernel, stride=None, padding=0) -> Operand:
    """Average pooling of codes: the exact window sum, the division folded into the scale.

    With ``k = kh * kw``: the result's codes are the window sums, and its LSB is ``x.lsb / k``:
    ``frac += log2(k)`` when ``k`` is a power of two (exact), else a real ``step = x.lsb / k``
    (float64). Zero padding counts in the divisor (PyTorch's ``count_include_pad=True``).
    Windows and output size as :func:`max_pool2d`.

    Parameters
    ----------
    x : FxArray or numpy.ndarray
        Codes ``(N, C, H, W)``, or float64 values (then the float64 mean, padding counted).
    kernel, stride, padding
        The window, its step and the zero padding, as :func:`max_pool2d`.

    Returns
    -------
    FxArray or numpy.ndarray
        ``(N, C, OH, OW)`` int64 window sums in the smallest word length that holds every
        possible sum of ``k`` codes (``x``'s signedness), with the scale above; float64 for
        float input.

    Raises
    ------
    TypeError, ValueError
        As :func:`max_pool2d`; also ValueError when the sum needs more than 62 bits.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> x = FxArray(np.array([[[[1, 5, 2, 0], [3, 5, -1, 4]]]], dtype=np.int8), QFormat(8, 3))
    >>> a = ops.avg_pool2d(x, 2)  # sums 14 and 5; k = 4: frac 3 + 2
    >>> a.raw.tolist(), str(a.fmt), a.step, a.to_float().tolist()
    ([[[[14, 5]]]], 's10.5', None, [[[[0.4375, 0.15625]]]])
    >>> ops.avg_pool2d(x, (1, 3), stride=1).step  # k = 3: 2**-3 / 3
    0.041666666666666664
    """
    mode = operand_mode(x=x)
    geom = PoolGeometry.build(getattr(x, "shape", ()), kernel, stride, padding)
    if mode == FLOAT:
        return _window_sum(x, geom, np.float64) / geom.window
    fmt, step = _sum_format(x.fmt, x.step, geom.window, geom.window)
    return FxArray(_window_sum(x.raw, geom, np.int64), fmt, check=False, step=step)


def avg_pool2d_backward(grad_out: Operand, input_shape: tuple[int, ...], kernel, stride=None,
                        padding=0) -> Operand:
    """Gradient of :func:`avg_pool2d`: each window's code spread over it, summed exactly.

    Each input position gets the sum of the ``grad_out`` codes of the windows that contain it,
    the scale divided by ``kh * kw`` (folded into the scale as in :func:`avg_pool2d`); zero
    padding takes its share of each window, which is dropped.

    Parameters
    ----------
    grad_out : FxArray or numpy.ndarray
        Gradient codes of the pooling's output ``(N, C, OH, OW)``, or float64 values.
    input_shape : tuple of int
        ``(N, C, H, W)`` of the pooling's input.
    kernel, stride, padding
        Those of the forward :func:`avg_pool2d`.

    Returns
    -------
    FxArray or numpy.ndarray
        int64 codes of ``input_shape`` in the smallest word length that holds a sum of
        ``ceil(kh/sh) * ceil(kw/sw)`` codes (the most windows covering one position;
        ``grad_out``'s signedness), LSB ``grad_out.lsb / (kh * kw)``; float64 for float input.

    Raises
    ------
    TypeError, ValueError
        As :func:`max_pool2d`; also ValueError when ``grad_out`` does not have the pooling's
        output shape, or the sum needs more than 62 bits.

    Examples
    --------
    >>> import numpy as np
    >>> from fxsim import FxArray, QFormat, ops
    >>> g = FxArray(np.array([[[[3, -2]]]], dtype=np.int8), QFormat(8, 6))
    >>> b = ops.avg_pool2d_backward(g, (1, 1, 2, 4), 2)
    >>> b.raw.tolist(), str(b.fmt)
    ([[[[3, 3, -2, -2], [3, 3, -2, -2]]]], 's8.8')
    """
    mode = operand_mode(grad_out=grad_out)
    geom = PoolGeometry.build(input_shape, kernel, stride, padding, name="input_shape")
    if tuple(grad_out.shape) != geom.output_shape:
        raise ValueError(f"grad_out must have the pooling's output shape {geom.output_shape}, "
                         f"got {tuple(grad_out.shape)}")
    if mode == FLOAT:
        return _spread(grad_out, geom, np.float64) / geom.window
    fmt, step = _sum_format(grad_out.fmt, grad_out.step, geom.overlap, geom.window)
    return FxArray(_spread(grad_out.raw, geom, np.int64), fmt, check=False, step=step)
