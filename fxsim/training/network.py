"""A net bound to a policy: its quantizers, parameters, one training step and evaluation.

``Network(body, input_shape, num_classes, policy, seed)`` prepends the input quantizer, builds
every layer's quantizers and parameters from the policy (initial weights drawn from generators
keyed by (seed, layer name)), checks the policy's ``[layers.NAME]`` tables against the layer
names, and turns off the input gradient of the first MAC layer.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fxsim.layers.base import Binder, Context, Sequential
from fxsim.layers.loss import softmax_cross_entropy
from fxsim.layers.mac import MacLayer
from fxsim.layers.simple import Input
from fxsim.numeric.formats import FxArray
from fxsim.policy import Policy, mac_aliases


class Network:
    """A trainable net: ``body`` (a Sequential of fxsim layers) under ``policy``."""

    def __init__(self, body: Sequential, input_shape: tuple[int, int, int], num_classes: int,
                 policy: Policy, seed: int = 0) -> None:
        self.body = body
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.policy = Policy.load(policy)
        self.seed = seed
        self.input = Input()
        macs = [layer for layer in body.walk() if isinstance(layer, MacLayer)]
        binder = Binder(self.policy, seed, mac_aliases([layer.name for layer in macs]))
        self.input.bind(binder)
        body.bind(binder)
        self.layer_names = list(binder.layer_names)
        self.policy.check_layers(self.layer_names)
        self.quantizers = binder.quantizers
        shapes, out = body.shapes(self.input_shape)
        if out != (num_classes,):
            raise ValueError(f"the net's output shape is {out}, expected ({num_classes},)")
        self._layer_shapes = shapes
        if macs:
            macs[0].input_grad = False
        self.params = [p for layer in body.walk() for p in layer.params()]

    @property
    def layer_shapes(self):
        """The :class:`~fxsim.numeric.shapes.LayerShape` of every MAC layer (for the cost model)."""
        return list(self._layer_shapes)

    def forward(self, images: list[np.ndarray], ctx: Context) -> list:
        """Logits per part for float images per part (N, C, H, W)."""
        return self.body.forward(self.input.forward(images, ctx), ctx)

    def train_step(self, images: list[np.ndarray], labels: list[np.ndarray], ctx: Context):
        """Forward, loss and backward of one batch (given as parts): sets every parameter's
        ``grad``; returns ``(loss, predictions)`` with predictions in parts order."""
        logits = self.forward(images, ctx)
        loss, predictions, grads = softmax_cross_entropy(logits, labels)
        self.body.backward(grads, ctx)
        return loss, predictions

    def evaluate(self, images: np.ndarray, labels: np.ndarray, ctx: Context):
        """``(loss, predictions)`` of one batch in evaluation mode (one part: the default
        group's formats; running batch-norm statistics)."""
        logits = self.forward([images], ctx)
        loss, predictions, _ = softmax_cross_entropy(logits, [labels])
        return loss, predictions

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array a bit-exact resume needs, by name: master weights and momentum (codes or
        floats), running statistics; quantizers' rule states go in :meth:`rule_states`."""
        state: dict[str, np.ndarray] = {}
        for p in self.params:
            state[f"param/{p.name}"] = _raw(p.master)
            state[f"velocity/{p.name}"] = _raw(p.velocity)
        for layer in self.body.walk():
            for key, value in layer.state_dict().items():
                state[f"layer/{layer.name}/{key}"] = np.asarray(value)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for p in self.params:
            p.master = _with_raw(p.master, state[f"param/{p.name}"])
            p.velocity = _with_raw(p.velocity, state[f"velocity/{p.name}"])
        for layer in self.body.walk():
            own = {k.split("/", 2)[2]: v for k, v in state.items()
                   if k.startswith(f"layer/{layer.name}/")}
            if own:
                layer.load_state_dict(own)

    def quantizer_table(self):
        """A DataFrame with one row per quantizer (``layer.role[.group]``): the fully resolved
        bits, signedness, rounding, overflow, range rule and its parameters."""
        import pandas as pd

        rows = []
        for where, q in self.quantizers.items():
            spec = q.spec
            rows.append({"quantizer": where, "bits": spec.bits, "signed": q.signed,
                         "rounding": spec.rounding, "random_bits": spec.random_bits,
                         "overflow": spec.overflow, "range": spec.range,
                         "params": " ".join(f"{k}={v}" for k, v in spec.params)})
        return pd.DataFrame(rows, columns=["quantizer", "bits", "signed", "rounding",
                                           "random_bits", "overflow", "range", "params"])

    def rule_states(self) -> dict:
        return {where: q.state_dict() for where, q in self.quantizers.items()}

    def load_rule_states(self, states: dict) -> None:
        for where, q in self.quantizers.items():
            q.load_state_dict(states[where])

    def weights_sha256(self) -> str:
        """SHA-256 of every parameter's master (names, dtypes, shapes and bytes, in order): the
        integer weights under a fixed-point master, their float bytes otherwise."""
        digest = hashlib.sha256()
        for p in self.params:
            raw = np.ascontiguousarray(_raw(p.master))
            digest.update(f"{p.name}:{raw.dtype.str}:{raw.shape}".encode())
            digest.update(raw.tobytes())
        return digest.hexdigest()

    def state_sha256(self) -> str:
        """SHA-256 of the whole state (:meth:`state_dict`), momentum and statistics included."""
        digest = hashlib.sha256()
        for key, value in sorted(self.state_dict().items()):
            raw = np.ascontiguousarray(value)
            digest.update(f"{key}:{raw.dtype.str}:{raw.shape}".encode())
            digest.update(raw.tobytes())
        return digest.hexdigest()


def _raw(x) -> np.ndarray:
    return x.raw if isinstance(x, FxArray) else np.asarray(x)


def _with_raw(template, raw: np.ndarray):
    if isinstance(template, FxArray):
        return FxArray(np.asarray(raw, dtype=template.raw.dtype), template.fmt, check=False,
                       step=template.step)
    return np.asarray(raw, dtype=template.dtype).copy()
