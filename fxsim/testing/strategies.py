"""Hypothesis strategies for fixed-point testing: formats, rounding modes, float values that hit
the cases rounding gets wrong, code arrays, real steps and policies.

Each strategy shrinks toward the simple case (small codes, the first listed offset, a small
format), so a failing example reduces to a readable one.

>>> from hypothesis import given
>>> from fxsim.testing import strategies as fst
>>> @given(fst.qformats(bits=(2, 16)), fst.data())
... def test_mine(fmt, data):
...     x = data.draw(fst.float_values(fmt))
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy, data  # noqa: F401  (re-exported)

from fxsim.numeric.formats import MAX_BITS, QFormat
from fxsim.numeric.rounding import MAX_RANDOM_BITS, ROUNDING_MODES
from fxsim.numeric.user_rounding import registered_names
from fxsim.policy import QUANTIZER_ROLES as QUANTIZED_ROLES

SMALLEST_SUBNORMAL = 5e-324
SMALLEST_NORMAL = 2.2250738585072014e-308
LARGEST = 1.7976931348623157e308
SPECIAL_FLOATS = (0.0, -0.0, SMALLEST_SUBNORMAL, -SMALLEST_SUBNORMAL, SMALLEST_NORMAL, LARGEST,
                  -LARGEST, 0.5, -0.5, 1.5, -2.5, 2.0**52 + 1, -(2.0**53))
"""Floats every conversion must get right: signed zeros, the smallest subnormal and normal,
the largest float, small ties, and integers at the edge of float64's precision."""
GRID_OFFSETS = (0.0, 0.5, 0.25, 0.75, -0.5, -0.25, 0.4999999, 0.5000001)
"""Offsets from a code, in LSBs, that :func:`grid_values` adds: on the grid, at a tie, between."""
FRAC_SUBNORMAL = (1000, 1100)
"""Fraction lengths whose LSB is a subnormal float (2**-1074 is the smallest)."""


def _ints(value: Any, default: tuple[int, int]) -> SearchStrategy[int]:
    """An int, a ``(low, high)`` pair, a strategy, or None (``default``) as a strategy."""
    if value is None:
        value = default
    if isinstance(value, SearchStrategy):
        return value
    if isinstance(value, tuple):
        return st.integers(*value)
    return st.just(int(value))


@functools.cache
def fracs() -> SearchStrategy[int]:
    """Fraction lengths: small ones (0..8) first, then usual ones (-8..70), then the whole
    range a float64 can reach, including those whose LSB is subnormal and beyond."""
    return st.one_of(st.integers(0, 8), st.integers(-8, 70), st.integers(-1200, 1200),
                     st.integers(*FRAC_SUBNORMAL), st.sampled_from([-2000, 1100, 1200]))


def qformats(bits: Any = None, frac: Any = None, signed: Any = None
             ) -> SearchStrategy[QFormat]:
    """:class:`~fxsim.QFormat` s. ``bits`` and ``frac``: an int, a ``(low, high)`` pair or a
    strategy (default: bits 1..62, :func:`fracs`); ``signed``: True, False or None (both)."""
    signs = st.booleans() if signed is None else st.just(bool(signed))
    frac_strategy = fracs() if frac is None else _ints(frac, (0, 0))
    return st.builds(QFormat, _ints(bits, (1, MAX_BITS)), frac_strategy, signs)


def rounding_modes(builtin: bool = True, registered: bool = True
                   ) -> SearchStrategy[tuple[str, int | None]]:
    """``(mode, random_bits)`` pairs: every built-in mode (``stochastic_k`` with 1..32 random
    bits) and every rule registered when the strategy is made (``random_bits`` None)."""
    names = [*(ROUNDING_MODES if builtin else ()), *(registered_names() if registered else ())]
    if not names:
        raise ValueError("rounding_modes: no mode to draw (builtin=False and none registered)")
    return st.sampled_from(names).flatmap(
        lambda m: st.tuples(st.just(m), st.integers(1, MAX_RANDOM_BITS)
                            if m == "stochastic_k" else st.none()))


def ldexp_finite(mantissa: float, exponent: int) -> float:
    """``mantissa * 2**exponent`` rounded to float64, the largest finite float past its range."""
    try:
        return math.ldexp(mantissa, exponent)
    except OverflowError:
        return math.copysign(LARGEST, mantissa)


# Values and codes are drawn as format-free specs, then resolved against a format: the checks
# draw specs and a fraction length side by side (no strategy built per format, which costs
# hypothesis more than the conversions under test), users call the per-format strategies.
CODE_EDGES = ("min", "max", "min-1", "max+1")
CODE_MARGIN = 4  # codes drawn reach this far outside a format's range


@functools.cache
def code_specs() -> SearchStrategy[int | str]:
    """Codes for any format: small integers first, then any up to ``2**62`` (clamped to the
    format's range plus :data:`CODE_MARGIN` when resolved), then the range's edges."""
    return st.one_of(st.integers(-8, 8), st.integers(-(2**62), 2**62),
                     st.sampled_from(CODE_EDGES))


def resolve_code(spec: int | str, fmt: QFormat, margin: int = CODE_MARGIN) -> int:
    """The code a :func:`code_specs` spec stands for in ``fmt``."""
    if isinstance(spec, str):
        spec = {"min": fmt.min_code, "max": fmt.max_code, "min-1": fmt.min_code - 1,
                "max+1": fmt.max_code + 1}[spec]
    return min(max(spec, fmt.min_code - margin), fmt.max_code + margin)


@functools.cache
def value_specs(allow_infinity: bool = True, allow_nan: bool = False) -> SearchStrategy[tuple]:
    """Format-free specs of the values of :func:`float_values`, for :func:`resolve_value`:
    ``("grid", code, offset)``, ``("tie", code, ulps)``, ``("float", x)``."""
    specials = [v for v in SPECIAL_FLOATS if allow_infinity or math.isfinite(v)]
    return st.one_of(
        st.tuples(st.just("grid"), code_specs(), st.sampled_from(GRID_OFFSETS)),
        st.tuples(st.just("tie"), code_specs(), st.sampled_from([0, -1, 1])),
        st.tuples(st.just("float"), st.sampled_from(specials)),
        st.tuples(st.just("float"), st.floats(allow_nan=allow_nan,
                                              allow_infinity=allow_infinity)),
        st.tuples(st.just("float"), st.floats(-4.0, 4.0)))


def resolve_value(spec: tuple, fmt: QFormat) -> float:
    """The float a :func:`value_specs` spec stands for in ``fmt``: a code plus an offset in
    LSBs, a tie ``(n + 1/2) * 2**-frac`` moved by ``ulps`` ULPs, or the float itself (values
    beyond float64's range become the largest finite float)."""
    kind = spec[0]
    if kind == "float":
        return spec[1]
    code = resolve_code(spec[1], fmt)
    if kind == "grid":
        return ldexp_finite(float(code) + spec[2], -fmt.frac)
    x = ldexp_finite(code + 0.5, -fmt.frac)
    x = math.nextafter(x, math.copysign(math.inf, spec[2])) if spec[2] else x
    return x if math.isfinite(x) else math.copysign(LARGEST, x)


def grid_values(fmt: QFormat) -> SearchStrategy[float]:
    """Values at codes of ``fmt`` (and just outside its range) plus :data:`GRID_OFFSETS` LSBs:
    on the grid, exact ties, quarter points (rounded to float64 when ``fmt``'s scale puts them
    beyond float64's precision or range)."""
    return st.tuples(st.just("grid"), code_specs(), st.sampled_from(GRID_OFFSETS)).map(
        lambda spec: resolve_value(spec, fmt))


def tie_values(fmt: QFormat, ulps: bool = True) -> SearchStrategy[float]:
    """Exact ties ``(n + 1/2) * 2**-frac`` (``n`` small first, then anywhere in and around the
    format), and with ``ulps`` the floats one ULP below and above each."""
    return st.tuples(st.just("tie"), code_specs(), st.sampled_from([0, -1, 1] if ulps else [0])
                     ).map(lambda spec: resolve_value(spec, fmt))


def float_values(fmt: QFormat, *, allow_infinity: bool = True, allow_nan: bool = False
                 ) -> SearchStrategy[float]:
    """Floats for quantizing to ``fmt`` that hit the interesting cases: values on and between
    its grid points, exact ties and one ULP around them, its range edges, subnormals and the
    float64 extremes (:data:`SPECIAL_FLOATS`), then any float, then any in [-4, 4]."""
    return value_specs(allow_infinity, allow_nan).map(lambda spec: resolve_value(spec, fmt))


def code_arrays(fmt: QFormat, min_size: int = 0, max_size: int = 50,
                shape: tuple[int, ...] | None = None) -> SearchStrategy[np.ndarray]:
    """Arrays of codes of ``fmt`` (dtype ``fmt.dtype``), rich in the range edges, 0 and +-1:
    flat of ``min_size..max_size`` elements, or of the given ``shape``."""
    if shape is not None:
        min_size = max_size = math.prod(shape)
    return st.lists(code_specs(), min_size=min_size, max_size=max_size).map(
        lambda specs: codes_of(specs, fmt, shape))


def codes_of(specs: list, fmt: QFormat, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The code array (``fmt.dtype``) that :func:`code_specs` specs stand for, clamped into
    ``fmt``'s range."""
    codes = [resolve_code(s, fmt, margin=0) for s in specs]
    array = np.array(codes, dtype=object).astype(fmt.dtype)
    return array.reshape(shape) if shape is not None else array


def steps() -> SearchStrategy[float]:
    """Real quantization steps (finite floats > 0): ordinary intervals first, then powers of
    two, then anything from the smallest subnormal to the largest float."""
    return st.one_of(st.floats(1e-3, 10.0), st.integers(-60, 60).map(lambda e: 2.0**e),
                     st.sampled_from([0.37, 0.1, 1 / 3, 2.0**-1074, LARGEST]),
                     st.floats(SMALLEST_SUBNORMAL, LARGEST))


# ---- policies -----------------------------------------------------------------------------------
_RANGES = ("minmax", "percentile", "mse", "zscore", "fixed", "large_grad_interval", "dorefa")


@st.composite
def _role(draw, role: str, modes: SearchStrategy) -> dict[str, Any]:
    spec: dict[str, Any] = {"bits": draw(st.integers(2, 16) if role != "weight_grads"
                                         else st.integers(8, 24))}
    mode, random_bits = draw(modes)
    spec["rounding"] = mode
    if random_bits is not None:
        spec["random_bits"] = random_bits
    rule = draw(st.sampled_from(_RANGES))
    spec["range"] = rule
    if rule == "fixed":
        spec["frac"] = draw(st.integers(0, spec["bits"]))
    if rule == "percentile":
        spec["percentile"] = draw(st.sampled_from([99.0, 99.9, 100.0]))
    if draw(st.booleans()):
        spec["overflow"] = draw(st.sampled_from(["saturate", "wrap"]))
    return spec


@st.composite
def _policy(draw, modes, layers: tuple[str, ...], modules: tuple[str, ...]) -> dict[str, Any]:
    defaults = {role: draw(_role(role, modes)) for role in QUANTIZED_ROLES}
    master_mode, master_bits = draw(modes)
    master = {"bits": draw(st.integers(16, 36)), "frac": draw(st.integers(8, 24)),
              "rounding": master_mode}
    if master_bits is not None:
        master["random_bits"] = master_bits
    defaults["master"] = master
    if draw(st.booleans()):
        defaults["accumulator"] = {"bits": draw(st.integers(24, 62)),
                                   "overflow": draw(st.sampled_from(["saturate", "wrap"]))}
    policy: dict[str, Any] = {"name": "drawn", "defaults": defaults}
    if modules:
        policy["rounding_modules"] = list(modules)
    tables = {}
    for layer in draw(st.lists(st.sampled_from(["first", "last", *layers]), max_size=3,
                               unique=True)):
        role = draw(st.sampled_from(QUANTIZED_ROLES))
        tables[layer] = {role: {"bits": draw(st.integers(2, 16))}}
    if tables:
        policy["layers"] = tables
    return policy


def policies(net: str | None = None, modes: SearchStrategy | None = None,
             rounding_modules: tuple[str, ...] = ()) -> SearchStrategy[dict[str, Any]]:
    """Valid policy dicts (the TOML's structure, for :meth:`fxsim.policy.Policy.load`): every
    quantized role with a word length, a rounding drawn from ``modes`` (default
    :func:`rounding_modes`), a range rule and overflow; a fixed-point master; sometimes a
    narrow accumulator and ``[layers.X]`` overrides, ``X`` among ``first``, ``last`` and the
    layers of the reference net ``net`` if given. ``rounding_modules`` goes into the policy
    (the modules registering the rules ``modes`` may draw)."""
    layers: tuple[str, ...] = ()
    if net is not None:
        from reference_nets.specs import default_input_shape, net_spec, places

        layers = tuple(p.name for p in places(net_spec(net), default_input_shape(net)))
    return _policy(rounding_modes() if modes is None else modes, layers,
                   tuple(rounding_modules))
