"""Area: lanes x MAC lane + shared units (sized by throughput) + global buffer + update unit."""

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
from costmodel import Technology, Units
from costmodel.memory import sram_area_um2
from fxsim.numeric.shapes import LayerShape

CHAIN = [LayerShape("a", "linear", 4, 3), LayerShape("b", "linear", 3, 2)]
warnings.filterwarnings("ignore", message="rounding 'stochastic'")


def tiny_policy(**activations):
    """4-bit weights and activations, 8-bit gradients (act_grads stochastic_k with 4 random
    bits), 16-bit accumulators, a 16-bit master with 8-bit optimizer constants."""
    def role(bits, rounding="nearest_even", **extra):
        return {"bits": bits, "rounding": rounding, "range": "minmax", **extra}

    return {"name": "tiny", "defaults": {
        "weights": role(4), "activations": role(4, **activations),
        "act_grads": role(8, "stochastic_k", random_bits=4), "weight_grads": role(8),
        "master": {"bits": 16, "frac": 12, "rounding": "nearest_even", "const_frac": 8},
        "accumulator": {"bits": 16}}}


def area_of(net, policy, **options):
    return costmodel.estimate(net, policy, batch=2, **options).attrs["area"]


def test_tiny_chain_lane_by_hand():
    # Products: forward 4x4 on both layers, b's backward_input 8x4 (g x w), backward_weight
    # 4x8 (x x g) on both: every phase of a layer has its MACs, so 8x4 has the most.
    # A lane: 8x4 multiplier, 16-bit adder and register, 12 bits of pipeline registers, a
    # 512 B register file (the default architecture).
    tech = Technology(45)
    a = lambda c: c.area_um2  # noqa: E731
    mac = a(tech.multiplier(8, 4)) + a(tech.adder(16)) + a(tech.register(16))
    lane = mac + a(tech.register(12)) + sram_area_um2(tech, 512, 0.5)
    area = area_of(CHAIN, tiny_policy())
    assert area.part_um2("mac_lane") == pytest.approx(lane)
    widths = {(i.part, i.unit): i.widths for i in area.items}
    assert widths["mac_lane", "mac"] == "8x4, acc 16"
    assert widths["update", "mac"] == "16x8, acc 26"
    assert area.part_um2("buffer") == pytest.approx(sram_area_um2(tech, 110592, 0.5))


def test_parts_sum_and_shared_units_are_few():
    area = area_of("resnet20", "int4_interval")
    assert area.total_um2 == pytest.approx(
        area.lanes * area.part_um2("mac_lane") + sum(
            area.part_um2(p) for p in ("shared", "buffer", "update")))
    assert area.array_um2 == pytest.approx(area.lanes * area.part_um2("mac_lane"))
    shared = {i.unit: i.count for i in area.items if i.part == "shared"}
    # requantizers and rescalers are sized by outputs per cycle, not one per lane
    assert 1 <= shared["rescale_real"] < area.lanes / 4
    assert 1 <= shared["round_stochastic_k"] < area.lanes / 4
    assert shared["rng_leap_forward"] >= 1


def test_fixed_shared_units_stall_the_array():
    auto = costmodel.estimate("digits_cnn", "int8")
    few = costmodel.estimate("digits_cnn", "int8", arch={
        "array": {"rows": 12, "cols": 14}, "shared": {"requantizers": 1}})
    counts = {i.unit: i.count for i in few.attrs["area"].items if i.part == "shared"}
    assert counts["round_nearest_even"] == 1
    assert few["cycles"].sum() > auto["cycles"].sum()
    assert few["energy_pj"].sum() == pytest.approx(auto["energy_pj"].sum())


@settings(max_examples=10, deadline=None)
@given(lanes=st.integers(1, 64))
def test_a_lane_does_not_depend_on_the_lane_count(lanes):
    one = area_of(CHAIN, tiny_policy(), lanes=1)
    area = area_of(CHAIN, tiny_policy(), lanes=lanes)
    assert area.lanes == lanes
    assert area.part_um2("mac_lane") == pytest.approx(one.part_um2("mac_lane"))
    assert area.part_um2("update") == pytest.approx(one.part_um2("update"))


def test_fp32_lanes_and_update():
    area = area_of(CHAIN, "fp", lanes=4)
    fp32 = Units().mac_fp32().area_um2
    units = [(i.part, i.unit, i.count) for i in area.items]
    assert ("mac_lane", "mac_fp32", 4) in units and ("update", "mac_fp32", 1) in units
    assert not any(u.startswith("round_") for _, u, _ in units)
    assert area.part_um2("update") == pytest.approx(fp32)
    table = area.table()
    assert list(table.columns) == ["part", "what", "unit", "widths", "count", "area_um2",
                                   "total_um2"]
    assert table["total_um2"].sum() == pytest.approx(area.total_um2)


def test_rounding_is_rounder_plus_its_random_bits():
    u = Units()
    whole = u.rounding("stochastic_k", 24, 8, random_bits=6)
    parts = u.rounder("stochastic_k", 24, 8, 6) + u.random_bit().scaled(6)
    assert whole.energy_pj == pytest.approx(parts.energy_pj)
    assert u.random_bits_used("stochastic", 20, 8) == 8  # the priced default
    assert u.random_bits_used("stochastic", 12, 8) == 4  # never more than the dropped bits
    assert u.random_bits_used("nearest_even", 20, 8) == 0
    gen = u.generator()
    assert u.random_bit().energy_pj == pytest.approx(gen.energy_pj / u.generator_bits)
    assert math.isclose(u.lfsr(0).area_um2, 0)


def test_bad_lanes_arch_and_parts(tmp_path):
    with pytest.raises(ValueError, match="lanes must be an integer >= 1, got 0"):
        costmodel.estimate(CHAIN, "int8", lanes=0)
    with pytest.raises(TypeError, match="lanes must be an integer"):
        costmodel.estimate(CHAIN, "int8", lanes=16.0)
    with pytest.raises(ValueError, match="lfsr_share must be an integer >= 1"):
        costmodel.estimate(CHAIN, "int8", lfsr_share=0)
    with pytest.raises(ValueError, match=r"\[shared\] requantizers: expected \"auto\" or a "
                                         r"positive integer, got 0"):
        costmodel.estimate(CHAIN, "int8", arch={"shared": {"requantizers": 0}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) lanes"):
        costmodel.estimate(CHAIN, "int8", arch={"array": {"lanes": 4}})
    bad = tmp_path / "a.toml"
    bad.write_text("[array]\nmac = '9'\n")
    with pytest.raises(ValueError, match=r"a.toml: \[array\] mac: expected \"auto\" or \"AxB\""):
        costmodel.estimate(CHAIN, "int8", arch=bad)
    with pytest.raises(ValueError, match="part must be one of mac_lane, shared, buffer, update"):
        area_of(CHAIN, "int8").part_um2("lane")
    frame = costmodel.estimate(CHAIN, "int8")
    frame.attrs.clear()
    with pytest.raises(ValueError, match=r"summarize takes the frame costmodel\.estimate"):
        costmodel.summarize(frame)
