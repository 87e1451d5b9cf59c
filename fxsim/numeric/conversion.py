"""The checked options of one quantize/requantize call, as the conversion kernels take them:
rounding, overflow, random numbers (seed, stream, and the LFSR source if any), saturation bounds.
Every option is validated here, with errors naming the argument."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fxsim.numeric import _convert_kernels as kernels
from fxsim.numeric.formats import QFormat, check_int
from fxsim.numeric.lfsr import RandomSource
from fxsim.numeric.rng import fresh_seed, stream_key
from fxsim.numeric.rounding import (
    OVERFLOW_IDS,
    ROUNDING_IDS,
    canonical_rounding,
    check_overflow,
    random_bits_for,
)
from fxsim.numeric.user_rounding import RoundingRule, registered_rounding


@dataclass(frozen=True)
class Conversion:
    """The checked options of one quantize/requantize call: the kernels' target, the seed and
    stream recorded in the result's stats, the LFSR source of the random words (None: the
    counter generator), and a registered rounding rule (:mod:`fxsim.numeric.user_rounding`;
    ``target.mode`` is then -1), None for the built-in modes."""

    target: kernels.CodeTarget
    seed: int | None
    stream: int
    force_exact: bool
    clipped: bool
    random_source: RandomSource | None = None
    rule: RoundingRule | None = None

    @classmethod
    def checked(cls, fmt: QFormat, rounding: str, overflow: str, random_bits: int | None,
                seed: int | None, stream: int, force_exact: bool,
                clip: tuple[int, int] | None,
                random_source: RandomSource | None = None) -> Conversion:
        """Validate every option (errors name the argument) and draw a seed if one is needed."""
        name = canonical_rounding(rounding)
        check_overflow(overflow)
        kbits = random_bits_for(name, random_bits)
        if random_source is not None:
            if not isinstance(random_source, RandomSource):
                raise TypeError("random_source must be an fxsim.numeric.lfsr.RandomSource or "
                                f"None, got {random_source!r}")
            if not kbits:
                raise ValueError(f"random_source applies only to stochastic rounding; got "
                                 f"rounding={rounding!r}")
            random_source.check_bits(kbits)
        stream = check_int("stream", stream, 0)
        if kbits:
            seed = fresh_seed() if seed is None else check_int("seed", seed, 0, 2**64 - 1)
            key = stream_key(seed, stream)
        else:
            seed, key = None, 0
        lo, hi = clip_bounds(fmt, clip, overflow)
        target = kernels.CodeTarget(ROUNDING_IDS.get(name, -1), kbits, key, lo, hi, fmt.bits,
                                    fmt.signed, OVERFLOW_IDS[overflow] == 1)
        return cls(target, seed, stream, bool(force_exact), clip is not None, random_source,
                   registered_rounding(name))

    def for_values(self, count: int) -> kernels.CodeTarget:
        """The target for ``count`` elements: with an LFSR source, their random words."""
        source, target = self.random_source, self.target
        if source is None or source.kind != "lfsr" or not target.kbits:
            return target
        from fxsim.numeric._lfsr_kernels import lfsr_words

        return replace(target, words=lfsr_words(count, target.kbits, source, self.seed,
                                                self.stream))


def check_format(fmt: QFormat) -> None:
    """Refuse anything but a :class:`QFormat` (a TypeError naming ``fmt``)."""
    if not isinstance(fmt, QFormat):
        raise TypeError(f"fmt must be a QFormat, got {fmt!r}")


def clip_bounds(fmt: QFormat, clip, overflow: str) -> tuple[int, int]:
    """The saturation bounds: the format's range, or ``clip = (low, high)`` inside it."""
    if clip is None:
        return fmt.min_code, fmt.max_code
    try:
        low, high = (check_int("clip", v) for v in clip)
    except TypeError:
        raise TypeError(f"clip must be a pair of integer codes (low, high), got {clip!r}") from None
    if not fmt.min_code <= low <= high <= fmt.max_code:
        raise ValueError(f"clip must satisfy {fmt.min_code} <= low <= high <= {fmt.max_code} "
                         f"(the range of {fmt}); got {clip!r}")
    if overflow != "saturate":
        raise ValueError(f"clip applies only with overflow='saturate'; got overflow={overflow!r}")
    return low, high
