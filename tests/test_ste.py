"""The straight-through estimator zeroes a gradient exactly where the forward quantizer clamped
the element (PyTorch's fake-quantize rule): codes that rounded onto the bound pass."""

from __future__ import annotations

import numpy as np

from fxsim.layers.base import Binder, Context, ste
from fxsim.layers.quantizer import TensorQuantizer
from fxsim.policy import Policy

CQAT = {"name": "c", "defaults": {
    "weights": {"bits": 5, "range": "cqat"}, "activations": {"bits": 4, "range": "cqat"},
    "act_grads": {"bits": 8}, "weight_grads": {"bits": 8},
    "master": {"bits": 32, "frac": 24}}}


def test_cqat_ste_by_hand():
    # cqat: step = max|x| / 127 = 1.0; unsigned 4-bit codes [0, 15] after a fused ReLU.
    # 14.6, 15.0, 15.4 round to 15 (onto the bound, not clamped): their gradients pass;
    # 15.6 rounds to 16 and 127.0 to 127: clamped to 15, their gradients are zeroed.
    spec = Policy.load(CQAT).spec("l", "activations", kind="batchnorm")
    q = TensorQuantizer(spec, "l.activations", relu_output=True, keep_mask=True)
    x = np.array([[3.0, 14.6, 15.0, 15.4, 15.6, 127.0]])
    out = q(x, seed=0, stream=0, observe=True)
    assert out.step == 1.0 and out.raw.tolist() == [[3, 15, 15, 15, 15, 15]]
    assert out.stats.saturated == 2
    assert q.ste_mask().tolist() == [[True, True, True, True, False, False]]
    # evaluation calls keep no mask; minmax (clips nothing beyond rounding) never masks
    q(x, seed=0, stream=0, observe=False)
    assert q.ste_mask() is None
    minmax = Policy.load("int8").spec("l", "activations", kind="batchnorm")
    m = TensorQuantizer(minmax, "l.activations", relu_output=True, keep_mask=True)
    m(x, seed=0, stream=0, observe=True)
    assert m.ste_mask() is None


def test_ste_through_a_layer_zeroes_only_clamped_gradients():
    binder = Binder(Policy.load(CQAT), seed=0)
    qs = binder.quantizers_for("l", "activations", "batchnorm", relu_output=True)
    ctx = Context(0, 0, True)
    x = np.array([[3.0, 14.6, 15.0, 15.4, 15.6, 127.0]])
    qs(x, ctx, 0)
    grads = ste(qs, [np.full((1, 6), 0.5)], ctx)
    assert grads[0].tolist() == [[0.5, 0.5, 0.5, 0.5, 0.0, 0.0]]
