"""Verilog of the requantizer and of the real-step rescale.

The requantizer computes exactly what :func:`fxsim.requantize` computes for one code
(``fxsim._convert_kernels.round_shift`` and ``fit``): with ``m`` the input code and ``s`` the
right shift,

* ``q = floor(m / 2**s)`` (an arithmetic shift), ``half`` the first dropped bit, ``sticky`` the OR
  of the dropped bits below it; the mode adds ``inc`` in {0, 1}: nearest_even ``half & (sticky |
  q odd)``, nearest_away ``half & (sticky | q >= 0)``, nearest_up ``half``, toward_zero
  ``(half | sticky) & q < 0``, floor 0, ceil ``half | sticky``; the stochastic modes add the k
  random bits ``r`` to the top k dropped bits (zero-padded when ``s < k``) and ``inc`` is the
  carry out. ``s = 0`` rounds nothing; shifts beyond the width are exact (all sign bits);
* a left shift (a negative fixed shift, or a negative value on a signed runtime port) is
  exact, ``m * 2**left``;
* the result is saturated to ``[LO, HI]`` (the format's range or the clip) or wrapped to its low
  ``out`` bits; ``ovf`` says it was outside ``[LO, HI]`` (fxsim's ``stats.saturated`` or
  ``stats.wrapped`` counts these).

The rescale is ``x * M`` (``M`` unsigned, ``m`` bits, exact) followed by this requantizer.
"""

from __future__ import annotations

from fxsim.rtl import hdl, hdl_lfsr
from fxsim.rtl.hdl import Module, Port, lit, vec
from fxsim.rtl.spec import RequantSpec, RescaleSpec, module_name, unit_text

_DETERMINISTIC_INC = {
    "nearest_even": "half & (sticky | q[0])",
    "nearest_away": "half & (sticky | ~q_neg)",
    "nearest_up": "half",
    "toward_zero": "(half | sticky) & q_neg",
    "floor": "1'b0",
    "ceil": "half | sticky",
}


def _max_left(spec: RequantSpec) -> int:
    if spec.runtime_shift:
        return 1 << (spec.shift_bits - 1) if spec.signed_shift else 0
    return max(-spec.shift, 0)


def _has_right(spec: RequantSpec) -> bool:
    return spec.runtime_shift or spec.shift > 0


def requant_ports(spec: RequantSpec, clocked: bool) -> tuple[Port, ...]:
    ports = []
    if clocked:
        ports += [Port("clk", 1, "input", "clock"),
                  Port("rst", 1, "input", "synchronous reset: LFSR state 1"),
                  Port("load", 1, "input", "load seed into the LFSR"),
                  Port("seed", spec.lfsr_width, "input", "LFSR seed (0 loads 1)"),
                  Port("en", 1, "input", "a code is converted: the LFSR leaps after it")]
    sign = "two's complement" if spec.in_signed else "unsigned"
    ports.append(Port("x", spec.in_bits, "input", f"input code ({sign})", spec.in_signed))
    if spec.runtime_shift:
        what = ("shift, two's complement: >= 0 right with rounding, < 0 left"
                if spec.signed_shift else "right shift amount (unsigned)")
        ports.append(Port("shift", spec.shift_bits, "input", what, spec.signed_shift))
    if spec.k and spec.random == "port":
        ports.append(Port("r", spec.k, "input", f"random integer in [0, 2**{spec.k})"))
    sign = "two's complement" if spec.out_signed else "unsigned"
    ports.append(Port("y", spec.out_bits, "output", f"output code ({sign})", spec.out_signed))
    ports.append(Port("ovf", 1, "output", "the rounded value was outside [LO, HI]"))
    return tuple(ports)


def _right_shift_body(spec: RequantSpec, mw: int) -> list[str]:
    """Lines computing ``v_right = q + inc`` (``mw`` bits) from ``m`` and the shift ``s``."""
    k = spec.k
    lines = [f"    wire signed [{mw - 1}:0] q = m >>> s;           // floor(m / 2**s)",
             f"    wire q_neg = q[{mw - 1}];"]
    if k:
        lines += [
            f"    // top {k} dropped bits: the low {k} bits of floor(m * 2**{k} / 2**s)",
            f"    wire signed [{mw + k - 1}:0] mk = {{m, {k}'b0}};",
            f"    wire signed [{mw + k - 1}:0] mk_shifted = mk >>> s;",
            f"    wire [{k}:0] top_plus_r = {{1'b0, mk_shifted[{k - 1}:0]}} + {{1'b0, r}};",
            f"    wire inc = (s != 0) & top_plus_r[{k}];       // the carry out rounds up",
        ]
    else:
        sw = "SW"
        lines += [
            f"    wire [{sw}-1:0] s_minus_1 = s - 1'b1;",
            f"    wire signed [{mw - 1}:0] m_guard = m >>> s_minus_1;",
            "    wire half = (s != 0) & m_guard[0];             // first dropped bit",
            f"    wire [{mw - 1}:0] below_mask = ~({{{mw}{{1'b1}}}} << s_minus_1);",
            "    wire sticky = (s > 1) & |(m & below_mask);    // any dropped bit below it",
            f"    wire inc = {_DETERMINISTIC_INC[spec.rounding]};",
        ]
    lines.append(f"    wire signed [{mw - 1}:0] v_right = q + {{{{{mw - 1}{{1'b0}}}}, inc}};")
    return lines


def requant_body(spec: RequantSpec) -> tuple[list[str], int]:
    """The lines of the requantizer from ``x`` (and ``shift``, ``r``) to ``y`` and ``ovf``;
    returns them and the width of the exact value before fitting."""
    mw = spec.in_bits + 1
    left = _max_left(spec)
    vw = mw + left
    lines = [f"    wire signed [{mw - 1}:0] m = {hdl.extend('x', spec.in_bits, spec.in_signed)};"
             "  // the code, signed"]
    if spec.runtime_shift:
        sw = spec.shift_bits
        lines.insert(0, f"    localparam SW = {sw};")
        if spec.signed_shift:
            lines += ["    wire shift_left = shift[SW-1];",
                      "    wire [SW-1:0] s = shift_left ? {SW{1'b0}} : shift;",
                      "    wire [SW-1:0] left = shift_left ? -shift : {SW{1'b0}};"]
        else:
            lines.append("    wire [SW-1:0] s = shift;")
    elif spec.shift > 0:
        sw = max(spec.shift.bit_length(), 1)
        lines.insert(0, f"    localparam SW = {sw};")
        lines.append(f"    wire [SW-1:0] s = {spec.shift};              // fixed right shift")
    if _has_right(spec):
        lines += _right_shift_body(spec, mw)
    if left:
        if spec.runtime_shift:
            lines.append(f"    wire signed [{vw - 1}:0] v_left = "
                         f"{hdl.sign_extend('m', mw, vw)} <<< left;")
            lines.append(f"    wire signed [{vw - 1}:0] v = shift_left ? v_left : "
                         f"{hdl.sign_extend('v_right', mw, vw)};")
        else:
            lines.append(f"    wire signed [{vw - 1}:0] v = "
                         f"{hdl.sign_extend('m', mw, vw)} <<< {left};  // exact left shift")
    elif _has_right(spec):
        lines.append(f"    wire signed [{vw - 1}:0] v = v_right;")
    else:
        lines.append(f"    wire signed [{vw - 1}:0] v = m;                // shift 0")
    return lines + _fit_body(spec, vw), vw


def _fit_body(spec, vw: int) -> list[str]:
    lo, hi = spec.out_range
    w = max(vw, spec.out_bits) + 1
    lines = [f"    // fit [LO, HI] = [{lo}, {hi}] ({spec.overflow})",
             f"    localparam signed [{w - 1}:0] LO = {lit(lo, w)};",
             f"    localparam signed [{w - 1}:0] HI = {lit(hi, w)};",
             f"    wire signed [{w - 1}:0] vw = {hdl.sign_extend('v', vw, w)};",
             "    wire above = vw > HI;",
             "    wire below = vw < LO;",
             "    assign ovf = above | below;"]
    top = spec.out_bits - 1
    if spec.overflow == "saturate":
        lines.append(f"    assign y = above ? HI[{top}:0] : (below ? LO[{top}:0] : vw[{top}:0]);")
    else:
        lines.append(f"    assign y = vw[{top}:0];                  // wrap: the low bits")
    return lines


_DOC = """
Requantizer: a right shift with rounding mode {rounding}{k_text} (or an exact left shift),
then {overflow} to [LO, HI] = [{lo}, {hi}]. Input {in_bits} bits {in_sign}, output
{out_bits} bits {out_sign}; shift {shift_text}.

q = floor(m / 2**s); half = first dropped bit; sticky = OR of the dropped bits below it.
nearest_even: inc = half & (sticky | q odd); nearest_away: half & (sticky | q >= 0);
nearest_up: half; toward_zero: (half | sticky) & q < 0; floor: 0; ceil: half | sticky;
stochastic: carry out of (top k dropped bits, zero-padded) + r. y = fit(q + inc); ovf says
q + inc (or the left-shifted code) was outside [LO, HI]. As fxsim.requantize.
"""


def _doc(spec: RequantSpec) -> str:
    lo, hi = spec.out_range
    if spec.runtime_shift:
        shift_text = (f"a {spec.shift_bits}-bit runtime port"
                      + (" (two's complement; negative shifts left)" if spec.signed_shift
                         else " (unsigned)"))
    else:
        shift_text = f"fixed at {spec.shift}"
    source = "port r" if spec.random == "port" else "an LFSR"
    k_text = f" with k = {spec.k} random bits from {source}" if spec.k else ""
    return _DOC.format(rounding=spec.rounding, k_text=k_text, overflow=spec.overflow, lo=lo,
                       hi=hi, in_bits=spec.in_bits, out_bits=spec.out_bits,
                       in_sign="two's complement" if spec.in_signed else "unsigned",
                       out_sign="two's complement" if spec.out_signed else "unsigned",
                       shift_text=shift_text)


def requant_module(spec: RequantSpec) -> Module:
    """The Verilog of ``spec``: a combinational requantizer, or with ``random=lfsr`` a clocked
    one whose random bits come from an LFSR inside it."""
    name = module_name(spec)
    clocked = bool(spec.k) and spec.random == "lfsr"
    ports = requant_ports(spec, clocked)
    lines, _ = requant_body(spec)
    sub = ""
    if clocked:
        gen = hdl_lfsr.lfsr_module(hdl_lfsr.LfsrSpec(spec.lfsr_width, spec.k),
                                   name=f"{name}_lfsr")
        sub = "\n" + gen.source
        lines = [f"    wire [{spec.k - 1}:0] r;",
                 f"    wire [{spec.lfsr_width - 1}:0] lfsr_state;",
                 f"    {name}_lfsr rng (.clk(clk), .rst(rst), .load(load), .seed(seed), "
                 ".en(en), .r(r), .state(lfsr_state));", *lines]
    text = hdl.header("fxsim requantizer", unit_text(spec), _doc(spec))
    source = text + hdl.module_text(name, ports, "\n".join(lines)) + sub
    return Module(name, ports, source, clocked)


def rescale_module(spec: RescaleSpec) -> Module:
    """The Verilog of a real-step rescale: ``x * M`` then the requantizer of ``spec.requant()``."""
    name = module_name(spec)
    inner = spec.requant()
    inner_mod = requant_module(inner)
    inner_src = inner_mod.source.replace(inner_mod.name, f"{name}_requant")
    ports = [Port("x", spec.in_bits, "input",
                  "input code (" + ("two's complement)" if spec.in_signed else "unsigned)"),
                  spec.in_signed)]
    if spec.multiplier == "runtime":
        ports.append(Port("mult", spec.m, "input", "fixed-point multiplier M (unsigned)"))
    ports += [p for p in inner_mod.ports if p.name not in ("x", "y", "ovf")]
    ports += [p for p in inner_mod.ports if p.name in ("y", "ovf")]
    pw = spec.in_bits + spec.m + 1
    mult = "mult" if spec.multiplier == "runtime" else hdl.ulit(spec.multiplier, spec.m)
    connections = ", ".join(f".{p.name}({p.name})" for p in inner_mod.ports if p.name != "x")
    body = [f"    wire signed [{spec.in_bits}:0] xs = "
            f"{hdl.extend('x', spec.in_bits, spec.in_signed)};",
            f"    wire [{spec.m - 1}:0] mv = {mult};",
            f"    wire signed [{spec.m}:0] ms = {{1'b0, mv}};",
            f"    wire signed [{pw}:0] p = xs * ms;     // exact: |x * M| < 2**{pw - 1}",
            f"    {name}_requant rq (.x(p[{pw - 1}:0]), {connections});"]
    doc = (f"Real-step rescale (DESIGN.md): y = requantize(x * M, shift), M an unsigned "
           f"{spec.m}-bit multiplier, as fxsim.requantize does for codes with a real step: "
           f"M = round(s_in / s_out * 2**n) and a rounding right shift by n. The product is "
           f"exact ({pw} bits signed); the requantizer below rounds it ({inner.rounding}) and "
           f"fits it ({inner.overflow}).")
    text = hdl.header("fxsim real-step rescale", unit_text(spec), doc)
    source = text + hdl.module_text(name, tuple(ports), "\n".join(body)) + "\n" + inner_src
    return Module(name, tuple(ports), source, inner_mod.clocked)


__all__ = ["requant_module", "rescale_module", "vec"]
