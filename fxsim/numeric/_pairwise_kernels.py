"""numpy's pairwise summation of float64, compiled: one leaf of the tree of
:mod:`fxsim.numeric.pairwise` summed in one pass, bit for bit as ``np.add.reduce`` sums it,
without numpy's calls (and, for the squares around a mean, without their temporary).

``np.add.reduce`` of a contiguous float64 run of ``n`` elements is ``0.0 + pairwise(n)``, where
(``pairwise_sum`` in numpy's ``loops_utils.h.src``) a run of fewer than 8 elements is added
left to right onto ``-0.0``; a run of at most 128 is summed by eight partial sums ``r[j]``
(element ``i`` into ``r[i % 8]``, over the first ``n - n % 8`` elements), combined as
``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, the last ``n % 8`` elements then added
one by one; a longer run splits at ``n // 2`` rounded down to a multiple of 8, each half summed
the same way and the two sums added. ``np.std`` sums the squares ``d * d`` of ``d = x - mean``
(two float64 operations, no fused multiply-add), which the kernel forms on the fly.
``tests/test_block_statistics.py`` pins the equality with the installed numpy.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, register_model

from fxsim.numeric.pairwise import PAIRWISE_BLOCK

_F64 = ir.DoubleType()
_VEC = ir.VectorType(_F64, 8)


class F64x8Type(types.Type):
    """The numba type of a ``<8 x double>`` value: numpy's eight partial sums, lane ``j``
    holding ``r[j]`` (each lane's arithmetic is IEEE float64, as the scalar one)."""

    def __init__(self) -> None:
        super().__init__(name="f64x8")


f64x8 = F64x8Type()


@register_model(F64x8Type)
class _F64x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, _VEC)


@intrinsic
def _load(typingctx, array, index):
    """``array[index : index + 8]`` of a C-contiguous float64 array, as eight lanes (other
    arrays do not compile: the load reads eight consecutive float64)."""
    if (not isinstance(array, types.Array) or array.dtype != types.float64
            or array.layout != "C" or not isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.gep(data, [args[1]])
        return builder.load(builder.bitcast(pointer, _VEC.as_pointer()), align=8)
    return f64x8(array, index), codegen


@intrinsic
def _add(typingctx, a, b):
    """``a + b`` lane by lane."""
    if a != f64x8 or b != f64x8:
        return None

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])
    return f64x8(a, b), codegen


@intrinsic
def _square_around(typingctx, a, mean):
    """``(a - mean) * (a - mean)`` lane by lane (two roundings, no fused multiply-add)."""
    if a != f64x8 or not isinstance(mean, types.Float):
        return None

    def codegen(context, builder, signature, args):
        splat = builder.insert_element(ir.Constant(_VEC, None), args[1],
                                       ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, ir.Constant(_VEC, None),
                                       ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))
        d = builder.fsub(args[0], splat)
        return builder.fmul(d, d)
    return f64x8(a, mean), codegen


@intrinsic
def _lane(typingctx, a, k):
    """Lane ``k`` of ``a``."""
    if a != f64x8 or not isinstance(k, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        return builder.extract_element(args[0], ir.Constant(ir.IntType(32), k.literal_value))
    return types.float64(a, k), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _term(v, mean, squares):  # pragma: no cover - compiled
    if squares:
        d = v - mean
        return d * d
    return v


@numba.njit(cache=True, nogil=True, inline="always")
def _terms(values, i, mean, squares):  # pragma: no cover - compiled
    """The eight terms from ``values[i]`` on, as lanes."""
    v = _load(values, i)
    return _square_around(v, mean) if squares else v


@numba.njit(cache=True, nogil=True)
def _run(values, start, count, mean, squares):  # pragma: no cover - compiled
    """numpy's ``pairwise_sum`` of ``count <= 128`` terms from ``values[start]`` on."""
    if count < 8:
        total = -0.0
        for i in range(count):
            total += _term(values[start + i], mean, squares)
        return total
    r = _terms(values, start, mean, squares)
    whole = count - count % 8
    for i in range(start + 8, start + whole, 8):
        r = _add(r, _terms(values, i, mean, squares))
    total = (((_lane(r, 0) + _lane(r, 1)) + (_lane(r, 2) + _lane(r, 3)))
             + ((_lane(r, 4) + _lane(r, 5)) + (_lane(r, 6) + _lane(r, 7))))
    for i in range(start + whole, start + count):
        total += _term(values[i], mean, squares)
    return total


@numba.njit(cache=True, nogil=True)
def _pairwise(values, start, count, mean, squares):  # pragma: no cover - compiled
    """numpy's ``pairwise_sum`` of ``count`` terms from ``values[start]`` on. The recursion
    as a loop over a stack of the runs longer than 128 being summed (at most 64 deep): each
    frame's left half is summed first and kept, then its right half, then the two added and
    handed to the frame below."""
    if count <= PAIRWISE_BLOCK:
        return _run(values, start, count, mean, squares)
    starts = np.empty(64, dtype=np.int64)
    counts = np.empty(64, dtype=np.int64)
    lefts = np.empty(64, dtype=np.float64)  # a frame's left half's sum, once known
    right_next = np.zeros(64, dtype=np.bool_)  # the frame's left half is summed
    depth = 0
    starts[0], counts[0] = start, count
    while True:
        half = counts[depth] // 2
        half -= half % 8
        if right_next[depth]:
            child_start, child_count = starts[depth] + half, counts[depth] - half
        else:
            child_start, child_count = starts[depth], half
        if child_count > PAIRWISE_BLOCK:
            depth += 1
            starts[depth], counts[depth], right_next[depth] = child_start, child_count, False
            continue
        total = _run(values, child_start, child_count, mean, squares)
        while right_next[depth]:  # hand finished sums down the stack
            total = lefts[depth] + total
            if depth == 0:
                return total
            depth -= 1
        lefts[depth] = total
        right_next[depth] = True


@numba.njit(cache=True, nogil=True)
def add_reduce(values, mean, squares):  # pragma: no cover - compiled
    """``np.add.reduce(values)`` of a contiguous float64 array, or with ``squares``
    ``np.add.reduce((values - mean)**2)`` as ``np.std`` forms the squares, bit for bit."""
    return 0.0 + _pairwise(values, 0, values.size, mean, squares)


def leaf_sum(values: np.ndarray, scratch: np.ndarray) -> float:
    """:func:`fxsim.numeric.pairwise.leaf_sum`, compiled (``scratch`` unused)."""
    return add_reduce(values, 0.0, False)


def leaf_squares(mean: float, values: np.ndarray, scratch: np.ndarray) -> float:
    """:func:`fxsim.numeric.pairwise.leaf_squares`, compiled, in one pass (``scratch``
    unused)."""
    return add_reduce(values, mean, True)
