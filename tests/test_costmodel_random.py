"""The cost model prices a policy's random source: with ``random = "lfsr"`` the generators the
simulator runs (``lfsr_lanes`` of ``lfsr_width`` bits, the simulated random bits per element),
with the counter source shares of shared leap-forward generators (costmodel/random_bits.py,
docs/cost-model.md)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import costmodel
from costmodel import Units
from costmodel.random_bits import size_bank
from fxsim.numeric.lfsr import RandomSource

ROOT = Path(__file__).resolve().parents[1]


def policy(roles=("act_grads",), rounding="stochastic_k", master=None, **random) -> dict:
    """int8 (nearest rounding everywhere), ``roles`` rounded stochastically with ``random``."""
    p = costmodel.policy.load_policy("int8").to_dict()
    for role in roles:
        p["defaults"][role].update(rounding=rounding, **random)
    if master is not None:
        p["defaults"]["master"] = master
    p["name"] = "lfsr_test"
    return p


def strict(net, pol, **options):
    """An estimate that turns every warning into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return costmodel.estimate(net, pol, batch=8, **options)


def generators(frame, unit: str, part: str = "shared") -> list:
    return [i for i in frame.attrs["area"].items if i.unit == unit and i.part == part]


@pytest.mark.parametrize("width, lanes", [(16, 64), (16, 1), (8, 4)])
def test_lfsr_roles_are_priced_with_the_generators_they_simulate(width, lanes):
    units = Units()
    lfsr = strict("digits_cnn", policy(random_bits=6, random="lfsr", lfsr_width=width,
                                       lfsr_lanes=lanes))
    counter = strict("digits_cnn", policy(random_bits=6))
    (bank,) = lfsr.attrs["lfsr_banks"]
    assert (bank.part, bank.width, bank.lanes, bank.k) == ("shared", width, lanes, 6)
    assert bank.words >= 1 and bank.leap == min(bank.words * 6, width)
    # the area: lfsr_lanes x registers per lane, each the policy's LFSR with its leap
    (item,) = generators(lfsr, "lfsr_leap")
    assert item.count == lanes * math.ceil(bank.words * 6 / width)
    assert item.area_um2 == pytest.approx(units.lfsr_leap(width, bank.leap).area_um2)
    assert not generators(lfsr, "rng_leap_forward")  # no counter-source generator
    assert generators(counter, "rng_leap_forward") and not counter.attrs["lfsr_banks"]
    # the energy: every element that drew 6 counter bits draws one word of the bank instead
    per_counter_element = 6 * units.random_bit().energy_pj
    elements = counter["energy_rng_pj"].sum() / per_counter_element
    assert lfsr["energy_rng_pj"].sum() == pytest.approx(
        elements * bank.energy_per_element(units))
    # everything else is the same hardware
    for column in ("energy_rounding_pj", "energy_mac_pj", "energy_memory_pj"):
        assert lfsr[column].sum() == pytest.approx(counter[column].sum())


def test_a_bank_gives_each_sequence_the_words_the_rate_needs():
    units = Units()
    one = size_bank(("shared", 32, 1, 8), 16.0)  # one sequence, 16 words a clock
    assert (one.words, one.per_sequence, one.leap, one.registers) == (16, 4, 32, 4)
    assert one.energy_per_element(units) == pytest.approx(
        4 * units.lfsr_leap(32, 32).energy_pj / 16)
    per_lane = size_bank(("shared", 32, 16, 8), 16.0)  # a sequence per requantizer
    assert (per_lane.words, per_lane.leap, per_lane.registers) == (1, 8, 16)
    assert per_lane.energy_per_element(units) == units.lfsr_leap(32, 8).energy_pj
    many = size_bank(("shared", 12, 256, 4), 3.2)  # more sequences than elements a clock
    assert (many.words, many.leap, many.registers) == (1, 4, 256)
    assert size_bank(("shared", 32, 4, 8), 9.0).words == 3  # ceil(9 / 4)


def test_random_bits_priced_are_the_simulated_ones():
    # 'stochastic' draws 62 bits: from a 64-bit LFSR they are priced, and nothing is warned
    frame = strict("digits_cnn", policy(rounding="stochastic", random="lfsr", lfsr_width=64,
                                        lfsr_lanes=64))
    (bank,) = frame.attrs["lfsr_banks"]
    assert bank.k == 62 and bank.leap == 62
    # from the counter source the same role is priced with 8 and warned about
    with pytest.warns(UserWarning, match="uses 62 random bits per element in the simulator "
                                         "but is priced with 8"):
        costmodel.estimate("digits_cnn", policy(rounding="stochastic"), batch=8)
    # --sr-bits below the simulated bits prices that many, with the warning
    with pytest.warns(UserWarning, match="rounds with 6 random bits in the simulator but is "
                                         "priced with 4"):
        low = costmodel.estimate("digits_cnn", policy(random_bits=6, random="lfsr",
                                                      lfsr_width=16), batch=8, sr_bits=4)
    assert low.attrs["lfsr_banks"][0].k == 4
    same = strict("digits_cnn", policy(random_bits=6, random="lfsr", lfsr_width=16), sr_bits=6)
    assert same.attrs["lfsr_banks"][0].k == 6


def test_the_update_unit_has_the_masters_generators():
    master = {"bits": 16, "frac": 12, "const_frac": 8, "rounding": "stochastic_k",
              "random_bits": 4, "random": "lfsr", "lfsr_width": 12, "lfsr_lanes": 3}
    frame = strict("digits_cnn", policy(roles=(), master=master))
    (bank,) = frame.attrs["lfsr_banks"]
    assert (bank.part, bank.lanes, bank.words, bank.leap) == ("update", 3, 1, 4)
    (item,) = generators(frame, "lfsr_leap", "update")
    assert item.count == 3
    assert not generators(frame, "rng_leap_forward", "update")
    assert not generators(frame, "lfsr_leap", "shared")
    assert frame["energy_rng_pj"].sum() > 0


def test_one_rounding_unit_with_its_own_lfsr():
    for units in (Units(), Units(path="synth")):
        alone = units.rounder("stochastic_k", 32, 8, 8)
        own = units.rounding("stochastic_k", 32, 8, 8, source=RandomSource("lfsr", 8, 1))
        assert own == alone + units.lfsr_leap(8, 8)
        shared = units.rounding("stochastic_k", 32, 8, 8)
        assert shared == alone + units.random_bit().scaled(8)
        # stochastic from an LFSR: 62 bits leap, of which the adder uses the 24 dropped
        wide = units.rounding("stochastic", 32, 8, source=RandomSource("lfsr", 64, 1))
        assert wide == units.rounder("stochastic_k", 32, 8, 24) + units.lfsr_leap(64, 62)
    table = costmodel.rounding_unit("stochastic_k", 32, 8, 8, lfsr_width=8, units="synth")
    assert table["energy_x"].iloc[0] == 1.0
    assert len(table) == 4 and (table["energy_pj"] > 0).all()
    assert len(costmodel.rounding_unit("toward_zero")) == 2


def test_synthesized_lfsr_rows_and_between_them():
    synth = Units(path="synth")
    table = synth.synth
    exact = table.cost("lfsr_leap", n=8, k=8)
    assert exact == table.cost("rng_leap_forward", n=8)  # the same RTL unit: lfsr:width=8
    for n, k, low, high in ((32, 6, (32, 4), (32, 8)), (40, 8, (32, 8), (48, 8))):
        mid = table.cost("lfsr_leap", n=n, k=k)
        lo, hi = table.cost("lfsr_leap", n=low[0], k=low[1]), table.cost(
            "lfsr_leap", n=high[0], k=high[1])
        assert min(lo.energy_pj, hi.energy_pj) <= mid.energy_pj <= max(lo.energy_pj,
                                                                         hi.energy_pj)
        assert min(lo.area_um2, hi.area_um2) <= mid.area_um2 <= max(lo.area_um2, hi.area_um2)
    from fxsim.rtl.costunits import cost_units, rtl_unit
    from fxsim.rtl.spec import LfsrSpec

    assert cost_units(LfsrSpec(32, 8)) == [("lfsr_leap", {"n": 32, "k": 8})]
    assert rtl_unit("lfsr_leap", n=32, k=8) == LfsrSpec(32, 8)


def test_units_textbook_is_the_default_on_the_command_line():
    def run(*args):
        out = subprocess.run([sys.executable, "-m", "fxsim.cli", "cost", *args], cwd=ROOT,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    plain = run("--rounding", "stochastic_k", "--random-bits", "8")
    assert run("--rounding", "stochastic_k", "--random-bits", "8", "--units",
               "textbook") == plain
    synth = run("--rounding", "stochastic_k", "--random-bits", "8", "--units", "synth")
    assert "synthesized units" in synth and "textbook units" in plain
    assert "counter source" in plain and 'random = "lfsr"' in plain


def _figures(units: str) -> list[tuple[float, float, float]]:
    """(pJ, energy x, area x) of the rows the docs state, in their order: the rounding unit
    alone, the counter source, an 8-bit and a 32-bit LFSR of its own (32 -> 8 bits, 8 bits)."""
    out = []
    for row, width in ((1, 32), (2, 32), (3, 8), (3, 32)):
        table = costmodel.rounding_unit("stochastic_k", 32, 8, 8, lfsr_width=width,
                                        units=units)
        out.append(tuple(float(table[c].iloc[row]) for c in ("energy_pj", "energy_x",
                                                             "area_x")))
    return out


def test_the_docs_state_the_stochastic_rounding_figures_fxsim_cost_rounding_prints():
    """README and docs/cost-model.md give each figure with its unit table and generator
    sharing, as `fxsim cost --rounding stochastic_k --random-bits 8` measures it."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("What stochastic rounding costs against nearest"):]
    rows = re.findall(r"^\| (.+?) \| ([\d.]+)x \| ([\d.]+)x \|$", section, re.M)[:4]
    assert [r[0].split(" ")[0] for r in rows] == ["none", "the", "an", "a"]
    textbook, synth = _figures("textbook"), _figures("synth")
    for (_, book, syn), want_book, want_syn in zip(rows, textbook, synth, strict=True):
        assert (float(book), float(syn)) == (round(want_book[1], 1), round(want_syn[1], 1))
    doc = (ROOT / "docs" / "cost-model.md").read_text()
    table = doc[doc.index("| random bits from | textbook units"):]
    cells = re.findall(r"([\d.]+) pJ, \**([\d.]+)x\**(?: energy)?, ([\d.]+)x", table)[:8]
    stated = [tuple(float(v) for v in c) for c in cells]
    want = [w for pair in zip(textbook, synth, strict=True) for w in pair]
    for given, (pj, ex, ax) in zip(stated, want, strict=True):
        assert given == (round(pj, 3), round(ex, 1), round(ax, 1))
    # docs/rtl.md's one 8-bit LFSR feeding 16 units: synthesized, 1.2x nearest's energy
    u = Units(path="synth")
    shared16 = (u.rounder("stochastic_k", 32, 8, 8).energy_pj
                + u.lfsr_leap(8, 8).energy_pj / 16) / u.rounding("nearest_even", 32, 8).energy_pj
    assert round(shared16, 1) == 1.2
    assert "1.2x nearest's energy" in readme and "**1.2x**" in (ROOT / "docs/rtl.md").read_text()
