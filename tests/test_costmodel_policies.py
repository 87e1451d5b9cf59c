"""The cost model reads policies as the simulator does: shipped names, kinds, first/last, groups,
and the operands each MAC layer really reads."""

import numpy as np
import pytest

import costmodel
from costmodel.dataflow import net_sites
from costmodel.policy import read_policy
from costmodel.units import Units
from costmodel.workload import workload
from fxsim.layers.base import Context
from fxsim.layers.mac import MacLayer
from fxsim.policy import Policy, shipped_policies
from fxsim.ranges import RANGE_RULES
from fxsim.training.network import Network
from reference_nets import NETS, build_net

SHIPPED = shipped_policies()


def test_shipped_policies_are_the_expected_ones():
    assert set(SHIPPED) >= {"fp", "int8", "sr8", "arc8", "arc4", "cqat", "cdmp",
                            "int4_interval", "int4_minmax"}


@pytest.mark.parametrize("net", sorted(NETS))
def test_every_shipped_policy_prices_on_every_reference_net(net):
    table = costmodel.compare(list(SHIPPED), baseline="fp", net=net, batch=2)
    assert list(table["policy"]) == ["fp (baseline)", *SHIPPED]
    assert (table["energy_pj"] > 0).all() and (table["traffic_bits"] > 0).all()
    quantized = table[~table["policy"].str.startswith("fp")]
    assert (quantized["energy_saving"] > 0).all() and (quantized["compression_ratio"] > 1).all()
    assert table.set_index("policy").loc["fp", "energy_saving"] == 0
    # area: every scheme's MAC lane is below the fp32 lane; the total is the lanes + the rest
    fp_lane = table["mac_lane_area_um2"].iloc[0]
    assert ((quantized["mac_lane_area_um2"] < fp_lane) & (quantized["area_saving"] > 0)).all()
    assert table["area_um2"].to_numpy() == pytest.approx(
        (168 * table["mac_lane_area_um2"] + table["shared_area_um2"]
         + table["buffer_area_um2"] + table["update_area_um2"]).to_numpy())


def test_kinds_and_first_last_resolve_per_mac_layer():
    rows = workload(net_sites("resnet20"), read_policy("int4_interval"), batch=1)
    by = {(w.layer, w.phase): w for w in rows}
    # conv1 reads the 8-bit input quantizer ([kinds.input]) with 8-bit weights ([layers.first])
    assert (by["conv1", "forward"].a_bits, by["conv1", "forward"].b_bits) == (8, 8)
    # inner convs read 4-bit batch-norm / residual-add outputs with 4-bit weights, and write
    # 8-bit outputs ([kinds.conv2d]) with a real-step rescale
    for layer in ("s1b0_conv1", "s1b1_conv1", "s3b2_conv2"):
        fwd = by[layer, "forward"]
        assert (fwd.a_bits, fwd.b_bits) == (4, 4)
        assert fwd.requants[0].spec.bits == 8 and fwd.requants[0].real
    # fc reads the 4-bit average pool ([defaults]) with 8-bit weights ([layers.last]); its
    # act_grads are 8-bit ([layers.last]) under the large-gradient interval rule ([defaults])
    assert (by["fc", "forward"].a_bits, by["fc", "forward"].b_bits) == (4, 8)
    bw = by["fc", "backward_weight"]
    assert bw.b_bits == 8 and bw.stats[0].rule == "large_grad_interval"
    inner = by["s1b0_conv1", "backward_weight"]
    assert inner.b_bits == 4 and inner.stats[0].rule == "large_grad_interval"
    assert "backward_input" not in {w.phase for w in rows if w.layer == "conv1"}
    # int4_minmax: the same widths, min-max gradient ranges
    last = {(w.layer, w.phase): w for w in workload(net_sites("resnet20"),
                                                    read_policy("int4_minmax"), 1)}
    assert last["fc", "backward_weight"].b_bits == 8
    assert last["fc", "backward_weight"].stats[0].rule == "minmax"


def test_policy_sources_price_identically(tmp_path):
    policy = Policy.load("arc4")
    path = tmp_path / "arc4.toml"
    path.write_text(policy.to_toml())

    class Obj:
        def to_dict(self):
            return policy.to_dict()

    frames = [costmodel.estimate("digits_cnn", source, batch=4)
              for source in ("arc4", path, str(path), policy, policy.to_dict(), Obj())]
    for frame in frames[1:]:
        assert frame.equals(frames[0])
    with pytest.raises(FileNotFoundError, match="neither a file nor a shipped policy"):
        costmodel.estimate("digits_cnn", "int3")
    with pytest.raises(TypeError, match="policy must be"):
        costmodel.estimate("digits_cnn", 8)
    bad = policy.to_dict()
    bad["defaults"]["weights"]["range"] = "magic"
    with pytest.raises(ValueError, match="range must be one of"):
        costmodel.estimate("digits_cnn", bad)


def test_every_range_rule_has_a_statistics_cost():
    units = Units()
    for rule in RANGE_RULES:
        assert f"stats_{rule}" in units.defs, rule
        cost = units.stats(rule, 16)
        if rule != "fixed":
            assert cost.energy_pj > 0 and cost.area_um2 > 0
    # the INT4 interval rule: DoReFa's max|g| and the per-element compare and counter of its
    # clip-ratio update
    assert units.stats("large_grad_interval", 16) == pytest.approx(
        units.stats("dorefa", 16) + units.unit("stats_counter", w=16))
    with pytest.raises(ValueError, match="range rule 'magic' has no cost definition"):
        units.stats("magic", 8)


def _probe_policy():
    """Distinct activation widths per producing kind, so a MAC layer's input format names its
    producer."""
    def role(bits):
        return {"bits": bits, "range": "minmax"}

    return {"name": "probe",
            "defaults": {"weights": role(6), "activations": role(5), "act_grads": role(8),
                         "weight_grads": role(12), "master": {"bits": 24, "frac": 16}},
            "kinds": {"input": {"activations": role(7)}, "batchnorm": {"activations": role(4)},
                      "add": {"activations": role(3)}, "conv2d": {"activations": role(9)},
                      "linear": {"activations": role(10)}},
            "layers": {"first": {"weights": role(11)}, "last": {"weights": role(2)}}}


@pytest.mark.parametrize("net", ["digits_cnn", "resnet20"])
def test_operand_widths_are_what_the_simulator_multiplies(net):
    # run the simulator's forward pass and record the formats each MAC layer multiplies
    shape = (NETS[net][1][0], 8, 8)
    network = Network(build_net(net, shape), shape, 10, _probe_policy())
    seen = {}
    for layer in network.body.walk():
        if isinstance(layer, MacLayer):
            def product(x, w, rounding=None, _layer=layer, _product=layer.product):
                seen[_layer.name] = (x.fmt.bits, w.fmt.bits)
                return _product(x, w, rounding)

            layer.product = product
    images = np.random.default_rng(0).standard_normal((2, *shape))
    network.forward([images], Context(seed=0, step=0, training=False))
    sites = net_sites(net, shape)
    rows = workload(sites, read_policy(_probe_policy()), batch=1)
    priced = {w.layer: (w.a_bits, w.b_bits) for w in rows if w.phase == "forward"}
    assert priced == seen
    assert len(set(seen.values())) >= 3  # the probe tells the producers apart


def test_mac_layer_in_a_shortcut_is_refused(monkeypatch):
    from reference_nets import specs
    from reference_nets.specs import node

    def projection_net(shape, num_classes):
        conv = node("conv2d", "b_conv", in_channels=3, out_channels=3, kernel=3, padding=1)
        shortcut = node("conv2d", "s_conv", in_channels=3, out_channels=3, kernel=1)
        return node("sequential", "proj", node("residual", "blk", node("sequential", "b", conv),
                                               node("sequential", "s", shortcut)))

    monkeypatch.setitem(specs.NETS, "resnet20", (projection_net, (3, 5, 5), "cifar10"))
    with pytest.raises(NotImplementedError, match="block 'blk' has a MAC layer in its shortcut"):
        net_sites("resnet20", (3, 5, 5))
