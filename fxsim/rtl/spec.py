"""What an RTL unit is: its kind and widths, parsed from ``KIND:key=value,...`` strings.

Every unit fxsim writes as Verilog is described by a frozen dataclass here; the text form
(``requant:in=32,out=8,rounding=nearest_even,shift=24``) is what the command line takes and what
names the generated module. :func:`parse_unit` turns text into a spec, :func:`unit_text` back.

Keys (bits are word lengths; ``*_signed`` are 0 or 1; every key has a default):

=========  ===================================================================================
kind       keys
=========  ===================================================================================
mac        ``a``, ``b`` (operand bits), ``a_signed``, ``b_signed``, ``acc`` (accumulator bits),
           ``overflow`` (saturate|wrap), ``counters`` (bits of the overflow-event counter; 0
           leaves it out)
requant    ``in``, ``in_signed``, ``out``, ``out_signed``, ``rounding`` (an fxsim mode), ``k``
           (random bits: stochastic_k only; stochastic is 62), ``shift`` (an integer, negative
           for a left shift, or ``runtime``), ``shift_bits`` (width of the runtime shift port),
           ``signed_shift`` (1: the runtime port is signed and negative values shift left),
           ``overflow``, ``clip_lo``/``clip_hi`` (saturation bounds inside the format),
           ``random`` (port: r is an input; lfsr: an :mod:`~fxsim.numeric.lfsr` generator inside),
           ``lfsr_width`` (its state bits)
rescale    ``in``, ``in_signed``, ``m`` (multiplier bits), ``multiplier`` (a fixed value or
           ``runtime``), ``shift``, ``shift_bits``, ``out``, ``out_signed``, ``rounding``,
           ``k``, ``overflow``: ``round(x * M / 2**shift)``, fxsim's real-step rescale
lfsr       ``width`` (state bits, 2..64), ``k`` (random bits per clock, a leap of k steps)
minmax     ``in``, ``in_signed``: running min, max, max|x| and ceil(log2(max|x|))
zscore     ``in``, ``in_signed``, ``count`` (bits of the element counter): n, sum, sum of
           squares and max|x|, the statistics of ARC's z-score clip
interval   ``in``, ``in_signed``, ``count``: max|x| and how many |x| exceed a threshold port,
           the statistics of the INT4 paper's large-gradient interval
=========  ===================================================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fxsim.numeric.formats import MAX_BITS, check_int
from fxsim.numeric.rounding import (
    MAX_RANDOM_BITS,
    OVERFLOW_MODES,
    STOCHASTIC_BITS,
    canonical_rounding,
)

RUNTIME = "runtime"
RANDOM_SOURCES = ("port", "lfsr")
MAX_LFSR_WIDTH = 64


def _bit_length(value: int) -> int:
    return max(int(value).bit_length(), 1)


@dataclass(frozen=True)
class MacSpec:
    """An ``a x b`` multiply-accumulate into a signed ``acc``-bit register."""

    a: int = 8
    b: int = 8
    a_signed: bool = True
    b_signed: bool = True
    acc: int = 24
    overflow: str = "saturate"
    counters: int = 16

    kind = "mac"

    def __post_init__(self) -> None:
        _check_bits(self, "a", "b", "acc")
        _check_choice(self, "overflow", OVERFLOW_MODES)
        check_int("mac key counters", self.counters, 0, 62)


class _Rounding:
    """What the requantizer and the rescale share: a shift, a rounding mode, an overflow mode."""

    def _check_rounding_shift(self, extra_bits: int) -> None:
        """Rounding, overflow, shift and clip; the widest right shift that still matters is
        ``in_bits + extra_bits + k + 1`` (``extra_bits``: what a multiplier adds)."""
        _check_rounding(self)
        _check_choice(self, "overflow", OVERFLOW_MODES)
        _check_shift(self, self.in_bits + extra_bits + self.k + 1)
        _check_clip(self)

    @property
    def runtime_shift(self) -> bool:
        return self.shift == RUNTIME

    @property
    def out_range(self) -> tuple[int, int]:
        """The saturation bounds: the clip, or the output format's range."""
        return _out_range(self)


@dataclass(frozen=True)
class RequantSpec(_Rounding):
    """A rounding shift (fixed or runtime), rounding mode and overflow handling."""

    in_bits: int = 32
    in_signed: bool = True
    out_bits: int = 8
    out_signed: bool = True
    rounding: str = "nearest_even"
    k: int = 0
    shift: int | str = RUNTIME
    shift_bits: int = 0
    signed_shift: bool = False
    overflow: str = "saturate"
    clip_lo: int | None = None
    clip_hi: int | None = None
    random: str = "port"
    lfsr_width: int = 32

    kind = "requant"

    def __post_init__(self) -> None:
        _check_bits(self, "in_bits", "out_bits")
        _check_choice(self, "random", RANDOM_SOURCES)
        self._check_rounding_shift(0)
        if self.random == "lfsr":
            if not self.k:
                raise ValueError("requant key random=lfsr needs a stochastic rounding mode")
            check_int("requant key lfsr_width", self.lfsr_width, max(self.k, 2), MAX_LFSR_WIDTH)


@dataclass(frozen=True)
class RescaleSpec(_Rounding):
    """fxsim's real-step rescale: ``x * M`` (``M`` unsigned, ``m`` bits), then a requantizer."""

    in_bits: int = 16
    in_signed: bool = True
    m: int = 16
    multiplier: int | str = RUNTIME
    shift: int | str = RUNTIME
    shift_bits: int = 0
    signed_shift: bool = False
    out_bits: int = 8
    out_signed: bool = True
    rounding: str = "nearest_even"
    k: int = 0
    overflow: str = "saturate"
    clip_lo: int | None = None
    clip_hi: int | None = None

    kind = "rescale"

    def __post_init__(self) -> None:
        _check_bits(self, "in_bits", "out_bits")
        check_int("rescale key m", self.m, 2, 53)  # fxsim.fixed_point_multiplier's range
        if self.in_bits + self.m > MAX_BITS - 1:
            raise ValueError(f"rescale keys in + m must be <= {MAX_BITS - 1} (the product, "
                             f"one bit wider, is a code of at most {MAX_BITS} bits), got "
                             f"{self.in_bits} + {self.m}")
        if self.multiplier != RUNTIME:
            # fxsim's multipliers have exactly m bits (fxsim.fixed_point_multiplier)
            check_int("rescale key multiplier", self.multiplier, 1 << (self.m - 1),
                      (1 << self.m) - 1)
        self._check_rounding_shift(self.m)

    def requant(self) -> RequantSpec:
        """The requantizer after the multiplier: the product has ``in + m + 1`` signed bits
        (``m + 1`` for the unsigned ``M`` made signed)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(RequantSpec)
                  if hasattr(self, f.name)}
        fields.update(in_bits=self.in_bits + self.m + 1, in_signed=True)
        return RequantSpec(**fields)


@dataclass(frozen=True)
class LfsrSpec:
    """A ``width``-bit Fibonacci LFSR leaping ``k`` steps per clock (:mod:`fxsim.numeric.lfsr`)."""

    width: int = 32
    k: int = 8

    kind = "lfsr"

    def __post_init__(self) -> None:
        check_int("lfsr key width", self.width, 2, MAX_LFSR_WIDTH)
        check_int("lfsr key k", self.k, 1, self.width)


@dataclass(frozen=True)
class StatSpec:
    """A statistics unit over a stream of ``in``-bit codes: ``minmax``, ``zscore`` or
    ``interval`` (its ``kind``)."""

    stat: str = "minmax"
    in_bits: int = 16
    in_signed: bool = True
    count: int = 24

    def __post_init__(self) -> None:
        _check_choice(self, "stat", STAT_KINDS)
        _check_bits(self, "in_bits")
        check_int(f"{self.stat} key count", self.count, 1, 62)

    @property
    def kind(self) -> str:
        return self.stat


STAT_KINDS = ("minmax", "zscore", "interval")
UnitSpec = MacSpec | RequantSpec | RescaleSpec | LfsrSpec | StatSpec
UNIT_KINDS = ("mac", "requant", "rescale", "lfsr", *STAT_KINDS)
_CLASSES = {"mac": MacSpec, "requant": RequantSpec, "rescale": RescaleSpec, "lfsr": LfsrSpec}
_KEY_ALIASES = {"in": "in_bits", "out": "out_bits"}  # text key -> field name
_INT_OR_RUNTIME = ("shift", "multiplier")


# --- checks ------------------------------------------------------------------------------------


def _key(spec, name: str) -> str:
    text = {v: k for k, v in _KEY_ALIASES.items()}.get(name, name)
    return f"{spec.kind} key {text}"


def _check_bits(spec, *names: str) -> None:
    for name in names:
        check_int(_key(spec, name), getattr(spec, name), 1, MAX_BITS)


def _check_choice(spec, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(spec, name)
    if value not in allowed:
        raise ValueError(f"{_key(spec, name)} must be one of {', '.join(allowed)}; got {value!r}")


def _check_rounding(spec) -> None:
    name = canonical_rounding(spec.rounding)
    object.__setattr__(spec, "rounding", name)
    if name == "stochastic":
        if spec.k not in (0, STOCHASTIC_BITS):
            raise ValueError(f"{_key(spec, 'k')} must be 62 (or left out) for rounding="
                             f"stochastic; got {spec.k}")
        object.__setattr__(spec, "k", STOCHASTIC_BITS)
    elif name == "stochastic_k":
        check_int(_key(spec, "k"), spec.k, 1, MAX_RANDOM_BITS)
    elif spec.k:
        raise ValueError(f"{_key(spec, 'k')} applies only to stochastic rounding; got k={spec.k} "
                         f"with rounding={name}")


def _check_shift(spec, widest: int) -> None:
    """A fixed shift is any integer (fxsim clamps at 63); a runtime port is at least wide enough
    for every right shift that still changes a result (``widest``)."""
    if spec.shift == RUNTIME:
        default = _bit_length(widest) + (1 if spec.signed_shift else 0)
        bits = spec.shift_bits or default
        object.__setattr__(spec, "shift_bits", check_int(_key(spec, "shift_bits"), bits, 1, 8))
    else:
        check_int(_key(spec, "shift"), spec.shift, -64, 64)
        if spec.shift_bits or spec.signed_shift:
            raise ValueError(f"{_key(spec, 'shift_bits')} and signed_shift apply only to "
                             "shift=runtime")


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """(lowest, highest) code of a ``bits``-bit two's-complement or unsigned integer."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _out_range(spec) -> tuple[int, int]:
    lo, hi = code_range(spec.out_bits, spec.out_signed)
    return (lo if spec.clip_lo is None else spec.clip_lo,
            hi if spec.clip_hi is None else spec.clip_hi)


def _check_clip(spec) -> None:
    if spec.clip_lo is None and spec.clip_hi is None:
        return
    lo, hi = code_range(spec.out_bits, spec.out_signed)
    low, high = _out_range(spec)
    if not lo <= low <= high <= hi:
        raise ValueError(f"{spec.kind} keys clip_lo, clip_hi must satisfy {lo} <= clip_lo <= "
                         f"clip_hi <= {hi}; got {low}, {high}")
    if spec.overflow != "saturate":
        raise ValueError(f"{spec.kind} keys clip_lo/clip_hi apply only with overflow=saturate")


# --- text form -----------------------------------------------------------------------------------


def _parse_value(kind: str, key: str, field: dataclasses.Field, text: str):
    if key in _INT_OR_RUNTIME and text == RUNTIME:
        return RUNTIME
    if field.type in ("bool",):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"{kind} key {key} must be 0 or 1, got {text!r}")
    if field.type == "str":
        return text
    try:
        return int(text, 0)
    except ValueError:
        allowed = "an integer or 'runtime'" if key in _INT_OR_RUNTIME else "an integer"
        raise ValueError(f"{kind} key {key} must be {allowed}, got {text!r}") from None


def parse_unit(text: str) -> UnitSpec:
    """The spec of ``KIND:key=value,...`` (``KIND`` alone takes every default)."""
    if not isinstance(text, str):
        raise TypeError(f"unit must be a string such as 'requant:in=32,out=8', got {text!r}")
    kind, _, rest = text.strip().partition(":")
    if kind not in UNIT_KINDS:
        raise ValueError(f"unit kind must be one of {', '.join(UNIT_KINDS)}; got {kind!r} "
                         f"in {text!r}")
    cls = _CLASSES.get(kind, StatSpec)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, object] = {} if cls is not StatSpec else {"stat": kind}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        name = _KEY_ALIASES.get(key.strip(), key.strip())
        if not eq or name not in fields or name == "stat":
            keys = sorted({k for k, v in _KEY_ALIASES.items() if v in fields}
                          | {n for n in fields if n not in _KEY_ALIASES.values()} - {"stat"})
            raise ValueError(f"{kind} takes keys {', '.join(keys)} as key=value; got {item!r} "
                             f"in {text!r}")
        values[name] = _parse_value(kind, key.strip(), fields[name], value.strip())
    return cls(**values)


def unit_text(spec: UnitSpec) -> str:
    """The text form of ``spec``, listing the keys that differ from the defaults."""
    cls = type(spec)
    items = []
    for f in dataclasses.fields(cls):
        value = getattr(spec, f.name)
        if f.name == "stat" or value == f.default or _derived(spec, f.name):
            continue
        key = {v: k for k, v in _KEY_ALIASES.items()}.get(f.name, f.name)
        items.append(f"{key}={int(value) if isinstance(value, bool) else value}")
    return spec.kind + (":" + ",".join(items) if items else "")


def _derived(spec: UnitSpec, name: str) -> bool:
    """Whether the key ``name`` holds the value the spec derives when it is left out."""
    if name == "shift_bits":
        return dataclasses.replace(spec, shift_bits=0).shift_bits == spec.shift_bits
    return name == "k" and getattr(spec, "rounding", None) == "stochastic"


def module_name(spec: UnitSpec) -> str:
    """A Verilog identifier naming the unit and every key that differs from the defaults."""
    text = unit_text(spec).replace(":", "__").replace(",", "__").replace("=", "_")
    return "fx_" + text.replace("-", "m")

