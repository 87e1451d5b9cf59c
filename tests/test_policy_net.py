"""One check of a policy against a net: training, ``fxsim policies --net`` and the cost model
accept and refuse the same policies with the same messages, before anything runs."""

from __future__ import annotations

import pytest

import costmodel
from fxsim.cli import main
from fxsim.layers import Input
from fxsim.policy import Policy
from fxsim.training.loop import TrainConfig, train
from reference_nets import build_net
from reference_nets.specs import NETS, policy_places

BASE = {"weights": {"bits": 8}, "activations": {"bits": 8}, "act_grads": {"bits": 8},
        "weight_grads": {"bits": 16}, "master": {"bits": 32, "frac": 24}}

BAD = {
    "unknown layer": ({"layers": {"conv9": {"weights": {"bits": 4}}}},
                      "policy 'bad': [layers.conv9] names no layer of this net; layers: input, "
                      "l1_conv, l1_bn, l2_conv, l2_bn, pool, flatten, fc"),
    "1-bit signed weights": ({"layers": {"l2_conv": {"weights": {"bits": 1}}}},
                             "policy 'bad', layer 'l2_conv', role 'weights': signed codes need "
                             "bits >= 2"),
    "1-bit signed conv output": ({"kinds": {"conv2d": {"activations": {"bits": 1}}}},
                                 "policy 'bad', layer 'l1_conv', role 'activations': signed "
                                 "codes need bits >= 2"),
    "cqat wider than its base": ({"layers": {"fc": {"weights": {"bits": 9, "range": "cqat"}}}},
                                 "policy 'bad', layer 'fc', role 'weights': range rule 'cqat': "
                                 "bits must be <= base_bits=8"),
}


def _policy(extra: dict, tmp_path) -> str:
    data = {"name": "bad", "defaults": dict(BASE), **extra}
    path = tmp_path / "bad.toml"
    path.write_text(Policy.from_dict(data).to_toml())
    return str(path)


@pytest.mark.parametrize("case", list(BAD))
def test_training_policies_and_cost_refuse_alike(case, tmp_path, capsys):
    extra, message = BAD[case]
    policy = _policy(extra, tmp_path)
    out = tmp_path / "run"
    with pytest.raises(ValueError) as trained:
        train(TrainConfig(policy=policy, limit=32, epochs=1), out)
    assert not out.exists()  # refused before any file is written
    with pytest.raises(ValueError) as priced:
        costmodel.estimate("digits_cnn", policy, batch=8)
    assert str(trained.value) == str(priced.value)
    assert message in str(trained.value)
    for command in (["policies", "--net", "digits_cnn", "--policy", policy],
                    ["cost", "--net", "digits_cnn", "--policy", policy]):
        assert main(command) == 2
        assert str(trained.value) in capsys.readouterr().err


def test_one_bit_is_fine_unsigned(tmp_path):
    policy = _policy({"kinds": {"batchnorm": {"activations": {"bits": 1}}}}, tmp_path)
    costmodel.estimate("digits_cnn", policy, batch=8)  # after a fused ReLU: unsigned
    train(TrainConfig(policy=policy, limit=32, epochs=1), tmp_path / "run")


@pytest.mark.parametrize("net", list(NETS))
def test_the_spec_and_the_built_net_list_the_same_places(net):
    built = [*Input().policy_places(), *build_net(net).policy_places()]
    assert policy_places(net) == built
    assert any(p.relu_output for p in built) and built[0].name == "input"


def test_cost_refuses_batch_zero(capsys):
    with pytest.raises(SystemExit):
        main(["cost", "--net", "digits_cnn", "--policy", "int8", "--batch", "0"])
    assert "argument --batch: must be an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="batch must be an integer >= 1, got 0"):
        costmodel.estimate("digits_cnn", "int8", batch=0)
