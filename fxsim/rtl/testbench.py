"""Generated testbenches: stream vectors from hex files through a unit, write its outputs.

The testbench reads each input port ``P`` from ``P.hex`` in the vector folder (one word a line,
hexadecimal, two's complement at the port's width: the format ``$readmemh`` reads) and writes
each output port ``P`` to ``out_P.hex`` in the same form, one line per vector. File names come
from plusargs, so one compiled testbench runs any number of vector files:
``vvp tb.vvp +dir=VECTOR_DIR/ +count=N``.

Combinational units: each vector is applied, and the outputs written 1 ns later. Clocked units
(ports ``clk``, ``rst``): a reset clock first, then per vector: inputs applied, outputs written
1 ns later (before the rising edge: registered outputs show the state after the previous
vectors), then one clock.
"""

from __future__ import annotations

from fxsim.rtl.hdl import Module, vec

TB_NAME = "fxsim_tb"


def testbench(module: Module, dump: bool = False) -> str:
    """The Verilog-2005 testbench of ``module``; with ``dump``, ``+vcd=FILE`` dumps every net
    of the unit to a VCD file (for :func:`fxsim.rtl.synth.switching`)."""
    ins, outs = module.inputs, module.outputs
    lines = ["`timescale 1ns/1ps", f"module {TB_NAME};"]
    lines += [f"    reg {vec(p.width)}{p.name};" for p in ins]
    lines += [f"    wire {vec(p.width)}{p.name};" for p in outs]
    if module.clocked:
        lines.append("    reg clk, rst;")
    conns = [f".{p.name}({p.name})" for p in module.ports]
    lines.append(f"    {module.name} dut ({', '.join(conns)});")
    lines += ["    reg [8*1024-1:0] dir, vcd;", "    integer count, i, status;"]
    lines += [f"    integer f_in_{p.name};" for p in ins]
    lines += [f"    integer f_out_{p.name};" for p in outs]
    lines += ["    initial begin",
              "        if (!$value$plusargs(\"dir=%s\", dir)) begin",
              "            $display(\"fxsim_tb: give +dir=VECTOR_DIR/\");",
              "            $finish;",
              "        end",
              "        if (!$value$plusargs(\"count=%d\", count)) count = 0;"]
    for p in ins:
        lines += [f"        f_in_{p.name} = $fopen({{dir, \"{p.name}.hex\"}}, \"r\");",
                  f"        if (f_in_{p.name} == 0) begin",
                  f"            $display(\"fxsim_tb: cannot open %0s{p.name}.hex\", dir);",
                  "            $finish;",
                  "        end"]
    for p in outs:
        lines.append(f"        f_out_{p.name} = $fopen({{dir, \"out_{p.name}.hex\"}}, \"w\");")
    if dump:
        lines += ["        if ($value$plusargs(\"vcd=%s\", vcd)) begin",
                  "            $dumpfile(vcd);",
                  "            $dumpvars(0, dut);",
                  "        end"]
    if module.clocked:
        lines += ["        clk = 0; rst = 1;",
                  *(f"        {p.name} = 0;" for p in ins),
                  "        #1 clk = 1; #1 clk = 0; rst = 0;"]
    lines.append("        for (i = 0; i < count; i = i + 1) begin")
    for p in ins:
        lines += [f"            status = $fscanf(f_in_{p.name}, \"%h\\n\", {p.name});",
                  "            if (status != 1) begin",
                  f"                $display(\"fxsim_tb: {p.name}.hex ends at line %0d\", i + 1);",
                  "                $finish;",
                  "            end"]
    lines.append("            #1;")
    for p in outs:
        lines.append(f"            $fwrite(f_out_{p.name}, \"%h\\n\", {p.name});")
    if module.clocked:
        lines.append("            clk = 1; #1 clk = 0;")
    lines += ["        end"]
    lines += [f"        $fclose(f_out_{p.name});" for p in outs]
    lines += ["        $display(\"fxsim_tb: %0d vectors\", count);",
              "        $finish;", "    end", "endmodule", ""]
    return "\n".join(lines)
