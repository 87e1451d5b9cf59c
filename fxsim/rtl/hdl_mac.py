"""Verilog of the multiply-accumulate unit with a narrow accumulator (saturate or wrap).

It computes what :mod:`fxsim.ops` computes with ``acc=fxsim.Accumulator(bits, overflow)``: one
exact product ``a * b`` per clock added to a signed ``acc``-bit register, which under
``saturate`` clamps after every add and under ``wrap`` keeps the low ``acc`` bits (two's
complement). ``first`` starts a new reduction (the register is taken as 0). The optional
counters report what ``AccStats`` counts: under saturate the adds that clamped, under wrap the net
number of times the sum crossed the modulus (two's complement); ``ovf`` is set when that counter
is not zero (the output "saturated" or "wrapped").
"""

from __future__ import annotations

from fxsim.rtl import hdl
from fxsim.rtl.hdl import Module, Port, lit
from fxsim.rtl.spec import MacSpec, module_name, unit_text

_OVERFLOW_TEXT = {"saturate": "clamp to [LO, HI] at every add",
                  "wrap": "keep the low bits: modular"}


def mac_ports(spec: MacSpec) -> tuple[Port, ...]:
    def sign(signed: bool) -> str:
        return "two's complement" if signed else "unsigned"

    ports = [Port("clk", 1, "input", "clock"),
             Port("rst", 1, "input", "synchronous reset: register 0"),
             Port("en", 1, "input", "add a * b this clock"),
             Port("first", 1, "input", "a * b starts a new reduction (register taken as 0)"),
             Port("a", spec.a, "input", f"operand a ({sign(spec.a_signed)})", spec.a_signed),
             Port("b", spec.b, "input", f"operand b ({sign(spec.b_signed)})", spec.b_signed),
             Port("acc", spec.acc, "output", "accumulator register (two's complement)", True)]
    if spec.counters:
        what = ("adds that clamped" if spec.overflow == "saturate"
                else "net modulus crossings (two's complement)")
        ports += [Port("ovf", 1, "output", "this reduction overflowed (events != 0)"),
                  Port("events", spec.counters, "output", what, spec.overflow == "wrap")]
    return tuple(ports)


def mac_module(spec: MacSpec) -> Module:
    """The Verilog of the MAC of ``spec``."""
    name = module_name(spec)
    a, b, acc = spec.a, spec.b, spec.acc
    pw = a + b + 2
    sw = max(acc, pw) + 2  # sum - LO never overflows
    lo, hi = -(1 << (acc - 1)), (1 << (acc - 1)) - 1
    lines = [
        f"    wire signed [{a}:0] as = {hdl.extend('a', a, spec.a_signed)};",
        f"    wire signed [{b}:0] bs = {hdl.extend('b', b, spec.b_signed)};",
        f"    wire signed [{pw - 1}:0] p = as * bs;               // the exact product",
        f"    reg signed [{acc - 1}:0] acc_r;",
        f"    wire signed [{acc - 1}:0] base = first ? {lit(0, acc)} : acc_r;",
        f"    wire signed [{sw - 1}:0] sum = {hdl.sign_extend('base', acc, sw)} + "
        f"{hdl.sign_extend('p', pw, sw)};",
        f"    localparam signed [{sw - 1}:0] LO = {lit(lo, sw)};",
        f"    localparam signed [{sw - 1}:0] HI = {lit(hi, sw)};",
        "    wire above = sum > HI;",
        "    wire below = sum < LO;",
    ]
    if spec.overflow == "saturate":
        lines.append(f"    wire [{acc - 1}:0] next = above ? HI[{acc - 1}:0] : "
                     f"(below ? LO[{acc - 1}:0] : sum[{acc - 1}:0]);")
    else:
        lines.append(f"    wire [{acc - 1}:0] next = sum[{acc - 1}:0];       // wrap: the low bits")
    c = spec.counters
    reset = ["            acc_r <= 0;"]
    update = ["            acc_r <= next;"]
    if c:
        if spec.overflow == "saturate":
            lines.append(f"    wire [{c - 1}:0] delta = {{{{{c - 1}{{1'b0}}}}, above | below}};")
        else:
            cw = sw - acc  # bits of floor((sum - LO) / 2**acc)
            lines += [f"    wire signed [{sw - 1}:0] offset = sum - LO;",
                      f"    wire signed [{cw - 1}:0] crossings = offset >>> {acc};"
                      "  // floor((sum - LO) / 2**acc)"]
            ext = (hdl.sign_extend("crossings", cw, c) if c >= cw else f"crossings[{c - 1}:0]")
            lines.append(f"    wire [{c - 1}:0] delta = {ext};")
        lines += [f"    reg [{c - 1}:0] ev;",
                  f"    wire [{c - 1}:0] ev_base = first ? {c}'d0 : ev;"]
        reset.append("            ev <= 0;")
        update.append("            ev <= ev_base + delta;")
    lines += ["    always @(posedge clk) begin", "        if (rst) begin", *reset,
              "        end else if (en) begin", *update, "        end", "    end",
              "    assign acc = acc_r;"]
    if c:
        lines += ["    assign events = ev;", "    assign ovf = ev != 0;"]
    doc = (f"MAC: acc <= fit(base + a * b) each clock with en, base = 0 when first, else the "
           f"register. Operands {a} bits ({'signed' if spec.a_signed else 'unsigned'}) x {b} "
           f"bits ({'signed' if spec.b_signed else 'unsigned'}); accumulator {acc} bits, "
           f"{spec.overflow} ({_OVERFLOW_TEXT[spec.overflow]}). "
           "As fxsim.ops with acc=fxsim.Accumulator(bits, overflow), in the documented "
           "accumulation order." + (f" Counters of {c} bits: what AccStats counts." if c else ""))
    text = hdl.header("fxsim multiply-accumulate", unit_text(spec), doc)
    ports = mac_ports(spec)
    return Module(name, ports, text + hdl.module_text(name, ports, "\n".join(lines)), True)
