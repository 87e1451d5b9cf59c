"""From a unit spec to its Verilog, and the named sets of units the commands work on."""

from __future__ import annotations

from pathlib import Path

from fxsim.io import write_atomic
from fxsim.numeric.rounding import ROUNDING_MODES
from fxsim.rtl.hdl import Module
from fxsim.rtl.hdl_lfsr import lfsr_module
from fxsim.rtl.hdl_mac import mac_module
from fxsim.rtl.hdl_requant import requant_module, rescale_module
from fxsim.rtl.hdl_stats import stat_module
from fxsim.rtl.spec import (
    LfsrSpec,
    MacSpec,
    RequantSpec,
    RescaleSpec,
    StatSpec,
    UnitSpec,
    parse_unit,
)


def generate(spec: UnitSpec) -> Module:
    """The Verilog module of ``spec``."""
    if isinstance(spec, MacSpec):
        return mac_module(spec)
    if isinstance(spec, RequantSpec):
        return requant_module(spec)
    if isinstance(spec, RescaleSpec):
        return rescale_module(spec)
    if isinstance(spec, LfsrSpec):
        return lfsr_module(spec)
    if isinstance(spec, StatSpec):
        return stat_module(spec)
    raise TypeError(f"not a unit spec: {spec!r}")


def export(specs: list[UnitSpec], out: str | Path) -> list[Path]:
    """Write each unit's Verilog to ``out/<module>.v`` (atomically); returns the paths."""
    paths = []
    for spec in specs:
        module = generate(spec)
        paths.append(write_atomic(Path(out) / f"{module.name}.v", module.source))
    return paths


def _modes(in_bits: int, out_bits: int, extra: str, ks=(2, 4, 8, 16)) -> list[str]:
    units = []
    for mode in ROUNDING_MODES:
        if mode == "stochastic_k":
            units += [f"requant:in={in_bits},out={out_bits},rounding={mode},k={k}{extra}"
                      for k in ks]
        else:
            units.append(f"requant:in={in_bits},out={out_bits},rounding={mode}{extra}")
    return units


def _check_set() -> list[str]:
    """Every unit kind, every rounding mode at several widths, saturate and wrap, signed and
    unsigned: what ``fxsim rtl check`` runs by default."""
    units = []
    for in_bits, out_bits in ((32, 8), (16, 4), (12, 12)):
        units += _modes(in_bits, out_bits, "")
    units += _modes(20, 6, ",overflow=wrap,signed_shift=1", ks=(3,))
    units += _modes(10, 8, ",in_signed=0,out_signed=0", ks=(5,))
    units += [
        "requant:in=24,out=8,rounding=nearest_even,shift=16",
        "requant:in=24,out=8,rounding=stochastic_k,k=8,shift=16",
        "requant:in=8,out=12,rounding=floor,shift=-3",
        "requant:in=16,out=8,rounding=toward_zero,clip_lo=-127,clip_hi=127",
        "requant:in=62,out=40,rounding=nearest_even",
        "requant:in=62,out=62,rounding=stochastic",
        "requant:in=32,out=8,rounding=stochastic_k,k=8,random=lfsr",
        "requant:in=16,out=4,rounding=stochastic_k,k=3,random=lfsr,lfsr_width=7,shift=9",
        "rescale:in=16,m=16,out=8,rounding=nearest_even",
        "rescale:in=12,m=15,out=4,rounding=stochastic_k,k=4",
        "rescale:in=8,in_signed=0,m=12,out=8,out_signed=0,rounding=toward_zero,overflow=wrap",
        "mac:a=8,b=8,acc=16,overflow=saturate",
        "mac:a=8,b=8,acc=16,overflow=wrap",
        "mac:a=4,b=4,acc=8,overflow=saturate,a_signed=0",
        "mac:a=4,b=6,acc=10,overflow=wrap,b_signed=0",
        "mac:a=8,b=8,acc=32",
        "lfsr:width=32,k=8",
        "lfsr:width=16,k=16",
        "lfsr:width=7,k=3",
        "minmax:in=16",
        "minmax:in=8,in_signed=0",
        "zscore:in=16",
        "interval:in=16",
    ]
    return units


def _rounding_set() -> list[str]:
    """Every rounding mode's unit at 32 -> 8 and 16 -> 4 with a fixed shift and no
    saturation (the rounding unit alone): the table of docs/rtl.md."""
    units = []
    for in_bits, out_bits in ((32, 8), (16, 4)):
        units += _modes(in_bits, out_bits, f",shift={in_bits - out_bits},overflow=wrap",
                        ks=tuple(range(2, 17)))
    return units


UNIT_SETS = {
    "check": _check_set,
    "rounding": _rounding_set,
}


def unit_set(name: str) -> list[UnitSpec]:
    """The specs of the named set (:data:`UNIT_SETS`)."""
    if name not in UNIT_SETS:
        raise ValueError(f"unit set must be one of {', '.join(UNIT_SETS)}; got {name!r}")
    return [parse_unit(text) for text in UNIT_SETS[name]()]
