"""Workload and queries: MAC counts, policies, class-group shares, compression ratio."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
from costmodel.policy import read_policy
from costmodel.workload import wide_accumulator
from fxsim.shapes import LayerShape

MAC_PHASES = ("forward", "backward_input", "backward_weight")


def policy(bits=8, name="int8", **extra):
    role = {"bits": bits, "rounding": "nearest_even", "range": "minmax"}
    return {
        "name": name,
        "defaults": {
            "weights": dict(role), "activations": dict(role),
            "act_grads": {**role, "rounding": "stochastic"},
            "weight_grads": {**role, "rounding": "stochastic"},
            "master": {"bits": 16, "rounding": "stochastic"},
        },
        **extra,
    }


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
    hout, wout = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    expected = batch * cout * hout * wout * cin * k * k // groups
    frame = costmodel.estimate([shape], policy(), batch=batch)
    macs = frame.set_index("phase")["macs"]
    for phase in MAC_PHASES:
        assert macs[phase] == expected
    assert macs["update"] == 2 * cout * cin // groups * k * k


def test_rows_components_and_totals():
    net = [LayerShape("conv", "conv2d", 3, 8, (3, 3), padding=(1, 1), in_hw=(8, 8)),
           LayerShape("fc", "linear", 8 * 8 * 8, 10)]
    frame = costmodel.estimate(net, policy(), batch=4)
    assert list(frame["phase"]) == ["forward", "backward_input", "backward_weight", "update"] * 2
    parts = [c for c in frame.columns if c.startswith("energy_") and c != "energy_pj"]
    assert parts == ["energy_mac_pj", "energy_memory_pj", "energy_rounding_pj",
                     "energy_saturation_pj", "energy_stats_pj"]
    assert frame[parts].sum(axis=1).to_numpy() == pytest.approx(frame["energy_pj"].to_numpy())
    assert (frame[parts] >= 0).all().all() and (frame["area_um2"] > 0).all()
    fwd = frame.iloc[0]
    assert (fwd.a_bits, fwd.b_bits, fwd.acc_bits) == (8, 8, wide_accumulator(8, 8, 27))
    no_first = costmodel.estimate(net, policy(), batch=4, input_grad_first_layer=False)
    assert len(no_first) == len(frame) - 1
    # cheaper at a smaller node, more expensive with more bits
    assert costmodel.estimate(net, policy(), 4, node_nm=16)["energy_pj"].sum() < \
        frame["energy_pj"].sum()
    assert costmodel.estimate(net, policy(bits=12), 4)["energy_pj"].sum() > \
        frame["energy_pj"].sum()


def test_float_baseline_and_accumulator_and_overrides():
    shape = [LayerShape("fc", "linear", 16, 4)]
    base = costmodel.estimate(shape, {"name": "fp", "quantize": False}, batch=2)
    assert set(base["arith"]) == {"fp32"}
    assert (base[["energy_rounding_pj", "energy_stats_pj"]] == 0).all().all()
    fwd = base.iloc[0]
    assert fwd.traffic_bits == 2 * (16 + 4) * 32 + 64 * 32
    pol = policy()
    pol["defaults"]["accumulator"] = {"bits": 20}
    pol["layers"] = {"fc": {"weights": {"bits": 4}}}
    row = costmodel.estimate(shape, pol, batch=2).iloc[0]
    assert (row.a_bits, row.b_bits, row.acc_bits) == (8, 4, 20)
    float_master = policy()
    float_master["defaults"]["master"] = {"float": True}
    upd = costmodel.estimate(shape, float_master, batch=2).iloc[-1]
    assert upd.phase == "update" and upd.arith == "fp32"


def test_class_group_compression_ratio_by_hand():
    # One linear layer 4 -> 2 (8 weights), batch 4. Baseline: 8-bit everything, 16-bit master.
    # Traffic per step (bits), each operand once:
    #   forward         4 samples * (4 in + 2 out) * 8 + 8 weights * 8       = 256
    #   backward_input  4 * (2 + 4) * 8 + 8 * 8                              = 256
    #   backward_weight 4 * (4 * 8 + 2 * 8) + 8 weight grads * 8             = 256
    #   update          8 * (4 * 16 master/momentum r+w + 8 grads + 8 weights) = 640
    #   total 1408
    # Mixed: half the samples ("easy") use 4-bit activations and gradients:
    #   default half (2 samples): 2*6*8 + 32 = 128, 128, 2*(32+16) + 32 = 128  -> 384
    #   easy half    (2 samples): 2*6*4 + 32 = 80,  80,  2*(16+8) + 32 = 80    -> 240
    #   update unchanged 640; total 1264; compression ratio 1408 / 1264.
    net = [LayerShape("fc", "linear", 4, 2)]
    mixed = policy(name="mixed", groups={
        "easy": {"share": 0.5, "activations": {"bits": 4}, "act_grads": {"bits": 4}}})
    table = costmodel.compare({"mixed": mixed}, baseline=policy(), net=net, batch=4)
    assert list(table["policy"]) == ["int8 (baseline)", "mixed"]
    assert table["traffic_bits"].tolist() == [1408, 1264]
    assert table["compression_ratio"].iloc[1] == pytest.approx(1408 / 1264)
    assert table["energy_saving"].iloc[1] > 0
    assert table["area_saving"].iloc[1] == pytest.approx(0)  # the same widest lane
    frame = costmodel.estimate(net, mixed, batch=4)
    assert sorted(set(frame["group"])) == ["default", "easy"]
    # shares can come from the caller instead of the policy
    no_share = policy(name="m2", groups={"easy": {"activations": {"bits": 4},
                                                  "act_grads": {"bits": 4}}})
    with pytest.raises(ValueError, match="group 'easy' has no share"):
        costmodel.estimate(net, no_share, batch=4)
    again = costmodel.estimate(net, no_share, batch=4, shares={"easy": 0.5})
    assert again["traffic_bits"].sum() == 1264


def test_fp32_default_baseline_saves_energy_area_and_bits():
    net = [LayerShape("conv", "conv2d", 3, 8, (3, 3), in_hw=(8, 8))]
    table = costmodel.compare([policy(bits=4, name="int4"), policy()], net=net, batch=2)
    assert list(table["policy"]) == ["fp32 (baseline)", "int4", "int8"]
    int4, int8 = table.iloc[1], table.iloc[2]
    assert int4.energy_saving > int8.energy_saving > 0
    assert int4.area_saving > int8.area_saving > 0
    assert int8.compression_ratio == pytest.approx(table.iloc[0].traffic_bits /
                                                   int8.traffic_bits)


def test_policy_sources(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "t"\n[defaults]\nweights = { bits = 4 }\nactivations = { bits = 6 }\n'
        'act_grads = { bits = 8, rounding = "stochastic_k", random_bits = 4 }\n'
        'weight_grads = { bits = 8 }\nmaster = { bits = 24, frac = 20 }\n'
        '[layers.fc]\nweights = { bits = 2 }\n[groups.easy]\nshare = 0.25\n'
        'activations = { bits = 3 }\n'
    )
    pol = read_policy(path)
    assert pol.role("fc", "weights").bits == 2 and pol.role("x", "weights").bits == 4
    assert pol.role("fc", "activations", "easy").bits == 3
    assert pol.role("fc", "act_grads").random_bits == 4
    assert pol.group_shares() == {"default": 0.75, "easy": 0.25}

    class Obj:
        def to_dict(self):
            return policy()

    assert read_policy(Obj()).role("a", "weights").bits == 8
    assert costmodel.estimate([LayerShape("fc", "linear", 4, 2)], path, batch=2).shape[0] == 7
    with pytest.raises(FileNotFoundError):
        read_policy(tmp_path / "none.toml")
    bad = policy()
    bad["defaults"]["weights"] = {"rounding": "nearest_even"}
    with pytest.raises(ValueError, match="role 'weights': no bits"):
        read_policy(bad).role("fc", "weights")
    bad = policy()
    bad["defaults"]["weights"]["range"] = "magic"
    with pytest.raises(ValueError, match="range must be one of"):
        read_policy(bad).role("fc", "weights")
    with pytest.raises(ValueError, match="sum to"):
        read_policy(policy(groups={"a": {"share": 0.7}, "b": {"share": 0.6}})).group_shares()


def test_net_name_needs_reference_nets(monkeypatch):
    import reference_nets

    monkeypatch.delattr(reference_nets, "layer_shapes", raising=False)
    with pytest.raises(ValueError, match="layer_shapes"):
        costmodel.estimate("resnet20", policy())
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        costmodel.estimate([LayerShape("fc", "linear", 4, 2)], policy(), batch=0)
