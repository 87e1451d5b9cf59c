"""A quantized training step equals the Python-int reference path, bit for bit: every integer
product and pooling of a whole step is recomputed by tests/ops_reference.py and compared."""

from __future__ import annotations

import numpy as np
import ops_reference as ref
import pytest

from fxsim import FxArray, ops
from fxsim.layers import (
    AvgPool2d,
    BatchNorm2d,
    Context,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    Residual,
    Sequential,
    ShortcutA,
)
from fxsim.policy import Policy
from fxsim.training.network import Network
from fxsim.training.optim import SGD


def tiny_net() -> Sequential:
    branch = Sequential("r_branch", [Conv2d("r_c1", 4, 6, 3, 2, 1), BatchNorm2d("r_bn1", 6, True),
                                     Conv2d("r_c2", 6, 6, 3, 1, 1), BatchNorm2d("r_bn2", 6)])
    return Sequential("tiny", [
        Conv2d("c1", 1, 4, 3, 1, 1), BatchNorm2d("bn1", 4, relu=True),
        Residual("r", branch, ShortcutA("r_sc", 4, 6, 2)),
        MaxPool2d("mp", 2, 1), AvgPool2d("ap", 2, 1, 1), GlobalAvgPool2d("gap"),
        Flatten("fl"), Linear("fc", 6, 3),
    ])


def _with_bits(acc):
    return {} if acc is None or acc.bits is None else {"bits": acc.bits,
                                                        "overflow": acc.overflow}


def checking(calls: list[str]):
    """Wrappers of the fxsim.ops functions that compare each result with the reference."""
    real = {name: getattr(ops, name) for name in ops.__all__ if not name[0].isupper()}

    def same(result: FxArray, values) -> None:
        assert np.array_equal(result.raw.astype(object), np.asarray(values, dtype=object))

    def conv2d(x, w, acc=None, output_rounding=None, **geom):
        out = real["conv2d"](x, w, acc=acc, output_rounding=output_rounding, **geom)
        same(out, ref.conv2d(x.raw, w.raw, **geom, **_with_bits(acc))[0])
        calls.append("conv2d")
        return out

    def conv2d_backward_input(g, w, shape, acc=None, **geom):
        out = real["conv2d_backward_input"](g, w, shape, acc=acc, **geom)
        same(out, ref.conv2d_backward_input(g.raw, w.raw, shape, **geom, **_with_bits(acc))[0])
        calls.append("conv2d_backward_input")
        return out

    def conv2d_backward_weight(x, g, shape, acc=None, **geom):
        out = real["conv2d_backward_weight"](x, g, shape, acc=acc, **geom)
        same(out, ref.conv2d_backward_weight(x.raw, g.raw, shape, **geom, **_with_bits(acc))[0])
        calls.append("conv2d_backward_weight")
        return out

    def linear_like(name):
        def op(a, b, acc=None):
            out = real[name](a, b, acc=acc)
            same(out, getattr(ref, name)(a.raw, b.raw, **_with_bits(acc))[0])
            calls.append(name)
            return out
        return op

    def max_pool2d(x, kernel, stride=None, padding=0):
        out, idx = real["max_pool2d"](x, kernel, stride, padding)
        values, indices = ref.max_pool2d(x.raw, kernel, stride, padding)
        same(out, values)
        assert np.array_equal(idx.astype(object), indices)
        calls.append("max_pool2d")
        return out, idx

    def max_pool2d_backward(g, idx, shape):
        out = real["max_pool2d_backward"](g, idx, shape)
        same(out, ref.max_pool2d_backward(g.raw, idx, shape))
        calls.append("max_pool2d_backward")
        return out

    def avg_pool2d(x, kernel, stride=None, padding=0):
        out = real["avg_pool2d"](x, kernel, stride, padding)
        same(out, ref.avg_pool2d_sum(x.raw, kernel, stride, padding))
        calls.append("avg_pool2d")
        return out

    def avg_pool2d_backward(g, shape, kernel, stride=None, padding=0):
        out = real["avg_pool2d_backward"](g, shape, kernel, stride, padding)
        same(out, ref.avg_pool2d_backward_sum(g.raw, shape, kernel, stride, padding))
        calls.append("avg_pool2d_backward")
        return out

    return {"conv2d": conv2d, "conv2d_backward_input": conv2d_backward_input,
            "conv2d_backward_weight": conv2d_backward_weight,
            "linear": linear_like("linear"),
            "linear_backward_input": linear_like("linear_backward_input"),
            "linear_backward_weight": linear_like("linear_backward_weight"),
            "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward,
            "avg_pool2d": avg_pool2d, "avg_pool2d_backward": avg_pool2d_backward}


NARROW = {
    "name": "narrow",
    "defaults": {
        "weights": {"bits": 6, "range": "minmax"},
        "activations": {"bits": 6, "range": "minmax"},
        "act_grads": {"bits": 5, "rounding": "stochastic", "range": "zscore"},
        "weight_grads": {"bits": 8, "rounding": "toward_zero"},
        "master": {"bits": 20, "frac": 16, "rounding": "stochastic"},
        "accumulator": {"bits": 12, "overflow": "saturate"},
    },
    "layers": {"last": {"accumulator": {"bits": 14, "overflow": "wrap"}}},
}


@pytest.mark.parametrize("policy", ["sr8", "cdmp", "int4_interval", NARROW],
                         ids=["sr8", "cdmp", "int4_interval", "narrow-accumulators"])
def test_training_steps_equal_the_reference_path(policy, monkeypatch):
    calls: list[str] = []
    for name, fn in checking(calls).items():
        monkeypatch.setattr(ops, name, fn)
    net = Network(tiny_net(), (1, 6, 6), 3, Policy.load(policy), seed=4)
    opt = SGD(net.params)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 1, 6, 6))
    y = rng.integers(0, 3, 5)
    groups = (0, 1) if len(net.policy.group_names) > 1 else (0,)
    for step in range(2):
        parts = [x[:3], x[3:]] if len(groups) == 2 else [x]
        labels = [y[:3], y[3:]] if len(groups) == 2 else [y]
        net.train_step(parts, labels, Context(7, step, True, groups))
        opt.step(0.05, seed=7, step=step)
    assert {"conv2d", "conv2d_backward_input", "conv2d_backward_weight", "linear",
            "linear_backward_input", "linear_backward_weight", "max_pool2d",
            "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"} <= set(calls)
    # the first MAC layer computes no input gradient
    assert calls.count("conv2d_backward_input") == 2 * 2 * len(groups)
