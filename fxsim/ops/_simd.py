"""Sixteen-lane int32 vectors for numba kernels, and the byte dot product of AVX-512 VNNI.

numba has no vector type, so this module gives it one: :data:`i32x16`, held in one LLVM
``<16 x i32>`` value (one ``zmm`` register on AVX-512, two ``ymm`` elsewhere), and intrinsics
that the compiled kernels call like functions and that LLVM inlines:

* :func:`vzero`, :func:`vsplat` (one int32 in every lane), :func:`vsub`;
* :func:`vload` (64 bytes at a byte offset of any array, unaligned), :func:`vbroadcast` (the
  4 bytes at a byte offset, in every lane), :func:`vstore` (16 int32 at an element index of an
  int32 array), :func:`vsum` (the wrapping int32 sum of the lanes, as int64);
* :func:`vdot4`: ``acc[i] + sum over k < 4 of u8(a[4i + k]) * s8(b[4i + k])`` in every lane, the
  products of unsigned and signed bytes summed in 32-bit lanes **modulo 2**32** (no
  saturation). With ``avx512vnni`` on the host it is the instruction ``vpdpbusd`` (64
  multiply-adds); elsewhere the same arithmetic in portable LLVM IR (:func:`vdot4_portable`:
  widen, multiply, add), which gives the same integers, more slowly.

Exactness: every lane is computed modulo 2**32, so a sum whose true value lies in
``[-2**31, 2**31)`` comes out exact whatever the order of its adds and whatever intermediate
values wrapped (addition modulo 2**32 is a ring homomorphism). The callers' plans
(:mod:`fxsim.ops.paths`) bound every such sum.

The choice between ``vpdpbusd`` and the portable IR is made when a kernel is compiled, from
the host's features (:data:`NATIVE_DOT`); numba's on-disk cache is keyed by the CPU and its
features, so a cache built on one machine is not used on another.
"""

from __future__ import annotations

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 16
VECTOR_BYTES = 4 * LANES
NATIVE_DOT = bool(llvm_binding.get_host_cpu_features().get("avx512vnni", False))

_I8, _I32 = ir.IntType(8), ir.IntType(32)
_VEC = ir.VectorType(_I32, LANES)
_BYTES = ir.VectorType(_I8, VECTOR_BYTES)
_WIDE = ir.VectorType(_I32, VECTOR_BYTES)


class I32x16Type(types.Type):
    """The numba type of a ``<16 x i32>`` value."""

    def __init__(self) -> None:
        super().__init__(name="i32x16")


i32x16 = I32x16Type()


@register_model(I32x16Type)
class _I32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, _VEC)


def _byte_pointer(context, builder, array_type, array, offset):
    """``array``'s data pointer moved by ``offset`` bytes, as an ``i8*``."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(builder.bitcast(data, _I8.as_pointer()), [offset])


def _splat(builder, value):
    vector = builder.insert_element(ir.Constant(_VEC, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(vector, ir.Constant(_VEC, None),
                                  ir.Constant(_VEC, [0] * LANES))


@intrinsic
def vzero(typingctx):
    """Sixteen zero lanes."""
    def codegen(context, builder, signature, args):
        return ir.Constant(_VEC, [0] * LANES)
    return i32x16(), codegen


@intrinsic
def vsplat(typingctx, value):
    """``value`` (an integer, truncated to 32 bits) in every lane."""
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return _splat(builder, builder.trunc(args[0], _I32) if value.bitwidth > 32
                      else builder.sext(args[0], _I32) if value.bitwidth < 32 else args[0])
    return i32x16(value), codegen


@intrinsic
def vsub(typingctx, a, b):
    """``a - b`` lane by lane, modulo 2**32."""
    if a != i32x16 or b != i32x16:
        return None

    def codegen(context, builder, signature, args):
        return builder.sub(args[0], args[1])
    return i32x16(a, b), codegen


@intrinsic
def vload(typingctx, array, offset):
    """The 64 bytes of ``array`` (any C-contiguous array) from byte ``offset`` on, as 16 lanes
    (unaligned; the caller keeps them inside the array)."""
    if not isinstance(array, types.Array) or not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        pointer = _byte_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load(builder.bitcast(pointer, _VEC.as_pointer()), align=1)
    return i32x16(array, offset), codegen


@intrinsic
def vbroadcast(typingctx, array, offset):
    """The 4 bytes of ``array`` at byte ``offset``, as an int32 in every lane."""
    if not isinstance(array, types.Array) or not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        pointer = _byte_pointer(context, builder, signature.args[0], args[0], args[1])
        return _splat(builder, builder.load(builder.bitcast(pointer, _I32.as_pointer()),
                                            align=1))
    return i32x16(array, offset), codegen


@intrinsic
def vstore(typingctx, array, index, value):
    """Store the lanes of ``value`` at elements ``index .. index + 15`` of the int32 array
    ``array`` (C-contiguous; the caller keeps them inside it)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int32
            and isinstance(index, types.Integer) and value == i32x16):
        return None

    def codegen(context, builder, signature, args):
        offset = builder.mul(args[1], ir.Constant(args[1].type, 4))
        pointer = _byte_pointer(context, builder, signature.args[0], args[0], offset)
        builder.store(args[2], builder.bitcast(pointer, _VEC.as_pointer()), align=1)
        return context.get_dummy_value()
    return types.none(array, index, value), codegen


@intrinsic
def vsum(typingctx, value):
    """The sum of the 16 lanes modulo 2**32 (a signed int32), as int64."""
    if value != i32x16:
        return None

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I32, [_VEC]), "llvm.vector.reduce.add.v16i32")
        return builder.sext(builder.call(function, [args[0]]), ir.IntType(64))
    return types.int64(value), codegen


def _dot4_portable(builder, acc, a, b):
    """``vpdpbusd``'s arithmetic in portable IR: unsigned bytes of ``a`` times signed bytes of
    ``b``, each group of four summed into a lane of ``acc`` (modulo 2**32)."""
    products = builder.mul(builder.zext(builder.bitcast(a, _BYTES), _WIDE),
                           builder.sext(builder.bitcast(b, _BYTES), _WIDE))
    total = acc
    for k in range(4):
        lanes = ir.Constant(_VEC, [4 * i + k for i in range(LANES)])
        total = builder.add(total, builder.shuffle_vector(products, ir.Constant(_WIDE, None),
                                                          lanes))
    return total


def _dot4_native(builder, acc, a, b):
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]), "llvm.x86.avx512.vpdpbusd.512")
    return builder.call(function, [acc, a, b])


def _dot4_typer(acc, a, b, emit):
    if acc != i32x16 or a != i32x16 or b != i32x16:
        return None

    def codegen(context, builder, signature, args):
        return emit(builder, *args)
    return i32x16(acc, a, b), codegen


@intrinsic
def vdot4_portable(typingctx, acc, a, b):
    """``vpdpbusd``'s arithmetic in portable LLVM IR (any host; tests compare it with
    :func:`vdot4`)."""
    return _dot4_typer(acc, a, b, _dot4_portable)


@intrinsic
def vdot4(typingctx, acc, a, b):
    """``acc + dot4(u8 a, s8 b)`` in every lane, modulo 2**32: ``vpdpbusd`` when the host has
    AVX-512 VNNI (:data:`NATIVE_DOT`), else :func:`vdot4_portable`'s IR."""
    return _dot4_typer(acc, a, b, _dot4_native if NATIVE_DOT else _dot4_portable)
