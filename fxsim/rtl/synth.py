"""Synthesis with Yosys to a generic CMOS gate library, and the switching activity of the netlist.

:func:`synthesize` runs :data:`YOSYS_FLOW` on a unit's Verilog: generic synthesis, flip-flops
legalized to plain positive-edge D flip-flops (reset and enable become gates), then ABC maps all
logic to NAND, NOR and NOT gates (``abc -g cmos2``, with the script :data:`ABC_SCRIPT`: ABC's
default gate-mapping script takes minutes on a signed-by-unsigned multiplier in Yosys 0.23, this
one seconds, for results within about 10% of it either way). ``stat -tech cmos`` counts
transistors (NOT 2, NAND2 and NOR2 4, D flip-flop 16). The netlist is written as Verilog (gates as
``assign`` expressions) and as JSON (its connectivity).

:func:`switching` simulates that netlist in Icarus Verilog on the unit's vectors, every gate
with a unit delay (:func:`unit_delay`, so glitches count: they are much of a multiplier's
energy), and counts per vector the toggles of every net weighted by the transistor gates it
drives (2 per gate input; a flip-flop's clock pin counts as :data:`CLOCK_LOAD`; the driving gate's
own output as 2): the switching activity that :mod:`fxsim.rtl.calibrate` turns into pJ.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from fxsim.io import write_atomic
from fxsim.rtl import vecio
from fxsim.rtl.hdl import Module
from fxsim.rtl.sim import run_tool, tool
from fxsim.rtl.testbench import TB_NAME, testbench

ABC_SCRIPT = "+strash;dc2;strash;dch -f;map"
YOSYS_FLOW = """read_verilog {source}
hierarchy -check -top {top}
synth -flatten -top {top}
dfflegalize -cell $_DFF_P_ x
abc -g cmos2 -script "{abc}"
opt_clean -purge
tee -q -o stat.json stat -json -tech cmos
write_verilog -noattr netlist.v
write_json netlist.json
"""
CELL_TYPES = {"$_NAND_": 4, "$_NOR_": 4, "$_NOT_": 2, "$_DFF_P_": 16}  # transistors each
GATE_LOAD = 2  # transistor gates driven per cell input pin (one n, one p)
CLOCK_LOAD = 4  # transistor gates a flip-flop's clock pin presents (master and slave)


@cache
def yosys_version() -> str:
    """``Yosys 0.23 (git sha1 ...)``: the version line of the yosys on PATH."""
    out = subprocess.run([tool("yosys"), "-V"], capture_output=True, text=True).stdout
    return out.strip()


@dataclass
class Synthesis:
    """A synthesized unit: ``cells`` (gates and flip-flops), ``cell_types`` by type,
    ``transistors`` (``stat -tech cmos``), and the netlist (Verilog text, and per net bit the
    transistor gates it drives)."""

    module: str
    cells: int
    cell_types: dict[str, int]
    transistors: int
    netlist: str
    loads: dict[str, int] = field(repr=False, default_factory=dict)

    @property
    def flip_flops(self) -> int:
        return self.cell_types.get("$_DFF_P_", 0)


def synthesize(module: Module, workdir: Path) -> Synthesis:
    """Run :data:`YOSYS_FLOW` on ``module`` in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = f"{module.name}.v"
    write_atomic(workdir / source, module.source)
    flow = YOSYS_FLOW.format(source=source, top=module.name, abc=ABC_SCRIPT)
    write_atomic(workdir / "flow.ys", flow)
    run_tool([tool("yosys"), "-q", "-s", "flow.ys"], workdir, f"synthesizing {module.name}")
    stat = json.loads((workdir / "stat.json").read_text())["design"]
    types = dict(stat["num_cells_by_type"])
    unknown = sorted(set(types) - set(CELL_TYPES))
    if unknown:
        raise RuntimeError(f"synthesizing {module.name} left cells outside the CMOS library: "
                           f"{unknown}")
    transistors = int(str(stat["estimated_num_transistors"]).rstrip("+"))
    if transistors != sum(CELL_TYPES[t] * n for t, n in types.items()):
        raise RuntimeError(f"yosys counts {transistors} transistors for {module.name}, the cell "
                           f"counts {types} give another number")
    loads = _net_loads(json.loads((workdir / "netlist.json").read_text()), module.name)
    return Synthesis(module.name, int(stat["num_cells"]), types, transistors,
                     (workdir / "netlist.v").read_text(), loads)


def _net_loads(netlist: dict, top: str) -> dict[str, int]:
    """Per net name (as the Verilog netlist spells it, ``name`` or ``name[i]``): the
    transistor gates its bit drives, plus :data:`GATE_LOAD` for the driving cell's own output
    (ports driven from outside and other names of the same bit count 0)."""
    mod = netlist["modules"][top]
    per_bit: dict[int, int] = {}
    driven: set[int] = set()  # bits a cell output drives (their driver's own load counts)
    for cell in mod["cells"].values():
        for pin, bits in cell["connections"].items():
            if cell["port_directions"][pin] != "input":
                driven.update(b for b in bits if isinstance(b, int))
                continue
            load = CLOCK_LOAD if (cell["type"] == "$_DFF_P_" and pin == "C") else GATE_LOAD
            for bit in bits:
                if isinstance(bit, int):
                    per_bit[bit] = per_bit.get(bit, 0) + load
    loads: dict[str, int] = {}
    seen: set[int] = set()
    for name, net in sorted(mod["netnames"].items(), key=lambda kv: kv[1].get("hide_name", 0)):
        bits = net["bits"]
        for i, bit in enumerate(bits):
            if not isinstance(bit, int):
                continue
            key = name if len(bits) == 1 else f"{name}[{i}]"
            if bit in seen:  # another name of a bit already counted
                loads[key] = 0
                continue
            seen.add(bit)
            loads[key] = per_bit.get(bit, 0) + (GATE_LOAD if bit in driven else 0)
    return loads


def switching(module: Module, synthesis: Synthesis, inputs: dict[str, np.ndarray],
              workdir: Path) -> float:
    """Weighted toggles per vector of ``synthesis``'s netlist on the input rows (see the
    module docstring): sum over net bits of (toggles x transistor gates driven) / rows."""
    vectors = workdir / "activity"
    rows = len(next(iter(inputs.values())))
    vecio.write_input_hex(vectors, module, inputs)
    write_atomic(workdir / "netlist.v", unit_delay(synthesis.netlist))
    write_atomic(workdir / "tb_dump.v", testbench(module, dump=True))
    run_tool([tool("iverilog"), "-g2005", "-s", TB_NAME, "-o", "gate.vvp", "netlist.v",
              "tb_dump.v"], workdir, f"compiling the netlist of {module.name}")
    run_tool([tool("vvp"), "-n", "gate.vvp", f"+dir={vectors}/", f"+count={rows}",
              "+vcd=activity.vcd"], workdir, f"simulating the netlist of {module.name}")
    toggles = count_toggles(workdir / "activity.vcd", start_ps=_start_ps(module))
    total = 0
    for name, count in toggles.items():
        total += count * synthesis.loads.get(name, 0)
    (workdir / "activity.vcd").unlink()
    return total / rows


def unit_delay(netlist: str) -> str:
    """The netlist with one picosecond of delay on every gate (``assign #1 y = ~(...)``), so
    that the simulation shows the glitches of unequal paths; the testbench's vectors are a
    nanosecond apart, time for a thousand gate delays to settle."""
    return "`timescale 1ps/1ps\n" + re.sub(r"^(\s*assign) (\S+ = ~)", r"\1 #1 \2", netlist,
                                            flags=re.MULTILINE)


def _start_ps(module: Module) -> int:
    """Toggles before this time (ps) are the initial settling and the reset clock."""
    return 2500 if module.clocked else 500


_VCD_VAR = re.compile(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+\[(\d+)(?::(\d+))?\])?\s+\$end")


def _vector_change(fields: list[str], ids, vectors, vector_counts, counting: bool) -> None:
    """A ``b<value> <code>`` line: count each bit that flips between 0 and 1."""
    value, code = fields
    names = ids.get(code)
    if names is None:
        return
    value = value.rjust(len(names), "0" if value[0] in "01" else value[0])
    old = vectors.get(code)
    vectors[code] = value
    if counting and old is not None:
        flips = vector_counts.setdefault(code, [0] * len(names))
        for i, (a, b) in enumerate(zip(old, value, strict=True)):
            if a != b and a in "01" and b in "01":
                flips[i] += 1


def _vcd_names(header: list[str]) -> dict[str, list[str]]:
    """VCD identifier code -> net bit names (MSB first, as values are written) of the dut."""
    ids: dict[str, list[str]] = {}
    scope: list[str] = []
    for line in header:
        if line.startswith("$scope"):
            scope.append(line.split()[2])
        elif line.startswith("$upscope"):
            scope.pop()
        elif line.startswith("$var") and scope[-2:] == [TB_NAME, "dut"]:
            match = _VCD_VAR.match(line)
            if not match:
                continue
            width, code, name, msb, lsb = match.groups()
            width = int(width)
            if width == 1 and msb is None:
                bits = [name]
            else:
                low = int(lsb) if lsb is not None else int(msb)
                bits = [f"{name}[{low + i}]" for i in range(width)]
            ids.setdefault(code, []).extend(reversed(bits))
    return ids


def count_toggles(path: Path, start_ps: int = 0) -> dict[str, int]:
    """Toggles per net bit of the dut in the VCD file ``path`` after ``start_ps``; a bit going
    to or from x or z does not count. The file is read as a stream."""
    scalar: dict[str, str] = {}
    scalar_counts: dict[str, int] = {}
    vectors: dict[str, str] = {}
    vector_counts: dict[str, list[int]] = {}
    with open(path) as handle:
        header = []
        for line in handle:
            if line.startswith("$enddefinitions"):
                break
            header.append(line)
        ids = _vcd_names(header)
        counting = False
        for line in handle:
            head = line[:1]
            if head in ("0", "1", "x", "z"):
                code = line[1:].rstrip("\n")
                old = scalar.get(code)
                scalar[code] = head
                if counting and old is not None and old != head and old in "01" \
                        and head in "01":
                    scalar_counts[code] = scalar_counts.get(code, 0) + 1
            elif head == "b":
                _vector_change(line[1:].split(), ids, vectors, vector_counts, counting)
            elif head == "#":
                counting = int(line[1:]) >= start_ps
    counts: dict[str, int] = {}
    for code, n in scalar_counts.items():
        for name in ids.get(code, ()):
            counts[name] = counts.get(name, 0) + n
    for code, flips in vector_counts.items():
        for name, n in zip(ids[code], flips, strict=True):
            if n:
                counts[name] = counts.get(name, 0) + n
    return counts
