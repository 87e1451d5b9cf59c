"""Which exact path a multiply-accumulate op takes, and why.

Every path gives identical integers; they differ in speed only:

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
from fxsim.numeric.formats import FxArray
from fxsim.ops.accumulator import Accumulator, register_range, wide_bits

PATHS = ("auto", "float32", "float64", "int64", "sequential")
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
        The largest ``|code|`` of each operand.
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
        Terms per float32 chunk (``>= terms``: one) or None.
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


def check_path(path: object) -> str:
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}; got {path!r}")
    return path  # type: ignore[return-value]


def float_plan(op: str, terms: int) -> Plan:
    return Plan(op, "float64-baseline", "float64 operands: the float baseline, computed in "
                "float64 (accumulator ignored)", terms)


def plan_mac(op: str, a: FxArray, b: FxArray, terms: int, acc: Accumulator,
             path: str) -> Plan:
    """Choose the path of an op summing ``terms`` products of ``a``'s and ``b``'s codes.

    Raises ValueError when the accumulator would be wider than 62 bits or a requested path
    is not exact for these operands.
    """
    path = check_path(path)
    wide = wide_bits(a.fmt, b.fmt, terms)
    max_a, max_b = max_abs_code(a), max_abs_code(b)
    bound = terms * max_a * max_b
    if acc.bits is None and wide > 62:
        raise ValueError(
            f"{op}: the wide accumulator needs {wide} bits ({terms} products of {a.fmt} and "
            f"{b.fmt} codes), more than 62; pass acc=Accumulator(bits<=62, ...) or narrower "
            "operands")
    acc_bits = wide if acc.bits is None else acc.bits
    _low, high = register_range(acc_bits)
    may_overflow = bound > high
    base = dict(op=op, terms=terms, max_a=max_a, max_b=max_b, bound=bound, acc_bits=acc_bits,
                wide_bits=wide, overflow=acc.overflow, may_overflow=may_overflow)
    saturating = may_overflow and acc.overflow == "saturate"
    if saturating:
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
    chunk = _float32_chunk(terms, max_a * max_b, bound)
    exact = {"float32": chunk is not None, "float64": bound < FLOAT64_LIMIT,
             "int64": True, "sequential": True}
    if path != "auto":
        if not exact[path]:
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
