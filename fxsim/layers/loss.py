"""Softmax cross-entropy: a float island (DESIGN.md).

The logits' codes are read as float64 values; the loss is the mean over the batch of
``logsumexp(z) - z[label]`` (computed stably, max subtracted), and its gradient with respect to
the logits, ``(softmax(z) - onehot(label)) / N``, is returned as float64 for the last layer to
quantize with its ``act_grads`` quantizer before it enters the network.
"""

from __future__ import annotations

import numpy as np

from fxsim.layers.base import as_float


def softmax_cross_entropy(logits: list, labels: list[np.ndarray]):
    """``(loss, predictions, grads)`` over all parts: the mean loss (float), the arg-max class
    of every sample (parts concatenated in order) and the loss gradient per part (float64)."""
    values = [as_float(z) for z in logits]
    total = sum(v.shape[0] for v in values)
    loss = 0.0
    grads, predictions = [], []
    for z, y in zip(values, labels, strict=True):
        shifted = z - z.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss += float((np.log(sums[:, 0]) - shifted[rows, y]).sum())
        prob = exp / sums
        prob[rows, y] -= 1.0
        grads.append(prob / total)
        predictions.append(z.argmax(axis=1))
    return loss / max(total, 1), np.concatenate(predictions), grads
