"""Area: lanes x MAC lane + shared units + update unit, each sized for every row it serves."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
from costmodel import Technology, Units
from fxsim.numeric.shapes import LayerShape

CHAIN = [LayerShape("a", "linear", 4, 3), LayerShape("b", "linear", 3, 2)]


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


def test_tiny_chain_area_by_hand():
    # Chain a (4 -> 3, first: no backward_input) -> b (3 -> 2). Products: forward 4x4 (input
    # and a's 4-bit output times 4-bit weights), b's backward_input 8x4 (g x w), backward_weight
    # 4x8 (x x g): the lane MAC is 8x4 into the 16-bit accumulator.
    # Lane requantizer: outputs 16 -> 4 (drop 12, high 12), weight gradients 16 -> 8, a's
    # incoming gradient = b's backward_input accumulator 16 -> 8, stochastic with k = 4.
    # b's incoming gradient comes from the loss (32 bits): the shared float-island converter,
    # 32 -> 8 stochastic (drop 24, k 4), saturation high 24, with its own 4-bit LFSR.
    # Statistics: min-max, widest observed 32 bits (the loss gradient), once.
    # Update: 16-bit master x 8-bit constants into 16 + 8 + 2 = 26 bits, requantized 26 -> 16
    # (master) and 16 -> 4 (weights; min-max statistics of 16-bit values).
    tech = Technology(45)
    add, mult, reg = tech.adder, tech.multiplier, tech.register
    a = lambda c: c.area_um2  # noqa: E731
    mac_lane = (a(mult(8, 4)) + a(add(16)) + a(reg(16))
                + a(add(8)) + 0.21 * a(add(11))            # round_nearest_even out 8, drop 12
                + a(add(4)) + a(add(8))                    # round_stochastic_k out 8, k 4
                + 0.42 * a(add(12)) + 0.43 * a(add(8)))    # overflow_saturate out 8, high 12
    lfsr = a(reg(4)) + a(add(1))
    lanes, lfsr_share = 16, 5
    shared = (2 * a(add(32))                                # stats_minmax, w 32
              + math.ceil(lanes / lfsr_share) * lfsr        # the lanes' LFSRs
              + a(add(4)) + a(add(8))                      # converter: round_stochastic_k
              + 0.42 * a(add(24)) + 0.43 * a(add(8))       # converter: overflow_saturate
              + lfsr)                                      # converter's LFSR
    update = (a(mult(16, 8)) + a(add(26)) + a(reg(26))
              + a(add(16)) + 0.21 * a(add(11))             # round_nearest_even out 16, drop 12
              + 0.42 * a(add(12)) + 0.43 * a(add(16))      # overflow_saturate out 16, high 12
              + 2 * a(add(16)))                            # weights' stats_minmax, w 16
    area = area_of(CHAIN, tiny_policy(), lanes=lanes, lfsr_share=lfsr_share)
    assert area.part_um2("mac_lane") == pytest.approx(mac_lane)
    assert area.part_um2("shared") == pytest.approx(shared)
    assert area.part_um2("update") == pytest.approx(update)
    assert area.total_um2 == pytest.approx(lanes * mac_lane + shared + update)
    widths = {(i.part, i.unit): i.widths for i in area.items}
    assert widths["mac_lane", "mac"] == "8x4, acc 16"
    assert widths["shared", "round_stochastic_k"] == "out 8, drop 24, k 4"
    assert widths["update", "mac"] == "16x8, acc 26"


def test_real_step_rescale_is_per_lane_statistics_are_not():
    # activations with a real step: each lane multiplies its 16-bit outputs by the 31-bit M,
    # and its nearest_even unit then drops up to 16 + 31 - 4 = 43 bits instead of 12
    real = area_of(CHAIN, tiny_policy(scale="real"), lanes=8)
    pow2 = area_of(CHAIN, tiny_policy(), lanes=8)
    tech = Technology(45)
    extra = (tech.multiplier(16, 31).area_um2
             + 0.21 * (tech.adder(42).area_um2 - tech.adder(11).area_um2))
    assert real.part_um2("mac_lane") == pytest.approx(pow2.part_um2("mac_lane") + extra)
    assert real.part_um2("shared") == pytest.approx(pow2.part_um2("shared"))
    item = next(i for i in real.items if i.unit == "rescale_real")
    assert (item.part, item.count, item.widths) == ("mac_lane", 8, "16x31")
    stats = [(i.part, i.unit, i.count) for i in real.items if i.what == "statistics"]
    assert stats == [("shared", "stats_minmax", 1), ("update", "stats_minmax", 1)]


@settings(max_examples=15, deadline=None)
@given(lanes=st.integers(1, 4096), lfsr_share=st.integers(1, 64))
def test_total_is_lanes_times_lane_plus_shared_plus_update(lanes, lfsr_share):
    one = area_of(CHAIN, tiny_policy(), lanes=1, lfsr_share=1)
    area = area_of(CHAIN, tiny_policy(), lanes=lanes, lfsr_share=lfsr_share)
    lane = area.part_um2("mac_lane")
    assert lane == pytest.approx(one.part_um2("mac_lane"))  # a lane does not depend on lanes
    assert area.part_um2("update") == pytest.approx(one.part_um2("update"))
    lfsr = Units().lfsr(4).area_um2
    assert area.part_um2("shared") == pytest.approx(
        one.part_um2("shared") + (math.ceil(lanes / lfsr_share) - 1) * lfsr)
    assert area.total_um2 == pytest.approx(
        lanes * lane + area.part_um2("shared") + area.part_um2("update"))


def uniform(bits, name):
    """``bits`` everywhere, nearest_even, power-of-two min-max ranges, a 32-bit master."""
    role = {"bits": bits, "rounding": "nearest_even", "range": "minmax"}
    return {"name": name, "defaults": {
        "weights": role, "activations": role, "act_grads": role, "weight_grads": role,
        "master": {"bits": 32, "frac": 24, "rounding": "nearest_even"}}}


def test_mac_lane_int4_below_int8_below_fp32_and_the_update_unit_stays_out():
    table = costmodel.compare({"int4": uniform(4, "int4"), "int8": uniform(8, "int8")},
                              net="resnet20", batch=2).set_index("policy")
    fp, int8, int4 = (table.loc[p] for p in ("fp (baseline)", "int8", "int4"))
    assert int4.mac_lane_area_um2 < int8.mac_lane_area_um2 < fp.mac_lane_area_um2
    assert int4.area_um2 < int8.area_um2 < fp.area_um2
    assert int4.area_saving > int8.area_saving > 0
    # the same update MAC (32-bit master) for both: one unit, not a lane
    macs = [[(i.widths, i.area_um2) for i in
             costmodel.estimate("resnet20", uniform(b, "u"), 2).attrs["area"].items
             if i.part == "update" and i.what == "MAC"] for b in (4, 8)]
    assert macs[0] == macs[1] and len(macs[0]) == 1
    wide_master = uniform(4, "int4w")
    wide_master["defaults"]["master"] = {"bits": 36, "frac": 28}
    wide = costmodel.compare([wide_master], net="resnet20", batch=2).iloc[1]
    assert wide.mac_lane_area_um2 == pytest.approx(int4.mac_lane_area_um2)
    assert wide.update_area_um2 > int4.update_area_um2
    assert wide.area_saving == pytest.approx(int4.area_saving, abs=0.01)


def test_fp32_lanes_and_update():
    area = area_of(CHAIN, "fp", lanes=4)
    fp32 = Units().mac_fp32().area_um2
    assert [(i.part, i.unit, i.count) for i in area.items] == [
        ("mac_lane", "mac_fp32", 4), ("update", "mac_fp32", 1)]
    assert area.total_um2 == pytest.approx(5 * fp32)
    table = area.table()
    assert list(table.columns) == ["part", "what", "unit", "widths", "count", "area_um2",
                                   "total_um2"]
    assert table["total_um2"].sum() == pytest.approx(area.total_um2)


def test_rounding_is_rounder_plus_a_share_of_the_lfsr():
    u = Units()
    for share in (1, 3, 16):
        whole = u.rounding("stochastic_k", 24, 8, random_bits=6, share=share)
        parts = u.rounder("stochastic_k", 24, 8, 6) + u.lfsr(6).scaled(1 / share)
        assert whole.energy_pj == pytest.approx(parts.energy_pj)
        assert whole.area_um2 == pytest.approx(parts.area_um2)
    assert u.random_bits_used("stochastic", 20, 8) == 12
    assert u.random_bits_used("nearest_even", 20, 8) == 0
    assert u.lfsr(0) == (0, 0)


def test_bad_lanes_and_parts():
    with pytest.raises(ValueError, match="lanes must be >= 1, got 0"):
        costmodel.estimate(CHAIN, "int8", lanes=0)
    with pytest.raises(TypeError, match="lanes must be an integer"):
        costmodel.estimate(CHAIN, "int8", lanes=16.0)
    with pytest.raises(ValueError, match="lfsr_share must be >= 1"):
        costmodel.estimate(CHAIN, "int8", lfsr_share=0)
    with pytest.raises(ValueError, match="part must be one of mac_lane, shared, update"):
        area_of(CHAIN, "int8").part_um2("lane")
    frame = costmodel.estimate(CHAIN, "int8")
    frame.attrs.clear()
    with pytest.raises(ValueError, match=r"summarize takes the frame costmodel\.estimate"):
        costmodel.summarize(frame)
