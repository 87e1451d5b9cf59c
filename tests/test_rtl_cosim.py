"""Co-simulation in Icarus Verilog: every unit matches fxsim's kernels bit for bit, and a wrong
unit is caught with its inputs listed. (The full sweep, every mode at several widths, is
``fxsim rtl check``; here every rounding mode gets 10,000 vectors at one width.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rtl_tools import icarus

import fxsim
from fxsim.numeric.rounding import ROUNDING_MODES
from fxsim.rtl import sim
from fxsim.rtl.spec import parse_unit

pytestmark = icarus


def _mode_units():
    for mode in ROUNDING_MODES:
        ks = (1, 4, 16) if mode == "stochastic_k" else (0,)
        for k in ks:
            yield f"requant:in=24,out=6,rounding={mode}" + (f",k={k}" if k else "")


@pytest.mark.parametrize("unit", list(_mode_units()))
def test_every_rounding_mode_matches_on_10000_vectors(unit):
    result = sim.check_unit(parse_unit(unit), count=10_000, seed=3)
    assert result.compared == 20_000  # y and ovf of every vector
    assert result.ok, (result.failed_checks, result.mismatches.head())
    assert result.checks >= 30  # one stats.saturated count per shift


@pytest.mark.parametrize("unit", [
    "requant:in=12,out=12,rounding=nearest_away,overflow=wrap,signed_shift=1",
    "requant:in=10,in_signed=0,out=7,out_signed=0,rounding=ceil",
    "requant:in=62,out=40,rounding=stochastic",
    "requant:in=16,out=8,rounding=toward_zero,clip_lo=-127,clip_hi=127",
    "requant:in=8,out=12,rounding=floor,shift=-3",
    "requant:in=20,out=4,rounding=stochastic_k,k=3,shift=9",
    "rescale:in=12,m=15,out=4,rounding=stochastic_k,k=4",
    "rescale:in=8,in_signed=0,m=12,out=8,out_signed=0,rounding=nearest_even,overflow=wrap",
    "rescale:in=10,m=9,multiplier=300,shift=4,out=6,rounding=toward_zero",
])
def test_requantizer_variants_match(unit):
    result = sim.check_unit(parse_unit(unit), count=3000, seed=5)
    assert result.ok, (result.failed_checks, result.mismatches.head())


@pytest.mark.parametrize("unit", [
    "mac:a=8,b=8,acc=12,overflow=saturate",
    "mac:a=8,b=8,acc=12,overflow=wrap",
    "mac:a=4,b=5,acc=7,overflow=saturate,a_signed=0",
    "mac:a=6,b=4,acc=9,overflow=wrap,b_signed=0",
    "mac:a=8,b=8,acc=30",
])
def test_mac_matches_the_narrow_accumulator_of_ops(unit):
    result = sim.check_unit(parse_unit(unit), count=2000, seed=7)
    assert result.compared == 2000  # acc of every reduction
    assert result.checks == 12  # AccStats counts of 6 reduction lengths
    assert result.ok, (result.failed_checks, result.mismatches.head())


@pytest.mark.parametrize("unit", ["lfsr:width=32,k=8", "lfsr:width=5,k=5", "lfsr:width=64,k=3",
                                  "minmax:in=12", "minmax:in=8,in_signed=0", "zscore:in=12",
                                  "interval:in=10"])
def test_lfsr_and_statistics_units_match(unit):
    result = sim.check_unit(parse_unit(unit), count=1000, seed=11)
    assert result.ok, (result.failed_checks, result.mismatches.head())


def _mutated(monkeypatch, old: str, new: str) -> None:
    original = sim.generate

    def generate(spec):
        module = original(spec)
        assert old in module.source
        return dataclasses.replace(module, source=module.source.replace(old, new))

    monkeypatch.setattr(sim, "generate", generate)


@pytest.mark.parametrize("unit, old, new", [
    ("requant:in=16,out=6", "half & (sticky | q[0])", "half & (sticky | ~q_neg)"),
    ("requant:in=16,out=6,rounding=toward_zero", "(half | sticky) & q_neg", "half & q_neg"),
    ("requant:in=16,out=6,rounding=stochastic_k,k=4", "top_plus_r[4]", "top_plus_r[3]"),
    ("requant:in=16,out=6,rounding=ceil", "wire above = vw > HI;", "wire above = vw >= HI;"),
    ("mac:a=8,b=8,acc=12,overflow=wrap", "offset >>> 12", "offset >>> 11"),
    ("lfsr:width=16,k=4", "s <= leap;", "s <= {leap[14:0], leap[15]};"),
])
def test_a_wrong_unit_is_caught_with_its_inputs(monkeypatch, unit, old, new):
    _mutated(monkeypatch, old, new)
    result = sim.check_unit(parse_unit(unit), count=2000, seed=1)
    assert not result.ok
    if not result.mismatches.empty:
        row = result.mismatches.iloc[0]
        assert {"row", "port", "fxsim", "rtl"} <= set(result.mismatches.columns)
        assert row.fxsim != row.rtl


def test_vector_folder_round_trip_and_hex_format(tmp_path):
    unit = parse_unit("requant:in=12,out=4,rounding=stochastic_k,k=3")
    folder = sim.write_unit_vectors(unit, tmp_path / "v", count=500, seed=9)
    x = (folder / "x.hex").read_text().split()
    assert len(x) == 500 and all(len(w) == 3 for w in x)  # 12 bits: 3 hex digits
    data = np.load(folder / "vectors.npz")
    assert [int(w, 16) for w in x] == [int(v) & 0xFFF for v in data["x"]]
    assert set(np.unique(data["checked_y"])) == {True}
    result = sim.check_unit(unit, vectors=folder)
    assert result.ok and result.rows == 500
    # a random input drawn with another seed is refused: fxsim could not have drawn it
    (folder / "r.hex").write_text("".join("7\n" for _ in range(500)))
    with pytest.raises(ValueError, match="input r of the vector folder is not what fxsim draws"):
        sim.check_unit(unit, vectors=folder)


def test_real_accumulators_of_a_conv_layer(tmp_path):
    """Vectors from a real tensor: the int32 accumulators of a digits-sized conv, requantized
    to 8 bits by a runtime shift, written as a plain hex folder without a manifest."""
    rng = np.random.default_rng(0)
    x = fxsim.quantize(rng.random((4, 1, 8, 8)), fxsim.QFormat(8, 7))
    w = fxsim.quantize(0.3 * rng.standard_normal((8, 1, 3, 3)), fxsim.QFormat(8, 7))
    acc = fxsim.ops.conv2d(x, w, padding=1).raw.reshape(-1)
    folder = tmp_path / "trace"
    folder.mkdir()
    (folder / "x.hex").write_text("".join(f"{int(v) & 0xFFFFFFFF:08x}\n" for v in acc))
    (folder / "shift.hex").write_text("".join(f"{s:02x}\n" for s in rng.integers(6, 14, acc.size)))
    result = sim.check_unit(parse_unit("requant:in=32,out=8,rounding=nearest_even"),
                            vectors=folder)
    assert result.ok and result.rows == acc.size == 2048
