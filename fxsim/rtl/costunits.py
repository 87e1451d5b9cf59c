"""The cost model's units (``costmodel/data/units.csv``) as RTL units, and back.

Each unit the cost model prices by a textbook definition has an RTL counterpart that
:func:`rtl_unit` writes, so that :func:`grid` can synthesize it at several widths for the
synthesized unit table, and :func:`cost_units` tells which textbook units an RTL unit stands
for (to print the textbook estimate beside the synthesized one).

==========================  ======================================================================
cost-model unit (params)    RTL unit
==========================  ======================================================================
``mac`` (a, b, acc)         ``mac`` with ``overflow=wrap`` (the textbook MAC has no clamp), no
                            counters
``round_MODE`` (out, drop)  ``requant`` from ``out + drop`` to ``out`` bits, fixed shift ``drop``,
                            ``overflow=wrap`` (the rounding alone; wrapping costs nothing)
``round_stochastic_k``      the same with ``rounding=stochastic_k`` and ``k`` random bits from a
(out, drop, k)              port
``overflow_saturate``       ``requant`` from ``out + high`` to ``out`` bits, shift 0: the clamp
(out, high)                 alone
``lfsr`` (k)                ``lfsr`` of ``k`` state bits leaping ``k`` steps a clock
``rng_leap_forward`` (n)    ``lfsr`` of ``n`` state bits leaping ``n`` steps a clock (the shared
                            generator: ``n`` random bits a clock)
``rescale_real`` (acc, m)   ``rescale`` of ``acc``-bit codes by an ``m``-bit multiplier, shift 0,
                            wide output: the multiplier alone
``stats_RULE`` (w)          ``minmax``, ``zscore`` (24-bit counters), ``interval`` (24-bit)
                            for the rules minmax, zscore, large_grad_interval
==========================  ======================================================================
"""

from __future__ import annotations

from fxsim.numeric.rounding import ROUNDING_MODES
from fxsim.rtl.spec import MacSpec, RequantSpec, RescaleSpec, UnitSpec, parse_unit

DETERMINISTIC = tuple(m for m in ROUNDING_MODES if m not in ("stochastic", "stochastic_k"))
STATS = {"minmax": "stats_minmax", "zscore": "stats_zscore",
         "interval": "stats_large_grad_interval"}


def rtl_unit(name: str, **p: int) -> UnitSpec:
    """The RTL unit standing for the cost-model unit ``name`` at widths ``p``."""
    if name == "mac":
        return parse_unit(f"mac:a={p['a']},b={p['b']},acc={p['acc']},overflow=wrap,counters=0")
    if name == "round_stochastic_k":
        return parse_unit(f"requant:in={p['out'] + p['drop']},out={p['out']},rounding="
                          f"stochastic_k,k={p['k']},shift={p['drop']},overflow=wrap")
    if name.startswith("round_"):
        return parse_unit(f"requant:in={p['out'] + p['drop']},out={p['out']},rounding="
                          f"{name[6:]},shift={p['drop']},overflow=wrap")
    if name == "overflow_saturate":
        return parse_unit(f"requant:in={p['out'] + p['high']},out={p['out']},rounding=floor,"
                          "shift=0,overflow=saturate")
    if name == "lfsr":
        return parse_unit(f"lfsr:width={max(p['k'], 2)},k={p['k']}")
    if name == "rng_leap_forward":
        return parse_unit(f"lfsr:width={p['n']},k={p['n']}")
    if name == "rescale_real":
        return parse_unit(f"rescale:in={p['acc']},m={p['m']},shift=0,out={p['acc'] + p['m'] + 1}"
                          ",rounding=floor,overflow=wrap")
    for kind, unit in STATS.items():
        if name == unit:
            count = "" if kind == "minmax" else ",count=24"
            return parse_unit(f"{kind}:in={p['w']}{count}")
    raise ValueError(f"cost-model unit {name!r} has no RTL counterpart")


def grid() -> list[tuple[str, dict[str, int]]]:
    """The cost-model units and widths of the synthesized unit table."""
    rows: list[tuple[str, dict[str, int]]] = []
    rows += [("mac", dict(a=a, b=b, acc=acc)) for a, b, acc in
             ((2, 2, 8), (4, 4, 16), (8, 8, 24), (8, 8, 32), (16, 16, 40))]
    for mode in DETERMINISTIC:
        rows += [(f"round_{mode}", dict(out=out, drop=drop))
                 for out in (4, 8, 16) for drop in (4, 12, 24, 40)]
    rows += [("round_stochastic_k", dict(out=out, drop=drop, k=k)) for out in (4, 8, 16)
             for drop, k in ((4, 2), (8, 8), (16, 4), (24, 8), (24, 16), (40, 16))]
    rows += [("overflow_saturate", dict(out=out, high=high)) for out in (4, 8, 16)
             for high in (4, 12, 24)]
    rows += [("lfsr", dict(k=k)) for k in (2, 4, 8, 12, 16, 24, 32)]
    rows += [("rng_leap_forward", dict(n=n)) for n in (8, 16, 32, 48, 64)]
    rows += [("rescale_real", dict(acc=acc, m=m)) for acc, m in
             ((8, 8), (16, 16), (24, 16), (16, 31), (24, 31), (30, 31))]
    rows += [(unit, dict(w=w)) for unit in STATS.values() for w in (4, 8, 16, 32)]
    return rows


def cost_units(spec: UnitSpec) -> list[tuple[str, dict[str, int]]]:
    """The textbook units whose sum the cost model would price for ``spec`` (empty if none)."""
    if isinstance(spec, MacSpec):
        return [("mac", dict(a=spec.a, b=spec.b, acc=spec.acc))]
    if spec.kind in STATS:
        return [(STATS[spec.kind], dict(w=spec.in_bits))]
    if spec.kind == "lfsr":
        return [("lfsr", dict(k=spec.k))]
    if not isinstance(spec, (RequantSpec, RescaleSpec)):
        return []
    units = []
    width = spec.in_bits
    if isinstance(spec, RescaleSpec):
        units.append(("rescale_real", dict(acc=spec.in_bits, m=spec.m)))
        width += spec.m + 1
    drop = width - spec.out_bits if spec.runtime_shift else max(spec.shift, 0)
    if drop > 0 and spec.rounding != "floor":
        if spec.k:
            units.append(("round_stochastic_k", dict(out=spec.out_bits, drop=drop,
                                                      k=min(spec.k, drop))))
        else:
            units.append((f"round_{spec.rounding}", dict(out=spec.out_bits, drop=drop)))
    high = width - spec.out_bits if spec.runtime_shift else max(width - spec.out_bits
                                                                 - max(spec.shift, 0), 0)
    if spec.overflow == "saturate" and high > 0:
        units.append(("overflow_saturate", dict(out=spec.out_bits, high=high)))
    return units
