"""Verilog of the leap-forward LFSR that feeds stochastic rounding (:mod:`fxsim.numeric.lfsr`)."""

from __future__ import annotations

from fxsim.numeric import lfsr
from fxsim.rtl import hdl
from fxsim.rtl.hdl import Module, Port, ulit
from fxsim.rtl.spec import LfsrSpec, module_name, unit_text

_DOC = """
Leap-forward Fibonacci LFSR: {width} state bits, taps {taps} (Xilinx XAPP052; one step is
state <= (state << 1) | parity(state & TAPMASK), TAPMASK = {mask}), leaping k = {k} steps per
clock: each next-state bit is the XOR of the state bits in its row of A**{k} over GF(2).

r = state[{k_top}:0], the {k} newest feedback bits (the earliest is r's MSB). On load the state
becomes seed (0 loads 1: an all-zero state never leaves zero); on en it leaps. Element j after a
load therefore reads r_j = (A**({k} j) seed) mod 2**{k}, the sequence of
fxsim.numeric.lfsr.sequence and of the simulator's hardware random source.
"""


def lfsr_ports(spec: LfsrSpec) -> tuple[Port, ...]:
    return (Port("clk", 1, "input", "clock"),
            Port("rst", 1, "input", "synchronous reset: state 1"),
            Port("load", 1, "input", "load seed (has priority over en)"),
            Port("seed", spec.width, "input", "seed; 0 loads 1"),
            Port("en", 1, "input", "leap k steps"),
            Port("r", spec.k, "output",
                 f"random integer in [0, 2**{spec.k}): state[{spec.k - 1}:0]"),
            Port("state", spec.width, "output", "the LFSR state"))


def lfsr_module(spec: LfsrSpec, name: str | None = None) -> Module:
    """The Verilog of a ``spec.width``-bit LFSR leaping ``spec.k`` steps per clock."""
    name = name or module_name(spec)
    w, k = spec.width, spec.k
    rows = lfsr.leap_matrix(w, k)
    lines = [f"    reg [{w - 1}:0] s;",
             f"    wire [{w - 1}:0] leap;           // A**{k} s: one XOR tree per bit"]
    for i, row in enumerate(rows):
        lines.append(f"    assign leap[{i}] = ^(s & {ulit(row, w)});")
    lines += [
        "    always @(posedge clk) begin",
        "        if (rst)",
        f"            s <= {ulit(1, w)};",
        "        else if (load)",
        f"            s <= (seed == {ulit(0, w)}) ? {ulit(1, w)} : seed;",
        "        else if (en)",
        "            s <= leap;",
        "    end",
        f"    assign r = s[{k - 1}:0];",
        "    assign state = s;",
    ]
    doc = _DOC.format(width=w, taps=", ".join(map(str, lfsr.TAPS[w])),
                      mask=ulit(lfsr.tap_mask(w), w), k=k, k_top=k - 1)
    text = hdl.header("fxsim leap-forward LFSR", unit_text(spec), doc)
    ports = lfsr_ports(spec)
    return Module(name, ports, text + hdl.module_text(name, ports, "\n".join(lines)), True)


__all__ = ["LfsrSpec", "lfsr_module"]
