"""Which exact path a multiply-accumulate op takes, and why.

Every path gives identical integers; they differ in speed only:

* ``int8``: codes that fit bytes (the first operand unsigned, or signed and read as
  ``code + 128``; the second signed) multiplied four at a time into 32-bit lanes by the byte
  dot product (AVX-512 VNNI ``vpdpbusd`` where the host has it, :mod:`fxsim.ops._simd`).
  Lanes add modulo 2**32, so a sum is exact when its true value is below 2**31 in magnitude:
  guaranteed when ``chunk * A * B < 2**31``, ``A`` the largest byte of the first operand as
  read (255 for signed codes), ``B`` the largest ``|code|`` of the second, both from the
  formats; ``chunk`` terms per 32-bit sum (the whole reduction for a convolution, at most
  ``(2**31 - 1) // (A * B)`` positions per tile of the weight gradient, whose tiles' sums are
  added in int64). The formats prove it, so no pass over the codes is needed.
* ``float32``: products and sums in float32, exact while every partial sum is an integer below
  ``2**24`` in magnitude, guaranteed when ``terms * max|a| * max|b| < 2**24`` (``max|.|`` over
  the operands' actual codes). A longer reduction (the weight gradient's, or a forward sum
  of many wide codes) is cut into chunks of ``chunk`` terms that each satisfy the bound; the
  chunks' sums are added in float64 or int64 (exact while the whole bound is below ``2**53``).
* ``float64``: the same in float64, exact while ``terms * max|a| * max|b| < 2**53``.
* ``int64``: int64 arithmetic, exact for every sum that fits 62 bits.
* ``sequential``: int64, one output at a time, adding in the documented order and saturating
  at every add: the only path for a narrow saturating accumulator that may overflow.

A narrow wrapping accumulator takes the exact sums of any path and wraps once at the end
(modular arithmetic: the same as wrapping at every add).
"""

from __future__ import annotations

from dataclasses import dataclass

from fxsim.numeric.arith import max_abs_code
from fxsim.numeric.formats import FxArray, QFormat
from fxsim.ops._simd import NATIVE_DOT
from fxsim.ops.accumulator import Accumulator, register_range, wide_bits

PATHS = ("auto", "int8", "float32", "float64", "int64", "sequential")
INT32_LIMIT = 1 << 31
FLOAT32_LIMIT = 1 << 24
FLOAT64_LIMIT = 1 << 53
INT64_LIMIT = 1 << 62
MIN_CHUNK = 256  # shortest float32 chunk worth its own partial sums; else float64


@dataclass(frozen=True)
class Plan:
    """How one op call is computed (what :func:`fxsim.ops.explain` returns). Frozen.

    Attributes
    ----------
    op : str
        The op's public name (``conv2d``, ``linear_backward_weight``, ...).
    path : str
        One of :data:`PATHS` without ``auto`` (``float64-baseline`` for float operands, whose
        plan leaves the fields below ``terms`` at their defaults).
    reason : str
        Why, in words.
    terms : int
        Products summed per output (at most).
    max_a, max_b : int
        Bounds on the ``|code|`` of each operand, from ``bounds``.
    bound : int
        ``terms * max_a * max_b``, the largest possible ``|partial sum|``.
    acc_bits : int
        The result register's width (the result's word length).
    wide_bits : int
        The width that never overflows for these formats.
    overflow : str
        The register's mode, ``saturate`` or ``wrap``.
    may_overflow : bool
        Whether ``bound`` exceeds the register.
    chunk : int or None
        Terms per float32 chunk or per 32-bit sum of the ``int8`` path (``>= terms``: one) or
        None.
    bounds : str
        Where ``max_a`` and ``max_b`` come from: ``"format"`` (the formats' largest codes:
        enough to prove the ``int8`` path, no pass over the codes) or ``"scan"`` (the largest
        ``|code|`` actually present, one pass over each operand).
    """

    op: str
    path: str
    reason: str
    terms: int
    max_a: int = 0
    max_b: int = 0
    bound: int = 0
    acc_bits: int = 0
    wide_bits: int = 0
    overflow: str = "saturate"
    may_overflow: bool = False
    chunk: int | None = None
    bounds: str = "scan"


def check_path(path: object) -> str:
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}; got {path!r}")
    return path  # type: ignore[return-value]


def float_plan(op: str, terms: int) -> Plan:
    return Plan(op, "float64-baseline", "float64 operands: the float baseline, computed in "
                "float64 (accumulator ignored)", terms)


def format_max_abs(fmt: QFormat) -> int:
    """The largest ``|code|`` of ``fmt``."""
    return max(-fmt.min_code, fmt.max_code)


def int8_chunk(op: str, a: QFormat, b: QFormat, terms: int, longest_run: int) -> int | None:
    """Terms per exact 32-bit sum of the ``int8`` path for operands of formats ``a`` and ``b``
    (see the module docstring), or None where the path is not exact: codes that do not fit
    bytes, or a sum that may reach 2**31. ``longest_run``: positions the weight gradient's
    kernel must sum at least (a frame row)."""
    if a.bits > 8 or b.bits > (8 if b.signed else 7):
        return None
    largest_byte = 255 if a.signed else a.max_code  # signed codes are read as code + 128
    product = largest_byte * format_max_abs(b)
    if product == 0:
        return max(terms, 1)
    chunk = (INT32_LIMIT - 1) // product
    if op.endswith("backward_weight"):
        return chunk if chunk >= longest_run else None
    return max(terms, 1) if terms <= chunk else None


def plan_mac(op: str, a: FxArray, b: FxArray, terms: int, acc: Accumulator,
             path: str, longest_run: int = 1) -> Plan:
    """Choose the path of an op summing ``terms`` products of ``a``'s and ``b``'s codes
    (``longest_run``: see :func:`int8_chunk`).

    The ``int8`` path is exact by the formats alone; on a host with AVX-512 VNNI, ``auto``
    takes it without reading the codes. Otherwise the plan scans both operands for their
    largest ``|code|`` and picks the fastest path exact for them.

    Raises ValueError when the accumulator would be wider than 62 bits or a requested path
    is not exact for these operands.
    """
    path = check_path(path)
    wide = wide_bits(a.fmt, b.fmt, terms)
    if acc.bits is None and wide > 62:
        raise ValueError(
            f"{op}: the wide accumulator needs {wide} bits ({terms} products of {a.fmt} and "
            f"{b.fmt} codes), more than 62; pass acc=Accumulator(bits<=62, ...) or narrower "
            "operands")
    acc_bits = wide if acc.bits is None else acc.bits
    _low, high = register_range(acc_bits)
    byte_chunk = int8_chunk(op, a.fmt, b.fmt, terms, longest_run)
    max_a, max_b = format_max_abs(a.fmt), format_max_abs(b.fmt)
    saturating = terms * max_a * max_b > high and acc.overflow == "saturate"
    int8 = byte_chunk is not None and (path == "int8" or (path == "auto" and NATIVE_DOT))
    by_format = int8 and not saturating
    if not by_format:
        max_a, max_b = max_abs_code(a), max_abs_code(b)
    bound = terms * max_a * max_b
    may_overflow = bound > high
    base = dict(op=op, terms=terms, max_a=max_a, max_b=max_b, bound=bound, acc_bits=acc_bits,
                wide_bits=wide, overflow=acc.overflow, may_overflow=may_overflow,
                bounds="format" if by_format else "scan")
    if may_overflow and acc.overflow == "saturate":
        if path not in ("auto", "sequential"):
            raise ValueError(f"{op}: path {path!r} cannot model a saturating {acc_bits}-bit "
                             f"accumulator that may overflow (bound {bound} > {high}); use "
                             "path='sequential' or 'auto'")
        if max_a * max_b >= INT64_LIMIT:
            raise ValueError(f"{op}: a single product reaches {max_a * max_b}, beyond 62 bits")
        return Plan(path="sequential", reason=f"a saturating {acc_bits}-bit accumulator may "
                    f"overflow (bound {bound} > {high}): adds in the documented order, "
                    "clamping at each", **base)
    if bound >= INT64_LIMIT:
        raise ValueError(f"{op}: the exact sums may reach {bound} (62 bits or more), which the "
                         "kernels cannot hold; use narrower operands or a saturating "
                         "accumulator")
    if int8:
        how = ("requested" if path == "int8" else
               "exact in 32-bit lanes: byte codes (from the formats), every 32-bit sum below "
               f"2**31 ({'tiles of' if byte_chunk < terms else 'sums of'} at most {byte_chunk} "
               "terms)")
        return Plan(path="int8", reason=how, chunk=byte_chunk, **base)
    chunk = _float32_chunk(terms, max_a * max_b, bound)
    exact = {"int8": False, "float32": chunk is not None, "float64": bound < FLOAT64_LIMIT,
             "int64": True, "sequential": True}
    if path != "auto":
        if not exact[path]:
            if path == "int8":
                raise ValueError(
                    f"{op}: path 'int8' is not exact here: it needs codes that fit bytes "
                    f"(the first operand at most 8 bits, the second signed 8 or unsigned 7 "
                    f"bits; got {a.fmt} and {b.fmt}) and every 32-bit sum below 2**31")
            limit = "2**24" if path == "float32" else "2**53"
            raise ValueError(f"{op}: path {path!r} is not exact here: terms * max|a| * max|b| "
                             f"= {terms} * {max_a} * {max_b} = {bound} >= {limit}")
        return Plan(path=path, reason="requested", chunk=chunk if path == "float32" else None,
                    **base)
    if chunk is not None:
        how = (f"bound {bound} < 2**24" if chunk >= terms else
               f"chunks of {chunk} terms each below 2**24, total {bound} < 2**53")
        return Plan(path="float32", reason=f"exact in float32: {how}", chunk=chunk, **base)
    if exact["float64"]:
        return Plan(path="float64", reason=f"exact in float64: bound {bound} < 2**53", **base)
    return Plan(path="int64", reason=f"bound {bound} >= 2**53: int64 arithmetic", **base)


def _float32_chunk(terms: int, max_product: int, bound: int) -> int | None:
    """Terms per exact float32 chunk, or None when float32 cannot be exact (or is not worth it)."""
    if bound < FLOAT32_LIMIT:
        return max(terms, 1)
    if bound >= FLOAT64_LIMIT or max_product == 0:
        return None
    chunk = (FLOAT32_LIMIT - 1) // max_product
    return chunk if chunk >= MIN_CHUNK else None
