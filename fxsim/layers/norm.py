"""Batch normalisation: a float island (DESIGN.md), with its output quantized.

Forward (training): the input codes are read as float64 values; per channel, the mean and the
biased variance over the whole batch (all class groups together, over N, H and W) normalise
them, ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` in float64, an optional fused ReLU
``max(y, 0)``, and the ``activations`` quantizer of this layer turns ``y`` into codes (unsigned
after a fused ReLU unless the policy says ``signed``). Running statistics (momentum 0.1,
unbiased variance, as PyTorch) serve evaluation.

Backward, in float64: the incoming gradient passes the output quantizer's straight-through
estimator and the ReLU mask, then the standard batch-norm backward; the input gradient is
returned as float64 for the layer below to quantize (batch norm itself quantizes no gradient:
the conv before it does). ``gamma`` and ``beta`` are float64 parameters updated by the
optimizer's float rule.

All sums are numpy's pairwise sums over fixed axes: deterministic for any thread count.
"""

from __future__ import annotations

import numpy as np

from fxsim.formats import FxArray
from fxsim.layers.base import Binder, Layer, Param, apply, ste


def as_float(x) -> np.ndarray:
    """float64 values of codes (or a float array unchanged)."""
    return x.to_float() if isinstance(x, FxArray) else np.asarray(x, dtype=np.float64)


class BatchNorm2d(Layer):
    """Batch norm over the channels of NCHW tensors; ``relu`` fuses a ReLU after it."""

    kind = "batchnorm"

    def __init__(self, name: str, channels: int, relu: bool = False, eps: float = 1e-5,
                 momentum: float = 0.1) -> None:
        self.name = name
        self.channels = channels
        self.relu = relu
        self.eps = eps
        self.momentum = momentum
        self.running_mean = np.zeros(channels)
        self.running_var = np.ones(channels)

    def bind(self, binder: Binder) -> None:
        super().bind(binder)
        self.gamma = binder.master(self.name, "gamma", np.ones(self.channels), self.kind,
                                   kind="float")
        self.beta = binder.master(self.name, "beta", np.zeros(self.channels), self.kind,
                                  kind="float")
        self.q_out = binder.quantizers_for(self.name, "activations", self.kind,
                                           relu_output=self.relu)

    def params(self) -> list[Param]:
        return [self.gamma, self.beta]

    def forward(self, xs, ctx):
        values = [as_float(x) for x in xs]
        axes = (0, 2, 3)
        shape = (1, self.channels, 1, 1)
        if ctx.training:
            count = sum(v.shape[0] for v in values) * values[0].shape[2] * values[0].shape[3]
            mean = sum(v.sum(axis=axes) for v in values) / count
            var = sum(((v - mean.reshape(shape)) ** 2).sum(axis=axes) for v in values) / count
            unbiased = var * count / max(count - 1, 1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)
        gamma = self.gamma.value().reshape(shape)
        beta = self.beta.value().reshape(shape)
        normed = [(v - mean.reshape(shape)) * inv_std.reshape(shape) for v in values]
        ys = [gamma * n + beta for n in normed]
        if self.relu:
            ys = [np.maximum(y, 0.0) for y in ys]
        outs = apply(self.q_out, ys, ctx)
        if ctx.training:
            self._saved = (normed, inv_std, ys, outs)
        return outs

    def backward(self, grads, ctx):
        normed, inv_std, ys, outs = self._saved
        del self._saved
        gs = [as_float(g) for g in ste(self.q_out, grads, outs, ctx)]
        if self.relu:
            gs = [np.where(y > 0, g, 0.0) for g, y in zip(gs, ys, strict=True)]
        axes = (0, 2, 3)
        shape = (1, self.channels, 1, 1)
        count = sum(g.shape[0] for g in gs) * gs[0].shape[2] * gs[0].shape[3]
        dbeta = sum(g.sum(axis=axes) for g in gs)
        dgamma = sum((g * n).sum(axis=axes) for g, n in zip(gs, normed, strict=True))
        self.gamma.grad, self.beta.grad = dgamma, dbeta
        scale = (self.gamma.value() * inv_std / count).reshape(shape)
        return [scale * (count * g - dbeta.reshape(shape) - n * dgamma.reshape(shape))
                for g, n in zip(gs, normed, strict=True)]

    def state_dict(self) -> dict:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def load_state_dict(self, state: dict) -> None:
        self.running_mean = np.array(state["running_mean"], dtype=np.float64)
        self.running_var = np.array(state["running_var"], dtype=np.float64)
