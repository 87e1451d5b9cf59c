"""Rounding and overflow modes: their names, their integer ids, and their exact meaning.

Every mode rounds a real ``y`` (already in LSB units) to an integer:

=================  ===========================================================================
``nearest_even``   nearest integer, ties to even
``nearest_away``   nearest integer, ties away from zero
``nearest_up``     ``floor(y + 1/2)``: ties toward +inf ("add half an LSB, then truncate")
``toward_zero``    ``trunc(y)`` (alias ``rtz``): ARC's deterministic gradient rounding
``floor``          ``floor(y)``: two's-complement truncation of the dropped bits
``ceil``           ``ceil(y)``
``stochastic``     ``floor(y + u)``, ``u = r * 2**-62`` with ``r`` a uniform 62-bit integer
``stochastic_k``   ``floor((floor(y * 2**k) + r) / 2**k)``, ``r`` uniform in ``[0, 2**k)``: an
                   LFSR-fed rounding unit with ``k`` random bits (``random_bits=k``, 1..32)
=================  ===========================================================================

``stochastic`` is ``stochastic_k`` with 62 random bits: it rounds up with probability
``floor(frac(y) * 2**62) / 2**62``, which is ``frac(y)`` to within ``2**-62``. Both are evaluated
exactly on integers; ``floor(y + u)`` is never computed in float.

Overflow: ``saturate`` clamps to the format's range; ``wrap`` keeps the low ``bits`` bits
(two's-complement modulo ``2**bits``).

Users add modes with :func:`fxsim.register_rounding` (:mod:`fxsim.numeric.user_rounding`); the
functions below accept their names too.
"""

from __future__ import annotations

import enum


class RoundingMode(enum.IntEnum):
    """The rounding modes; each value is the id the numba kernels dispatch on.

    Use the members by name in kernels (``mode == RoundingMode.TOWARD_ZERO``), the lower-case
    ``.label`` (``"toward_zero"``) in policies, messages and files. Each rounds a real ``y``
    already in LSB units, exactly (the table of :mod:`fxsim.numeric.rounding`).

    Attributes
    ----------
    NEAREST_EVEN : int
        0: nearest integer, ties to even.
    NEAREST_AWAY : int
        1: nearest integer, ties away from zero.
    NEAREST_UP : int
        2: ``floor(y + 1/2)``, ties toward +inf.
    TOWARD_ZERO : int
        3: ``trunc(y)`` (the name ``rtz`` is an alias).
    FLOOR : int
        4: ``floor(y)``.
    CEIL : int
        5: ``ceil(y)``.
    STOCHASTIC : int
        6: ``floor(y + u)``, ``u = r * 2**-62`` with ``r`` a uniform 62-bit integer.
    STOCHASTIC_K : int
        7: ``floor((floor(y * 2**k) + r) / 2**k)``, ``r`` uniform in ``[0, 2**k)``, ``k`` 1..32.

    Examples
    --------
    >>> from fxsim import RoundingMode
    >>> RoundingMode.TOWARD_ZERO.label, int(RoundingMode.TOWARD_ZERO)
    ('toward_zero', 3)
    >>> RoundingMode["STOCHASTIC_K"].is_stochastic, RoundingMode(0).label
    (True, 'nearest_even')
    """

    NEAREST_EVEN = 0
    NEAREST_AWAY = 1
    NEAREST_UP = 2
    TOWARD_ZERO = 3
    FLOOR = 4
    CEIL = 5
    STOCHASTIC = 6
    STOCHASTIC_K = 7

    @property
    def label(self) -> str:
        """The mode's name as policies and the API spell it (``"nearest_even"``)."""
        return self.name.lower()

    @property
    def is_stochastic(self) -> bool:
        """True for ``STOCHASTIC`` and ``STOCHASTIC_K``, the modes that draw random bits."""
        return self in (RoundingMode.STOCHASTIC, RoundingMode.STOCHASTIC_K)


ROUNDING_IDS: dict[str, int] = {mode.label: int(mode) for mode in RoundingMode}
ROUNDING_ALIASES: dict[str, str] = {"rtz": "toward_zero"}
ROUNDING_MODES: tuple[str, ...] = tuple(ROUNDING_IDS)
NEAREST_MODES: tuple[str, ...] = ("nearest_even", "nearest_away", "nearest_up")
DIRECTED_MODES: tuple[str, ...] = ("toward_zero", "floor", "ceil")
STOCHASTIC_MODES: tuple[str, ...] = ("stochastic", "stochastic_k")
STOCHASTIC_BITS = 62
MAX_RANDOM_BITS = 32

OVERFLOW_IDS: dict[str, int] = {"saturate": 0, "wrap": 1}
OVERFLOW_MODES: tuple[str, ...] = tuple(OVERFLOW_IDS)

NAN_POLICIES: tuple[str, ...] = ("raise", "zero")


def canonical_rounding(rounding: str) -> str:
    """The canonical name of ``rounding``, resolving aliases.

    Parameters
    ----------
    rounding : str
        A mode's name (:data:`ROUNDING_MODES`) or an alias (:data:`ROUNDING_ALIASES`: ``rtz``).

    Returns
    -------
    str
        The mode's name: ``rounding`` itself, or what the alias stands for.

    Raises
    ------
    TypeError
        ``rounding`` is not a string.
    ValueError
        ``rounding`` names no mode; the message lists the names and aliases.

    Examples
    --------
    >>> from fxsim.numeric.rounding import canonical_rounding
    >>> canonical_rounding("rtz"), canonical_rounding("floor")
    ('toward_zero', 'floor')
    """
    if not isinstance(rounding, str):
        raise TypeError(f"rounding must be a string, got {rounding!r}")
    from fxsim.numeric.user_rounding import registered_names

    name = ROUNDING_ALIASES.get(rounding, rounding)
    if name not in ROUNDING_IDS and name not in registered_names():
        allowed = ", ".join([*ROUNDING_MODES, *ROUNDING_ALIASES, *registered_names()])
        raise ValueError(f"rounding must be one of {allowed} (or a rule registered with "
                         "fxsim.register_rounding, named in a policy's rounding_modules); got "
                         f"{rounding!r}")
    return name


def check_overflow(overflow: str) -> str:
    """Return ``overflow`` if it names an overflow mode, else a ValueError listing the names."""
    if overflow not in OVERFLOW_IDS:
        raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_MODES)}; got {overflow!r}")
    return overflow


def random_bits_for(rounding: str, random_bits: int | None) -> int:
    """How many random bits ``rounding`` consumes per element (0 for deterministic modes).

    ``stochastic_k`` needs ``random_bits`` in 1..32; ``stochastic`` uses 62 and refuses another
    value; deterministic modes refuse any ``random_bits``; a registered rule
    (:func:`fxsim.register_rounding`) uses the bits it was registered with and refuses another
    value.

    Parameters
    ----------
    rounding : str
        A mode's name or alias (:func:`canonical_rounding`), or a registered rule's name.
    random_bits : int or None
        The ``random_bits`` argument given with it (None: not given).

    Returns
    -------
    int
        ``random_bits`` for ``stochastic_k``, 62 (:data:`STOCHASTIC_BITS`) for ``stochastic``,
        0 for the deterministic modes, a registered rule's own.

    Raises
    ------
    TypeError
        ``rounding`` is not a string, or ``random_bits`` for ``stochastic_k`` not an integer.
    ValueError
        An unknown ``rounding``; ``stochastic_k`` without ``random_bits`` or with one outside
        1..32; ``random_bits`` given with another mode (except 62 with ``stochastic``, and a
        registered rule's own bits).

    Examples
    --------
    >>> from fxsim.numeric.rounding import random_bits_for
    >>> random_bits_for("stochastic_k", 4), random_bits_for("stochastic", None)
    (4, 62)
    >>> random_bits_for("rtz", None)
    0
    """
    from fxsim.numeric.formats import check_int
    from fxsim.numeric.user_rounding import registered_rounding

    name = canonical_rounding(rounding)
    rule = registered_rounding(name)
    if rule is not None:
        if random_bits is not None and random_bits != rule.random_bits:
            raise ValueError(f"rounding rule {name!r} was registered with random_bits="
                             f"{rule.random_bits}; got random_bits={random_bits!r}")
        return rule.random_bits
    if name == "stochastic_k":
        if random_bits is None:
            raise ValueError("rounding='stochastic_k' needs random_bits (an integer in 1..32)")
        return check_int("random_bits", random_bits, 1, MAX_RANDOM_BITS)
    if random_bits is not None:
        if name == "stochastic" and random_bits == STOCHASTIC_BITS:
            return STOCHASTIC_BITS
        raise ValueError(
            f"random_bits applies only to rounding='stochastic_k'; got random_bits={random_bits!r}"
            f" with rounding={rounding!r}"
        )
    return STOCHASTIC_BITS if name == "stochastic" else 0
