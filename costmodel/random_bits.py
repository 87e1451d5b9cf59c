"""Where stochastic rounding's random bits come from, as the cost model prices them.

A role that rounds stochastically draws ``k`` random bits per element in the simulator: its
``random_bits`` (``stochastic_k``, or a registered rule's own), 62 for ``stochastic``. Where they
come from decides what is priced:

* **Counter source** (the default, ``random = "counter"``): fxsim's counter-based generator, which
  no accelerator builds. The cost model prices ``r`` random bits per element (the policy's
  ``random_bits`` for ``stochastic_k``, else the assumption ``sr_bits``, 8), of which the
  rounding unit uses ``min(r, drop)``, each a share of the shared leap-forward generators
  (``rng_leap_forward``, sized by throughput: :meth:`costmodel.units.Units.random_bit`). A
  simulation that draws more bits than are priced gets a warning.
* **LFSR source** (``random = "lfsr"``, ``lfsr_width = n``, ``lfsr_lanes = L``): the simulator
  runs ``L`` independent ``n``-bit LFSRs (:class:`fxsim.numeric.lfsr.RandomSource`; element ``i``
  of a tensor takes generator ``i mod L``, which leaps ``k`` steps per element). The cost model
  prices exactly those: a bank of ``L`` generators of ``n`` bits (unit ``lfsr_leap(n, k)``, the
  RTL unit ``lfsr:width=n,k=k``), shared by every role with the same ``(n, L, k)`` (the simulator
  reseeds them per tensor), ``k`` bits per element (the simulated bits, all of them: a generator
  leaps ``k`` steps per element whatever the rounding drops; the rounding adder uses
  ``min(k, drop)``). Throughput: when the busiest row of the bank's roles quantizes ``R``
  elements a cycle (at most the architecture's requantizer count when it fixes one), each
  sequence must give ``m = ceil(R / L)`` consecutive words a clock, which one generator does by
  leaping ``j = m k`` steps a clock (its words are slices of its state: docs/rtl.md). While
  ``j <= n`` that is one ``lfsr_leap(n, j)`` per sequence; beyond, ``p = ceil(j / n)``
  registers per sequence, each priced as ``lfsr_leap(n, n)`` (a leap of more than ``n`` steps
  is priced as one of ``n``). Area: ``L p`` of them; energy per element: ``p`` clocks of a
  generator's energy per ``m`` words. The update unit requantizes one element a clock
  (``m = 1``). Not priced: the wiring of ``L`` generators to fewer requantizers.

``--sr-bits`` (``sr_bits=``) prices every stochastic unit, either source, with that many bits;
then a simulation that draws more gets the warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from costmodel.scaling import Cost
from fxsim.numeric.rounding import STOCHASTIC_BITS, canonical_rounding
from fxsim.policy import RoleSpec


def simulated_random_bits(spec: RoleSpec) -> int | None:
    """Random bits per element the simulator draws for ``spec``: ``random_bits`` for
    ``stochastic_k``, 62 for ``stochastic``, None for the deterministic modes."""
    mode = canonical_rounding(spec.rounding)
    if mode == "stochastic_k":
        return spec.random_bits
    return STOCHASTIC_BITS if mode == "stochastic" else None


def lfsr_of(spec: RoleSpec):
    """The role's LFSR source (:class:`fxsim.numeric.lfsr.RandomSource`), None for the counter
    generator or a deterministic mode."""
    source = spec.random_source
    if source is None or source.kind != "lfsr" or simulated_random_bits(spec) is None:
        return None
    return source


@dataclass(frozen=True)
class LfsrBank:
    """The generators of one LFSR source in one part of the accelerator (``"shared"``: the
    requantizers of the array, ``"update"``: the update unit): ``lanes`` sequences of
    ``width``-bit LFSRs, ``k`` random bits per element, ``words`` (``m``) consecutive words a
    clock per sequence (see the module docstring)."""

    part: str
    width: int
    lanes: int
    k: int
    words: int = 1

    @property
    def leap(self) -> int:
        """Steps each register leaps a clock, at most ``width`` (``min(m k, n)``)."""
        return min(self.words * self.k, self.width)

    @property
    def per_sequence(self) -> int:
        """Registers per sequence, ``p = ceil(m k / n)``."""
        return math.ceil(self.words * self.k / self.width)

    @property
    def registers(self) -> int:
        """Generators to build: ``lanes * p``."""
        return self.lanes * self.per_sequence

    def generator(self, units) -> Cost:
        """One register with its leap network (energy per clock, area)."""
        return units.lfsr_leap(self.width, self.leap)

    def energy_per_element(self, units) -> float:
        """pJ per element: ``p`` clocks of a generator per ``m`` words."""
        return self.per_sequence * self.generator(units).energy_pj / self.words

    def widths(self) -> str:
        return (f"n {self.width}, leap {self.leap}; {self.lanes} lanes x {self.per_sequence}, "
                f"{self.words} x {self.k} bits a clock")


def bank_key(part: str, source, k: int) -> tuple[str, int, int, int]:
    """The bank serving roles of ``source`` drawing ``k`` bits in ``part``."""
    return (part, source.width, source.lanes, k)


def size_bank(key: tuple[str, int, int, int], rate: float) -> LfsrBank:
    """The bank of ``key`` sized for ``rate`` elements a clock (``m = ceil(rate / lanes)``, at
    least 1)."""
    part, width, lanes, k = key
    words = max(1, math.ceil(rate / lanes - 1e-9)) if rate > 0 else 1
    return LfsrBank(part, width, lanes, k, words)
