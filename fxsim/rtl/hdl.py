"""Small helpers shared by the Verilog templates: literals, port lists, module headers.

The templates write plain Verilog-2005 (IEEE 1364-2005): ``wire``/``reg``, ``assign``,
``always @(posedge clk)``, signed arithmetic with ``$signed``/``>>>``; no SystemVerilog.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import fxsim


@dataclass(frozen=True)
class Port:
    """A port of a generated module: ``width`` bits, ``signed`` codes are two's complement."""

    name: str
    width: int
    direction: str  # "input" or "output"
    comment: str = ""
    signed: bool = False

    def declaration(self) -> str:
        return f"{self.direction:6s} wire {vec(self.width)}{self.name}"


@dataclass(frozen=True)
class Module:
    """Generated Verilog: the top module ``name``, its ports, its source (with submodules) and
    whether it is clocked (ports ``clk`` and ``rst``, synchronous reset, active high)."""

    name: str
    ports: tuple[Port, ...]
    source: str
    clocked: bool = False

    @property
    def inputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "input"
                     and p.name not in ("clk", "rst"))

    @property
    def outputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "output")


def lit(value: int, width: int) -> str:
    """A sized signed Verilog literal of ``value`` (two's complement in ``width`` bits)."""
    if not -(1 << (width - 1)) <= value < (1 << (width - 1)):
        raise ValueError(f"internal error: {value} does not fit a signed {width}-bit literal")
    return f"{width}'sh{value % (1 << width):x}"


def ulit(value: int, width: int) -> str:
    """A sized unsigned Verilog literal."""
    if not 0 <= value < (1 << width):
        raise ValueError(f"internal error: {value} does not fit an unsigned {width}-bit literal")
    return f"{width}'h{value:x}"


def vec(width: int) -> str:
    """``[width-1:0] `` or nothing for one bit."""
    return f"[{width - 1}:0] " if width > 1 else ""


def sign_extend(name: str, width: int, to: int) -> str:
    """``name`` (a signed ``width``-bit vector) sign-extended to ``to`` bits."""
    if to == width:
        return name
    if to < width:
        raise ValueError("internal error: sign_extend narrows")
    return f"{{{{{to - width}{{{name}[{width - 1}]}}}}, {name}}}"


def extend(name: str, width: int, signed: bool) -> str:
    """``name`` (``width`` bits) one bit wider, as a signed value: sign- or zero-extended."""
    return f"{{{name}[{width - 1}], {name}}}" if signed else f"{{1'b0, {name}}}"


def header(title: str, spec_text: str, body: str) -> str:
    """The comment that opens every generated file: what the unit computes and its spec."""
    lines = ["`timescale 1ns/1ps", f"// {title}", "//",
             f"// fxsim unit {spec_text!r} (fxsim {fxsim.__version__}).",
             "// Written by 'fxsim rtl export'; checked bit for bit against fxsim's kernels by",
             "// 'fxsim rtl check'. Verilog-2005, synthesizable.", "//"]
    for paragraph in textwrap.dedent(body).strip().split("\n\n"):
        for line in textwrap.wrap(" ".join(paragraph.split()), 92):
            lines.append(f"// {line}")
        lines.append("//")
    return "\n".join(lines[:-1]) + "\n"


def port_list(ports: tuple[Port, ...]) -> str:
    """The ANSI port list of a module header, one port a line with its comment."""
    width = max(len(p.declaration()) for p in ports)
    lines = []
    for i, p in enumerate(ports):
        sep = "," if i < len(ports) - 1 else " "
        comment = f"  // {p.comment}" if p.comment else ""
        lines.append(f"    {p.declaration() + sep:{width + 1}s}{comment}".rstrip())
    return "\n".join(lines)


def module_text(name: str, ports: tuple[Port, ...], body: str) -> str:
    """``module name (ports); body endmodule``."""
    return f"module {name} (\n{port_list(ports)}\n);\n{body.rstrip()}\nendmodule\n"
