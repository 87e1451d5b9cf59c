"""Workload and queries: MAC counts, the simulator's dataflow, class-group shares, compression."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
import costmodel.pricing
from costmodel.dataflow import chain_sites, resolve_sites
from costmodel.policy import read_policy
from costmodel.units import Units
from costmodel.workload import wide_accumulator, workload
from fxsim.numeric.formats import MULTIPLIER_BITS
from fxsim.numeric.shapes import LayerShape
from reference_nets import layer_shapes

MAC_PHASES = ("forward", "backward_input", "backward_weight")


def policy(bits=8, name="int8", **extra):
    """A valid fxsim policy: ``bits`` everywhere, 16-bit fixed master."""
    role = {"bits": bits, "rounding": "nearest_even", "range": "minmax"}
    return {
        "name": name,
        "defaults": {
            "weights": dict(role), "activations": dict(role),
            "act_grads": {**role, "rounding": "stochastic"},
            "weight_grads": {**role, "rounding": "stochastic"},
            "master": {"bits": 16, "frac": 12, "rounding": "stochastic"},
        },
        **extra,
    }


def conv_formula(batch, shape):
    """N * Cout * Hout * Wout * Cin * k^2 / groups, Hout from the conv formula (dilation 1)."""
    (kh, kw), (sh, sw), (ph, pw) = shape.kernel, shape.stride, shape.padding
    hout = (shape.in_hw[0] + 2 * ph - kh) // sh + 1
    wout = (shape.in_hw[1] + 2 * pw - kw) // sw + 1
    return (batch * shape.out_channels * hout * wout * shape.in_channels * kh * kw
            // shape.groups)


def macs_by_phase(frame, layer):
    return frame[frame["layer"] == layer].groupby("phase")["macs"].sum()


@settings(max_examples=40, deadline=None)
@given(
    groups=st.sampled_from([1, 2, 4]), cin_g=st.integers(1, 4), cout_g=st.integers(1, 4),
    k=st.integers(1, 5), stride=st.integers(1, 3), pad=st.integers(0, 2),
    h=st.integers(5, 12), w=st.integers(5, 12), batch=st.integers(1, 16),
)
def test_conv_mac_counts_in_each_phase(groups, cin_g, cout_g, k, stride, pad, h, w, batch):
    cin, cout = cin_g * groups, cout_g * groups
    shape = LayerShape("c", "conv2d", cin, cout, (k, k), (stride, stride), (pad, pad),
                       groups=groups, in_hw=(h, w))
    frame = costmodel.estimate([shape], policy(), batch=batch, input_grad_first_layer=True)
    macs = frame.set_index("phase")["macs"]
    for phase in MAC_PHASES:
        assert macs[phase] == conv_formula(batch, shape)
    assert macs["update"] == 3 * cout * cin // groups * k * k  # momentum, decay, lr products


@pytest.mark.parametrize("net", ["resnet20", "digits_cnn"])
def test_reference_net_conv_macs_match_formula(net):
    shapes = layer_shapes(net)
    convs = [s for s in shapes if s.kind == "conv2d"]
    assert len(convs) == (19 if net == "resnet20" else 2)
    # cdmp: two class groups, whose MACs add up to the batch's
    frame = costmodel.estimate(net, "cdmp", batch=3, input_grad_first_layer=True)
    for shape in convs:
        macs = macs_by_phase(frame, shape.name)
        for phase in MAC_PHASES:
            assert macs[phase] == conv_formula(3, shape), (shape.name, phase)
    # by default, as in the simulator, the first layer computes no input gradient
    default = costmodel.estimate(net, "int8", batch=3)
    first = default[default["layer"] == shapes[0].name]
    assert "backward_input" not in set(first["phase"])
    assert len(default) == len(frame[frame["group"] == "default"]) - 1


def test_rows_components_and_totals():
    net = [LayerShape("conv", "conv2d", 3, 8, (3, 3), padding=(1, 1), in_hw=(8, 8)),
           LayerShape("fc", "linear", 8 * 8 * 8, 10)]
    frame = costmodel.estimate(net, policy(), batch=4)
    assert list(frame["phase"]) == ["forward", "backward_weight", "update",
                                    "forward", "backward_input", "backward_weight", "update"]
    parts = [c for c in frame.columns if c.startswith("energy_") and c != "energy_pj"]
    assert parts == [f"energy_{c}_pj" for c in costmodel.pricing.COMPONENTS] + [
        "energy_memory_pj"]
    assert frame[parts[:-1]].sum(axis=1).to_numpy() == pytest.approx(
        frame["energy_pj"].to_numpy())
    levels = [f"energy_{lv}_pj" for lv in costmodel.pricing.LEVELS]
    assert frame[levels].sum(axis=1).to_numpy() == pytest.approx(
        frame["energy_memory_pj"].to_numpy())
    assert (frame[parts] >= 0).all().all() and "area_um2" not in frame  # area: attrs
    fwd = frame.iloc[0]
    assert (fwd.a_bits, fwd.b_bits, fwd.acc_bits) == (8, 8, wide_accumulator(8, 8, 27))
    assert (frame["energy_rescale_pj"] == 0).all()  # min-max with power-of-two scales
    # cheaper at a smaller node, more expensive with more bits
    assert costmodel.estimate(net, policy(), 4, node_nm=16)["energy_pj"].sum() < \
        frame["energy_pj"].sum()
    assert costmodel.estimate(net, policy(bits=12), 4)["energy_pj"].sum() > \
        frame["energy_pj"].sum()


def test_chain_dataflow_operands_and_incoming_gradient():
    # a chain: layer "b" reads the output of "a" (a's activations), not its own format
    net = [LayerShape("a", "linear", 6, 5), LayerShape("b", "linear", 5, 3)]
    pol = policy(kinds={"linear": {"activations": {"bits": 6}}},
                 layers={"first": {"weights": {"bits": 7}, "activations": {"bits": 5}},
                         "last": {"act_grads": {"bits": 3}}})
    rows = workload(resolve_sites(net), read_policy(pol), batch=2)
    by = {(w.layer, w.phase): w for w in rows}
    assert (by["a", "forward"].a_bits, by["a", "forward"].b_bits) == (8, 7)  # input, first
    assert by["a", "forward"].requants[0].spec.bits == 5  # a's output: [layers.first]
    assert (by["b", "forward"].a_bits, by["b", "forward"].b_bits) == (5, 8)
    assert by["b", "forward"].requants[0].spec.bits == 6  # b's output: [kinds.linear]
    assert (by["b", "backward_input"].a_bits, by["b", "backward_input"].b_bits) == (3, 8)
    # a's incoming gradient is b's exact backward_input accumulator: 3 + 8 + ceil(log2 3)
    incoming = by["a", "backward_weight"].requants[0]
    assert incoming.spec.role == "act_grads" and incoming.spec.bits == 8
    assert incoming.in_bits == by["b", "backward_input"].acc_bits == 3 + 8 + 2
    # b's comes from the loss, a float island: a 32-bit word
    assert by["b", "backward_weight"].requants[0].in_bits == 32
    # backward_input writes its result unquantized, at the accumulator's width
    bi = by["b", "backward_input"]
    assert bi.traffic_bits == 2 * 3 * 3 + 15 * 8 + 2 * 5 * bi.acc_bits


def test_real_scale_prices_the_fixed_point_multiplier():
    net = [LayerShape("fc", "linear", 16, 4)]
    real = policy()
    real["defaults"]["activations"]["scale"] = "real"
    frame = costmodel.estimate(net, real, batch=2)
    fwd = frame.iloc[0]
    rescale = Units().rescale(fwd.acc_bits, MULTIPLIER_BITS)
    assert fwd.energy_rescale_pj == pytest.approx(2 * 4 * rescale.energy_pj)
    narrow = costmodel.estimate(net, real, batch=2, multiplier_bits=8).iloc[0]
    assert 0 < narrow.energy_rescale_pj < fwd.energy_rescale_pj
    pow2 = costmodel.estimate(net, policy(), batch=2).iloc[0]
    assert pow2.energy_rescale_pj == 0 and pow2.energy_pj < fwd.energy_pj


def test_float_baseline_accumulator_and_master():
    shape = [LayerShape("fc", "linear", 16, 4)]
    base = costmodel.estimate(shape, "fp", batch=2)
    assert set(base["arith"]) == {"fp32"}
    assert (base[["energy_rounding_pj", "energy_stats_pj", "energy_rescale_pj"]] == 0).all().all()
    rows = workload(chain_sites(shape), read_policy("fp"), batch=2)
    assert rows[0].traffic_bits == 2 * (16 + 4) * 32 + 64 * 32  # each tensor once
    assert rows[-1].traffic_bits == 64 * (4 * 32 + 32)  # no weight codes under fp
    pol = policy()
    pol["defaults"]["accumulator"] = {"bits": 20}
    pol["layers"] = {"fc": {"weights": {"bits": 4}}}
    row = costmodel.estimate(shape, pol, batch=2).iloc[0]
    assert (row.a_bits, row.b_bits, row.acc_bits) == (8, 4, 20)
    float_master = policy()
    float_master["defaults"]["master"] = {"float": True}
    upd = costmodel.estimate(shape, float_master, batch=2).iloc[-1]
    assert upd.phase == "update" and upd.arith == "fp32" and upd.macs == 3 * 64
    fixed = costmodel.estimate(shape, policy(), batch=2).iloc[-1]
    assert (fixed.a_bits, fixed.b_bits, fixed.acc_bits) == (16, 24, 16 + 24 + 2)


def test_cdmp_compression_ratio_by_hand():
    # One linear layer 4 -> 2 (8 weights), batch 4, shipped cdmp: weights 8, activations 8,
    # act_grads 16, weight_grads 16, master 32 bits; easy group (share 0.5) activations 4,
    # act_grads 8. Wide accumulators. Per group of n samples (share s), bits per step:
    #   forward          n*4 in*x + s*8 w*8 + n*2 out*o
    #   backward_input   n*2*g + s*8*8 + n*4*acc, acc = g + 8 + ceil(log2 2) (unquantized result)
    #   backward_weight  n*4*x + n*2*g + s*8*16
    #   update           8 * (4*32 + 16 + 8) = 1216
    # default, n=2: 64+32+32 = 128;  2*2*16+32+2*4*25 = 296;  64+64+64 = 192     -> 616
    # easy,    n=2: 32+32+16 = 80;   2*2*8+32+2*4*17 = 200;   32+32+64 = 128     -> 408
    # cdmp total 616 + 408 + 1216 = 2240
    # without the easy group, n=4: 256; 128+64+400 = 592; 128+128+128 = 384 -> 2448
    net = [LayerShape("fc", "linear", 4, 2)]
    options = {"batch": 4, "input_grad_first_layer": True}
    cdmp = costmodel.estimate(net, "cdmp", **options)
    assert sorted(set(cdmp["group"])) == ["default", "easy"]
    sites = chain_sites(net)
    once = workload(sites, read_policy("cdmp"), 4, True)
    assert sum(w.traffic_bits for w in once) == 2240
    hard_once = workload(sites, read_policy("cdmp", {"easy": 0}), 4, True)
    assert sum(w.traffic_bits for w in hard_once) == 2448
    hard = read_policy("cdmp").policy.to_dict()
    del hard["groups"], hard["class_difficulty"]
    table = costmodel.compare({"cdmp": "cdmp"}, baseline=hard, net=net, **options)
    assert list(table["policy"]) == ["cdmp (baseline)", "cdmp"]
    # DRAM bits of the mapped phases (the groups run one after another, each reading the
    # weights: on this tiny layer that outweighs the easy group's narrower tensors)
    assert table["compression_ratio"].iloc[1] == pytest.approx(
        table["traffic_bits"].iloc[0] / table["traffic_bits"].iloc[1])
    # the easy group's narrower MACs save MAC energy (whole-step energy can go either way)
    frames = [costmodel.estimate(net, p, **options) for p in (hard, "cdmp")]
    assert frames[1]["energy_mac_pj"].sum() < frames[0]["energy_mac_pj"].sum()
    lanes = [costmodel.estimate(net, p, **options).attrs["area"] for p in (hard, "cdmp")]
    assert table["mac_lane_area_um2"].tolist() == [a.part_um2("mac_lane") for a in lanes]
    # with the lane multiplier fixed, the same lanes: the easy group changes only the shared
    # units (its 4-bit outputs drop more bits)
    fixed = {"array": {"rows": 12, "cols": 14, "mac": "16x8"}}
    lanes = [costmodel.estimate(net, p, arch=fixed, **options).attrs["area"]
             for p in (hard, "cdmp")]
    assert lanes[0].part_um2("mac_lane") == lanes[1].part_um2("mac_lane")
    assert lanes[0].part_um2("shared") != lanes[1].part_um2("shared")


def test_shares_from_policy_or_caller():
    net = [LayerShape("fc", "linear", 4, 2)]
    no_share = policy(name="m2", groups={"easy": {"activations": {"bits": 4}}},
                      class_difficulty={"easy_group": "easy"})
    with pytest.raises(ValueError, match="group 'easy' has no share"):
        costmodel.estimate(net, no_share, batch=4)
    quarter = costmodel.estimate(net, no_share, batch=4, shares={"easy": 0.25})
    assert quarter.groupby("group")["share"].first().to_dict() == {"default": 0.75,
                                                                   "easy": 0.25}
    half = costmodel.estimate(net, no_share, batch=4, shares={"easy": 0.5})
    assert half["traffic_bits"].sum() < quarter["traffic_bits"].sum()
    for shares, message in (({"hard": 0.5}, "unknown group"), ({"easy": 1.5}, r"\[0, 1\]"),
                            ({"easy": True}, r"\[0, 1\]")):
        with pytest.raises(ValueError, match=message):
            costmodel.estimate(net, no_share, shares=shares)
    two = policy(groups={"a": {"share": 0.7}, "b": {"share": 0.6}},
                 class_difficulty={"easy_group": "a"})
    with pytest.raises(ValueError, match=r"sum to 1\.3"):
        costmodel.estimate(net, two)
    with pytest.raises(ValueError, match="shares given for unknown group"):
        costmodel.compare(["int8"], net=net, shares={"easy": 0.5})


def test_fp_default_baseline_saves_energy_area_and_bits():
    net = [LayerShape("conv", "conv2d", 3, 8, (3, 3), in_hw=(8, 8))]
    table = costmodel.compare([policy(bits=4, name="int4"), policy()], net=net, batch=2)
    assert list(table["policy"]) == ["fp (baseline)", "int4", "int8"]
    int4, int8 = table.iloc[1], table.iloc[2]
    assert int4.energy_saving > int8.energy_saving > 0
    assert int4.area_saving >= int8.area_saving > 0
    assert int8.compression_ratio == pytest.approx(table.iloc[0].traffic_bits /
                                                   int8.traffic_bits)
    assert math.isclose(table.iloc[0].energy_saving, 0)


def test_bad_net_and_batch():
    with pytest.raises(ValueError, match=r"net must be one of .*resnet20"):
        costmodel.estimate("resnet21", "int8")
    with pytest.raises(TypeError, match="net entry 0 must be a LayerShape"):
        costmodel.estimate(["conv"], "int8")
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        costmodel.estimate([LayerShape("fc", "linear", 4, 2)], policy(), batch=0)
