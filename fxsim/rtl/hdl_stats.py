"""Verilog of the statistics units the range rules read (:mod:`fxsim.ranges`).

Each unit watches a stream of codes, one per clock with ``en``; ``first`` starts a new tensor.
The range rules compute in float64 from these integer statistics, once per tensor (DESIGN.md:
floats may choose a step, they never touch the codes):

* ``minmax``: running min, max and max|x|, and ``ceil(log2(max|x|))`` (``clog2``), from which
  the pow2 rules take ``frac = magnitude_bits - clog2 + frac_in`` (:func:`~fxsim.ranges.scale.
  pow2_frac`); ``zero`` marks a tensor with no nonzero code;
* ``zscore``: the element count ``n``, ``sum`` and ``sumsq`` (exact integers) and max|x|: ARC's
  clip ``min(max|x|, |mean| + z * std)`` with ``mean = sum / n`` and
  ``std = sqrt(n * sumsq - sum**2) / n``;
* ``interval``: max|x|, ``n`` and ``above``, how many |x| exceed the ``threshold`` port: the INT4
  paper's adaptive clip ratio compares the share of |g| above ``gamma * max|g|`` with its target.
"""

from __future__ import annotations

from fxsim.rtl import hdl
from fxsim.rtl.hdl import Module, Port
from fxsim.rtl.spec import StatSpec, module_name, unit_text


def clog2_bits(in_bits: int) -> int:
    return max(in_bits.bit_length(), 1)


def stat_ports(spec: StatSpec) -> tuple[Port, ...]:
    w = spec.in_bits
    sign = "two's complement" if spec.in_signed else "unsigned"
    ports = [Port("clk", 1, "input", "clock"),
             Port("rst", 1, "input", "synchronous reset"),
             Port("en", 1, "input", "x is an element"),
             Port("first", 1, "input", "x starts a new tensor"),
             Port("x", w, "input", f"element code ({sign})", spec.in_signed)]
    if spec.stat == "interval":
        ports.append(Port("threshold", w, "input", "count |x| > threshold (unsigned)"))
    ports.append(Port("maxabs", w, "output", "max |x| (unsigned)"))
    if spec.stat == "minmax":
        ports += [Port("min", w + 1, "output", "smallest x (two's complement)", True),
                  Port("max", w + 1, "output", "largest x (two's complement)", True),
                  Port("clog2", clog2_bits(w), "output", "ceil(log2(max|x|)); 0 when zero"),
                  Port("zero", 1, "output", "no nonzero element")]
    else:
        ports.append(Port("n", spec.count, "output", "elements counted"))
    if spec.stat == "zscore":
        ports += [Port("sum", w + 1 + spec.count, "output", "sum of x (two's complement)", True),
                  Port("sumsq", 2 * w + spec.count, "output", "sum of x*x (unsigned)")]
    if spec.stat == "interval":
        ports.append(Port("above", spec.count, "output", "elements with |x| > threshold"))
    return tuple(ports)


def _accumulate(lines: list[str], reg: str, width: int, first_value: str, update: str) -> None:
    """A register restarted by ``first`` and updated on ``en``."""
    lines.append(f"    reg {hdl.vec(width)}{reg};")
    lines.append(f"    wire {hdl.vec(width)}{reg}_next = first ? {first_value} : {update};")


def stat_module(spec: StatSpec) -> Module:
    """The Verilog of the statistics unit of ``spec``."""
    name = module_name(spec)
    w, c = spec.in_bits, spec.count
    regs: list[str] = []
    lines = [f"    wire signed [{w}:0] xs = {hdl.extend('x', w, spec.in_signed)};",
             f"    wire signed [{w}:0] neg = -xs;",
             f"    wire [{w - 1}:0] ax = xs[{w}] ? neg[{w - 1}:0] : xs[{w - 1}:0];  // |x|"]
    _accumulate(lines, "ma", w, "ax", "(ax > ma ? ax : ma)")
    regs.append("ma")
    if spec.stat == "minmax":
        _accumulate(lines, "mn", w + 1, "xs", "($signed(xs) < $signed(mn) ? xs : mn)")
        _accumulate(lines, "mx", w + 1, "xs", "($signed(xs) > $signed(mx) ? xs : mx)")
        regs += ["mn", "mx"]
        cw = clog2_bits(w)
        lines += [f"    wire [{w - 1}:0] ma_minus_1 = ma - 1'b1;",
                  f"    reg [{cw - 1}:0] lg;           // bit length of max|x| - 1",
                  "    integer i;",
                  "    always @* begin",
                  "        lg = 0;",
                  f"        for (i = 0; i < {w}; i = i + 1)",
                  "            if (ma_minus_1[i]) lg = i + 1;",
                  "    end",
                  f"    assign zero = ma == {w}'d0;",
                  f"    assign clog2 = zero ? {cw}'d0 : lg;",
                  "    assign min = mn;",
                  "    assign max = mx;"]
    else:
        _accumulate(lines, "cnt", c, f"{c}'d1", f"cnt + {c}'d1")
        regs.append("cnt")
        lines.append("    assign n = cnt;")
    if spec.stat == "zscore":
        sw, qw = w + 1 + c, 2 * w + c
        lines += [f"    wire signed [{sw - 1}:0] xw = {hdl.sign_extend('xs', w + 1, sw)};",
                  f"    wire [{2 * w - 1}:0] sq = ax * ax;            // x*x = |x|*|x|"]
        _accumulate(lines, "s1", sw, "xw", "s1 + xw")
        _accumulate(lines, "s2", qw, f"{{{{{c}{{1'b0}}}}, sq}}", f"s2 + {{{{{c}{{1'b0}}}}, sq}}")
        regs += ["s1", "s2"]
        lines += ["    assign sum = s1;", "    assign sumsq = s2;"]
    if spec.stat == "interval":
        _accumulate(lines, "hi", c, f"{{{{{c - 1}{{1'b0}}}}, ax > threshold}}",
                    "hi + (ax > threshold)")
        regs.append("hi")
        lines.append("    assign above = hi;")
    lines += ["    always @(posedge clk) begin", "        if (rst) begin",
              *(f"            {r} <= 0;" for r in regs),
              "        end else if (en) begin",
              *(f"            {r} <= {r}_next;" for r in regs),
              "        end", "    end", "    assign maxabs = ma;"]
    doc = (f"Statistics unit '{spec.stat}' over {w}-bit "
           f"{'signed' if spec.in_signed else 'unsigned'} codes, one per clock with en; first "
           "restarts the tensor; outputs are registered (they include the element of the "
           "previous clock). See fxsim.rtl.hdl_stats for what each range rule reads.")
    text = hdl.header(f"fxsim statistics unit ({spec.stat})", unit_text(spec), doc)
    ports = stat_ports(spec)
    return Module(name, ports, text + hdl.module_text(name, ports, "\n".join(lines)), True)
