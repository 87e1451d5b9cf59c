"""Batch normalisation: a float island (DESIGN.md), with its output quantized.

Forward (training): the input codes are read as float64 values; per channel, the mean and the
biased variance over the whole batch (all class groups together, over N, H and W; one-pass
shifted sums per part, combined pairwise) normalise them,
``y = scale * x + shift`` with ``scale = gamma / sqrt(var + eps)`` and
``shift = beta - mean * scale``, in float64, an optional fused ReLU
``max(y, 0)``, and the ``activations`` quantizer of this layer turns ``y`` into codes (unsigned
after a fused ReLU unless the policy says ``signed``). Running statistics (momentum 0.1,
unbiased variance, as PyTorch) serve evaluation.

Backward, in float64: the incoming gradient passes the output quantizer's straight-through
estimator and the ReLU mask, then the standard batch-norm backward; the input gradient is
returned as float64 for the layer below to quantize (batch norm itself quantizes no gradient:
the conv before it does). ``gamma`` and ``beta`` are float64 parameters updated by the
optimizer's float rule.

Every per-channel sum is that of a fixed order (:mod:`fxsim.layers._bn_sums`): deterministic for
any thread count. The output and the input gradient are :class:`~fxsim.numeric.deferred.
DeferredFloat` tensors that their quantizers round block by block
(:mod:`fxsim.layers._bn_kernels`).
"""

from __future__ import annotations

import numpy as np

from fxsim.layers import _bn_kernels as kernels
from fxsim.layers._bn_sums import backward_sums, channel_sums
from fxsim.layers.base import Binder, Layer, Param, apply, ste


class BatchNorm2d(Layer):
    """Batch norm over the channels of NCHW tensors; ``relu`` fuses a ReLU after it."""

    op = "batchnorm"
    # set by the Sequential holding this layer when the layer before takes deferred gradients
    # (it quantizes them first): backward then returns them as DeferredFloat
    deferred_grads = False

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

    def _batch_stats(self, operands: list) -> tuple[np.ndarray, np.ndarray, int, list]:
        """Per-channel mean and biased variance over all parts (Chan et al.'s pairwise
        combination of each part's shifted sums, parts in order), and each part's smallest and
        largest code per channel."""
        count = 0
        mean = np.zeros(self.channels)
        m2 = np.zeros(self.channels)
        extremes = []
        for x, lsb in operands:
            m = x.shape[0] * x.shape[2] * x.shape[3]
            ref, s1, s2, lows, highs = channel_sums(x, lsb)
            extremes.append((lows, highs))
            part_mean = ref + s1 / m
            part_m2 = np.maximum(s2 - s1 * s1 / m, 0.0)
            total = count + m
            delta = part_mean - mean
            mean = mean + delta * (m / total)
            m2 = m2 + part_m2 + delta * delta * (count * m / total)
            count = total
        return mean, m2 / count, count, extremes

    def forward(self, xs, ctx):
        operands = [kernels.operand(x) for x in xs]
        extremes = [None] * len(operands)
        if ctx.training:
            mean, var, count, extremes = self._batch_stats(operands)
            unbiased = var * count / max(count - 1, 1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        else:
            mean, var, count = self.running_mean, self.running_var, 0
        inv_std = 1.0 / np.sqrt(var + self.eps)
        scale = self.gamma.value() * inv_std
        shift = self.beta.value() - mean * scale
        part_scales = [scale * lsb for _, lsb in operands]  # per code of each part
        ys = [kernels.affine(x, ps, shift, self.relu, ends)
              for (x, _), ps, ends in zip(operands, part_scales, extremes, strict=True)]
        # the output quantizer reads the deferred values block by block (none: the fp policy)
        outs = apply(self.q_out, ys, ctx) if self.q_out is not None else [y.values() for y in ys]
        if ctx.training:
            self._saved = (operands, part_scales, mean, inv_std, shift, count)
        return outs

    def backward(self, grads, ctx):
        operands, part_scales, mean, inv_std, shift, count = self._saved
        del self._saved
        gs = [kernels.operand(g) for g in ste(self.q_out, grads, ctx)]
        parts = list(zip(operands, gs, part_scales, strict=True))
        dbeta = np.zeros(self.channels)
        dgamma = np.zeros(self.channels)
        for (x, x_lsb), (g, g_lsb), ps in parts:
            part_beta, part_gamma = backward_sums(x, x_lsb, g, g_lsb, mean, inv_std, ps, shift,
                                                  self.relu)
            dbeta += part_beta
            dgamma += part_gamma
        self.gamma.grad, self.beta.grad = dgamma, dbeta
        k = self.gamma.value() * inv_std / count
        grads = [kernels.backward_input(x, x_lsb, g, g_lsb, mean, inv_std, ps, shift,
                                        self.relu, k, count, dbeta, dgamma)
                 for (x, x_lsb), (g, g_lsb), ps in parts]
        return grads if self.deferred_grads else [g.values() for g in grads]

    def state_dict(self) -> dict:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def load_state_dict(self, state: dict) -> None:
        self.running_mean = np.array(state["running_mean"], dtype=np.float64)
        self.running_var = np.array(state["running_var"], dtype=np.float64)
