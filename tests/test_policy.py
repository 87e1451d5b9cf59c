"""Policies: TOML reading, validation with clear errors, merge order, shipped files."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from fxsim.io import toml_text
from fxsim.policy import DEFAULT_GROUP, Policy, shipped_policies
from fxsim.testing.strategies import policies, rounding_modes

BASE = {
    "name": "t",
    "defaults": {
        "weights": {"bits": 8, "range": "minmax"},
        "activations": {"bits": 8},
        "act_grads": {"bits": 8, "rounding": "stochastic"},
        "weight_grads": {"bits": 16},
        "master": {"bits": 24, "frac": 20},
    },
}


def policy(**changes):
    data = {**BASE, **changes}
    return Policy.from_dict(data)


def test_merge_order_defaults_kinds_aliases_layers_groups():
    p = policy(
        kinds={"conv2d": {"activations": {"bits": 7}}},
        layers={"first": {"activations": {"bits": 6}}, "c1": {"activations": {"bits": 5}}},
        groups={"easy": {"share": 0.5, "activations": {"bits": 4}}},
        class_difficulty={"easy_group": "easy"},
    )
    assert p.spec("x", "activations").bits == 8
    assert p.spec("x", "activations", kind="conv2d").bits == 7
    assert p.spec("x", "activations", kind="conv2d", aliases=("first",)).bits == 6
    assert p.spec("c1", "activations", kind="conv2d", aliases=("first",)).bits == 5
    assert p.spec("c1", "activations", "easy", "conv2d", ("first",)).bits == 4
    # keys not overridden survive the merge
    assert p.spec("c1", "act_grads", "easy").rounding == "stochastic"
    assert p.group_names == (DEFAULT_GROUP, "easy")


def test_defaults_of_a_role():
    p = policy()
    w = p.spec("l", "weights")
    assert (w.rounding, w.overflow, w.signed, w.range) == ("nearest_even", "saturate", True,
                                                           "minmax")
    assert p.spec("l", "activations").signed is None  # decided by the producing layer
    assert p.spec("l", "accumulator").bits is None  # wide
    fixed = policy(defaults={**BASE["defaults"], "weights": {"bits": 8, "frac": 6}})
    spec = fixed.spec("l", "weights")
    assert spec.range == "fixed" and dict(spec.params) == {"frac": 6}


def test_fp_policy_quantizes_nothing():
    p = Policy.load("fp")
    assert not p.quantize
    assert p.spec("anything", "weights").is_float


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "unknown key 'colour'; allowed: name"),
        ({"defaults": {"wieghts": {"bits": 8}}}, "unknown key 'wieghts'; allowed: weights"),
        ({"defaults": {**BASE["defaults"], "weights": {"bits": 99}}},
         "bits must be an integer in 1..62"),
        ({"defaults": {**BASE["defaults"], "weights": {"bits": 8, "rounding": "up"}}},
         "rounding must be one of nearest_even"),
        ({"defaults": {**BASE["defaults"], "weights": {"bits": 8, "range": "magic"}}},
         "range must be one of"),
        ({"defaults": {**BASE["defaults"], "weights": {"bits": 8, "z": 3}}},
         "unknown key 'z' for range 'minmax'"),
        ({"defaults": {**BASE["defaults"], "master": {"bits": 24}}}, "needs frac"),
        ({"defaults": {**BASE["defaults"], "accumulator": {"bits": 32, "rounding": "floor"}}},
         "unknown key 'rounding'"),
        ({"kinds": {"pool": {}}}, "unknown layer kind [kinds.pool]"),
        ({"groups": {"easy": {"share": 0.5, "activations": {"bits": 4}}}},
         "need a [class_difficulty] table"),
        ({"groups": {"easy": {"weights": {"bits": 4}}},
          "class_difficulty": {"easy_group": "easy"}}, "cannot vary per class group"),
        ({"groups": {"easy": {"share": 2}}, "class_difficulty": {"easy_group": "easy"}},
         "share must be a number in [0, 1]"),
        ({"groups": {"easy": {}}, "class_difficulty": {"easy_group": "hard"}},
         "easy_group must name a [groups.G] table"),
        ({"quantize": "yes"}, "quantize must be true or false"),
    ],
)
def test_bad_policies_name_what_is_wrong(change, message):
    with pytest.raises(ValueError) as info:
        policy(**change)
    assert message in str(info.value)
    assert "policy 't'" in str(info.value) or "colour" in str(info.value)


def test_missing_bits_names_the_place():
    with pytest.raises(ValueError, match="role 'weights': no bits"):
        Policy.from_dict({"name": "n", "defaults": {"weights": {"rounding": "floor"}}})


def test_unknown_layer_is_refused_against_the_net():
    p = policy(layers={"conv9": {"weights": {"bits": 4}}})
    with pytest.raises(ValueError, match=r"\[layers.conv9\] names no layer of this net"):
        p.check_layers(["conv1", "fc"])
    policy(layers={"first": {"weights": {"bits": 4}}}).check_layers(["conv1"])


@pytest.mark.parametrize("name", shipped_policies())
def test_shipped_policies_round_trip_through_toml(name):
    p = Policy.load(name)
    again = Policy.from_toml(p.to_toml())
    assert again.to_dict() == p.to_dict()


def test_shipped_policy_names():
    assert set(shipped_policies()) >= {"fp", "int8", "sr8", "arc8", "arc4", "cqat", "cdmp",
                                       "int4_interval", "int4_minmax"}


def test_load_from_file_and_errors(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(Policy.load("int8").to_toml().replace('name = "int8"\n', ""))
    assert Policy.load(path).name == "mine"  # the file's stem names an unnamed policy
    bad = tmp_path / "bad.toml"
    bad.write_text("defaults = [")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        Policy.load(bad)
    with pytest.raises(FileNotFoundError, match="neither a file nor a shipped policy"):
        Policy.load(tmp_path / "absent.toml")


def test_dump_toml_quotes_and_nests():
    text = toml_text({"a": 1, "s": 'x"y', "t": {"u": {"bits": 8}, "v": {"w.x": {"b": True}}}})
    import tomllib

    assert tomllib.loads(text) == {"a": 1, "s": 'x"y',
                                   "t": {"u": {"bits": 8}, "v": {"w.x": {"b": True}}}}


@settings(max_examples=40, deadline=None)
@given(policies(net="digits_cnn", modes=rounding_modes(registered=False)))
def test_any_drawn_policy_loads_round_trips_and_binds_to_its_net(data):
    """fxsim.testing.strategies.policies draws valid policies: they load, survive TOML, and
    bind every quantizer of the net they were drawn for."""
    from fxsim.training.network import Network
    from reference_nets import build_net

    loaded = Policy.load(data)
    assert Policy.from_toml(loaded.to_toml()).to_dict() == loaded.to_dict()
    net = Network(build_net("digits_cnn"), (1, 8, 8), 10, loaded)
    table = net.quantizer_table()
    assert len(table) and set(table["rounding"].dropna()) <= {
        spec["rounding"] for spec in data["defaults"].values() if "rounding" in spec}
