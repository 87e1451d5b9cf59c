"""Residual blocks: ``out = relu(branch(x) + shortcut(x))``.

The add aligns the two code tensors' scales with integer shifts (:func:`fxsim.numeric.arith.add`:
exact
for power-of-two scales), applies the fused ReLU on the integer sum, and requantizes with the
``activations`` quantizer of the layer named ``<block>_add``. Backward: the gradient passes the
output quantizer's straight-through estimator and the ReLU mask and goes unchanged to both paths;
at the fork the two input gradients are summed by :func:`fxsim.numeric.arith.add`.
"""

from __future__ import annotations

import numpy as np

from fxsim.layers.base import Binder, Layer, Sequential, apply, masked, ste
from fxsim.numeric import arith
from fxsim.numeric.formats import FxArray
from fxsim.policy import NetPlace


class Residual(Layer):
    """A residual block: ``branch`` (a Sequential), ``shortcut`` (None: identity), and the
    add with a fused ReLU."""

    op = "residual"

    def __init__(self, name: str, branch: Sequential, shortcut: Layer | None = None,
                 relu: bool = True) -> None:
        self.name = name
        self.branch = branch
        self.shortcut = shortcut
        self.relu = relu

    def bind(self, binder: Binder) -> None:
        self.branch.bind(binder)
        if self.shortcut is not None:
            self.shortcut.bind(binder)
        binder.layer_names.append(f"{self.name}_add")
        self.q_out = binder.quantizers_for(f"{self.name}_add", "activations", self.kind,
                                           relu_output=self.relu)

    def policy_places(self):
        inner = self.branch.policy_places()
        if self.shortcut is not None:
            inner += self.shortcut.policy_places()
        return [*inner, NetPlace(f"{self.name}_add", self.kind, self.relu)]

    def children(self):
        return [self.branch] + ([self.shortcut] if self.shortcut is not None else [])

    def forward(self, xs, ctx):
        hs = self.branch.forward(xs, ctx)
        ss = xs if self.shortcut is None else self.shortcut.forward(xs, ctx)
        # with the fused ReLU, where the gradient passes it (sum > 0), from the same pass
        added = [arith.add_with_mask(h, s, relu=self.relu) for h, s in zip(hs, ss, strict=True)]
        sums = [total for total, _ in added]
        masks = [mask for _, mask in added] if self.relu else None
        outs = apply(self.q_out, sums, ctx)
        if ctx.training:
            self._saved = masks
        return outs

    def backward(self, grads, ctx):
        masks = self._saved
        del self._saved
        grads = ste(self.q_out, grads, ctx)
        if masks is not None:
            grads = [masked(g, m) for g, m in zip(grads, masks, strict=True)]
        from_branch = self.branch.backward(grads, ctx)
        from_short = grads if self.shortcut is None else self.shortcut.backward(grads, ctx)
        return [arith.add(a, b) for a, b in zip(from_branch, from_short, strict=True)]

    def shapes(self, in_shape):
        found, out = self.branch.shapes(in_shape)
        if self.shortcut is not None:
            inner, short = self.shortcut.shapes(in_shape)
            found.extend(inner)
        else:
            short = in_shape
        if short != out:
            raise ValueError(f"block {self.name!r}: branch gives {out}, shortcut gives {short}")
        return found, out


class ShortcutA(Layer):
    """The parameter-free shortcut of He et al.'s CIFAR ResNets (option A): take every
    ``stride``-th pixel and append zero channels up to ``out_channels``. Codes and format are
    kept; backward scatters the gradient back (zeros elsewhere)."""

    op = "shortcut_a"

    def __init__(self, name: str, in_channels: int, out_channels: int, stride: int = 2) -> None:
        self.name = name
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, xs, ctx):
        if ctx.training:
            self._saved = [x.shape for x in xs]
        return [_map(x, self._down) for x in xs]

    def _down(self, a: np.ndarray) -> np.ndarray:
        s = self.stride
        sub = a[:, :, ::s, ::s]
        out = np.zeros((a.shape[0], self.out_channels, *sub.shape[2:]), dtype=a.dtype)
        out[:, : self.in_channels] = sub
        return out

    def backward(self, grads, ctx):
        shapes = self._saved
        del self._saved
        s = self.stride

        def up(g: np.ndarray, shape) -> np.ndarray:
            out = np.zeros((g.shape[0], self.in_channels, *shape[2:]), dtype=g.dtype)
            out[:, :, ::s, ::s] = g[:, : self.in_channels]
            return out

        return [_map(g, lambda a, sh=shape: up(a, sh)) for g, shape in zip(grads, shapes,
                                                                             strict=True)]

    def shapes(self, in_shape):
        _c, h, w = in_shape
        s = self.stride
        return [], (self.out_channels, -(-h // s), -(-w // s))


def _map(x, fn):
    """``fn`` applied to the codes (format kept) or to the float array."""
    return x.with_raw(fn(x.raw)) if isinstance(x, FxArray) else fn(x)
