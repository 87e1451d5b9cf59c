"""RTL unit specs: the text form round-trips, bad keys and values are refused by name, every unit
of the shipped sets has a valid Verilog name, and the cost-model mapping is consistent."""

from __future__ import annotations

import re

import pytest

from fxsim.rtl import costunits
from fxsim.rtl.spec import module_name, parse_unit, unit_text
from fxsim.rtl.units import UNIT_SETS, generate, unit_set


@pytest.mark.parametrize("name", sorted(UNIT_SETS))
def test_unit_sets_round_trip_and_name_modules(name):
    names = set()
    for spec in unit_set(name):
        assert parse_unit(unit_text(spec)) == spec
        module = generate(spec)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", module.name)
        assert module.name == module_name(spec)
        assert f"module {module.name} (" in module.source
        names.add(module.name)
    assert len(names) == len(unit_set(name))  # no two units share a module name


def test_defaults_and_derived_keys():
    spec = parse_unit("requant:in=16,out=4,rounding=stochastic")
    assert spec.k == 62 and spec.shift == "runtime" and spec.shift_bits == 7
    assert unit_text(spec) == "requant:in=16,out=4,rounding=stochastic"  # k, shift_bits derived
    assert unit_text(parse_unit("requant:in=32,out=8")) == "requant"  # the defaults
    assert unit_text(parse_unit("requant:rounding=rtz")) == "requant:rounding=toward_zero"
    assert parse_unit("mac").acc == 24 and parse_unit("zscore").stat == "zscore"


@pytest.mark.parametrize("text, message", [
    ("adder:in=3", "unit kind must be one of mac, requant"),
    ("requant:bits=3", "requant takes keys .* got 'bits=3'"),
    ("requant:in=63", "requant key in must be an integer in 1..62, got 63"),
    ("requant:rounding=stochastic_k", "requant key k must be an integer in 1..32, got 0"),
    ("requant:rounding=floor,k=3", "k applies only to stochastic rounding"),
    ("requant:overflow=clamp", "requant key overflow must be one of saturate, wrap"),
    ("requant:rounding=nearest", "rounding must be one of"),
    ("requant:shift=fast", "requant key shift must be an integer or 'runtime', got 'fast'"),
    ("requant:shift=3,shift_bits=4", "apply only to shift=runtime"),
    ("requant:out=8,clip_lo=-200", "clip_lo, clip_hi must satisfy -128 <= clip_lo"),
    ("requant:clip_hi=100,overflow=wrap", "apply only with overflow=saturate"),
    ("requant:random=lfsr", "random=lfsr needs a stochastic rounding mode"),
    ("rescale:in=40,m=30", "in \\+ m must be <= 61"),
    ("rescale:m=16,multiplier=3", "multiplier must be an integer in 32768..65535, got 3"),
    ("mac:a_signed=2", "mac key a_signed must be 0 or 1, got '2'"),
    ("lfsr:width=8,k=9", "lfsr key k must be an integer in 1..8, got 9"),
    ("lfsr:width=65", "lfsr key width must be an integer in 2..64, got 65"),
])
def test_bad_units_are_refused_with_the_key_named(text, message):
    with pytest.raises((ValueError, TypeError), match=message):
        parse_unit(text)


def test_every_cost_model_unit_of_the_grid_maps_back_to_itself():
    for name, params in costunits.grid():
        spec = costunits.rtl_unit(name, **params)
        units = costunits.cost_units(spec)
        if name == "round_floor":  # floor drops bits: no unit at all
            assert units == []
        elif name == "rng_leap_forward":  # an n-bit LFSR leaping n: the textbook's lfsr(n)
            assert units == [("lfsr", {"k": params["n"]})]
        elif name == "rescale_real":
            assert units == [(name, params)]
        else:
            assert units == [(name, params)], (name, params, units)


def test_a_full_requantizer_is_rounding_plus_saturation():
    spec = parse_unit("requant:in=32,out=8,rounding=stochastic_k,k=4")
    assert costunits.cost_units(spec) == [
        ("round_stochastic_k", {"out": 8, "drop": 24, "k": 4}),
        ("overflow_saturate", {"out": 8, "high": 24})]


def test_ci_installs_the_rtl_tools_before_the_readme_test_command():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = (root / ".ci" / "run").read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if "apt-get install" in line)
    tests = next(i for i, line in enumerate(lines) if "pytest" in line)
    assert "iverilog" in lines[install] and "yosys" in lines[install] and install < tests
    assert any(line.startswith("export CI=") for line in lines[:tests])
    readme = (root / "README.md").read_text()
    assert "apt-get install iverilog yosys" in readme
