"""A net bound to a policy: its quantizers, parameters, one training step and evaluation.

``Network(body, input_shape, num_classes, policy, seed)`` prepends the input quantizer, builds
every layer's quantizers and parameters from the policy (initial weights drawn from generators
keyed by (seed, layer name)), checks the policy's ``[layers.NAME]`` tables against the layer
names, and turns off the input gradient of the first MAC layer.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from fxsim.layers.base import Binder, Context, Sequential
from fxsim.layers.loss import softmax_cross_entropy
from fxsim.layers.mac import MacLayer
from fxsim.layers.simple import Input
from fxsim.numeric.formats import FxArray
from fxsim.policy import Policy, mac_aliases

ACC_WARN_RATE = 0.01  # warn when an accumulator overflows in more than this share of its sums


class Network:
    """A trainable net: ``body`` (a Sequential of fxsim layers) under ``policy``.

    Building it prepends the input quantizer, binds every layer to the policy (its quantizers:
    activations and activation gradients one per class group, weights and weight gradients
    shared; its parameters, initial weights drawn from generators keyed by (seed, layer
    name)), checks the policy against the net first (:meth:`fxsim.policy.Policy.check_net`:
    its ``[layers.NAME]`` tables and every role's word length at every layer, the check the
    cost model makes too) and the output shape, and turns off the input gradient of the first
    MAC layer.

    Parameters
    ----------
    body : fxsim.layers.Sequential
        The layers, e.g. :func:`reference_nets.build_net`; bound in place.
    input_shape : tuple of int
        ``(C, H, W)`` of one sample.
    num_classes : int
        Classes: the net's output per sample must be ``(num_classes,)``.
    policy : Policy, str, os.PathLike or dict
        What :meth:`fxsim.policy.Policy.load` accepts (a shipped name, a TOML path, ...).
    seed : int, default 0
        0..2**64-1: keys the initial weights.

    Attributes
    ----------
    layer_names : list of str
        Every layer's name in build order, ``"input"`` first.
    quantizers : dict
        ``"layer.role[.group]"`` -> the tensor quantizer, in build order.
    params : list of fxsim.layers.base.Param
        The trainable parameters (master weights, momentum, gradient) in forward order.

    Raises
    ------
    ValueError
        A bad ``seed``; a ``[layers.NAME]`` table naming no layer; a policy table that does
        not resolve for a layer, or a word length its codes cannot use (1-bit signed); an
        output shape other than ``(num_classes,)``.

    Examples
    --------
    >>> from reference_nets import build_net
    >>> from fxsim.training.network import Network
    >>> net = Network(build_net("digits_cnn"), (1, 8, 8), 10, "int8", seed=0)
    >>> net.layer_names
    ['input', 'l1_conv', 'l1_bn', 'l2_conv', 'l2_bn', 'pool', 'flatten', 'fc']
    >>> list(net.quantizers)[:3]
    ['input.activations', 'l1_conv.weights', 'l1_conv.activations']
    """

    def __init__(self, body: Sequential, input_shape: tuple[int, int, int], num_classes: int,
                 policy: Policy, seed: int = 0) -> None:
        self.body = body
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.policy = Policy.load(policy)
        self.seed = seed
        self.input = Input()
        self.policy.check_net(self.policy_places())
        macs = [layer for layer in body.walk() if isinstance(layer, MacLayer)]
        self.mac_layers = macs
        binder = Binder(self.policy, seed, mac_aliases([layer.name for layer in macs]))
        self.input.bind(binder)
        body.bind(binder)
        self.layer_names = list(binder.layer_names)
        self.quantizers = binder.quantizers
        shapes, out = body.shapes(self.input_shape)
        if out != (num_classes,):
            raise ValueError(f"the net's output shape is {out}, expected ({num_classes},)")
        self._layer_shapes = shapes
        if macs:
            macs[0].input_grad = False
        self.params = [p for layer in body.walk() for p in layer.params()]

    def policy_places(self) -> list:
        """Every layer as the policy addresses it, input first (what
        :meth:`fxsim.policy.Policy.check_net` checks)."""
        return [*self.input.policy_places(), *self.body.policy_places()]

    @property
    def layer_shapes(self):
        """The :class:`~fxsim.numeric.shapes.LayerShape` of every MAC layer (for the cost model)."""
        return list(self._layer_shapes)

    def forward(self, images: list[np.ndarray], ctx: Context) -> list:
        """Logits per part for float images per part.

        Parameters
        ----------
        images : list of numpy.ndarray
            Float images ``(N, C, H, W)``, one array per part (class group), in order.
        ctx : fxsim.layers.base.Context
            The pass: seed, global step, training or not, each part's class group.

        Returns
        -------
        list
            The last layer's output per part (codes or float64, ``(N, num_classes)``).
        """
        return self.body.forward(self.input.forward(images, ctx), ctx)

    def train_step(self, images: list[np.ndarray], labels: list[np.ndarray], ctx: Context):
        """Forward, loss and backward of one batch, given as parts.

        Sets every parameter's ``grad`` (the optimizer consumes it).

        Parameters
        ----------
        images : list of numpy.ndarray
            Float images ``(N, C, H, W)`` per part (class group).
        labels : list of numpy.ndarray
            Integer labels per part.
        ctx : fxsim.layers.base.Context
            The training pass (``training=True``).

        Returns
        -------
        loss : float
            The mean softmax cross-entropy over the whole batch (computed in float64).
        predictions : numpy.ndarray
            The arg-max class of every sample, parts concatenated in order.
        """
        logits = self.forward(images, ctx)
        loss, predictions, grads = softmax_cross_entropy(logits, labels)
        self.body.backward(grads, ctx)
        return loss, predictions

    def evaluate(self, images: np.ndarray, labels: np.ndarray, ctx: Context):
        """``(loss, predictions)`` of one batch in evaluation mode.

        One part: the default group's formats; running batch-norm statistics.

        Parameters
        ----------
        images : numpy.ndarray
            Float images ``(N, C, H, W)``.
        labels : numpy.ndarray
            Integer labels ``(N,)``.
        ctx : fxsim.layers.base.Context
            The evaluation pass (``training=False``).

        Returns
        -------
        loss : float
            The mean softmax cross-entropy (computed in float64).
        predictions : numpy.ndarray
            The arg-max class of every sample.
        """
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
        """Restore what :meth:`state_dict` returned (codes keep their formats and steps).

        Parameters
        ----------
        state : dict of str to numpy.ndarray
            A :meth:`state_dict` of the same net under the same policy.
        """
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
        bits, signedness, rounding, overflow, range rule and its parameters, and ``random``, the
        LFSR source of stochastic rounding's bits (empty: the counter generator); then one row per
        MAC layer's accumulator (``layer.accumulator``): its width (empty: ``wide``, the
        smallest width that never overflows) and overflow mode."""
        import pandas as pd

        rows = []
        for where, q in self.quantizers.items():
            spec, source = q.spec, q.spec.random_source
            rows.append({"quantizer": where, "bits": spec.bits, "signed": q.signed,
                         "rounding": spec.rounding, "random_bits": spec.random_bits,
                         "overflow": spec.overflow, "range": spec.range,
                         "params": " ".join(f"{k}={v}" for k, v in spec.params),
                         "random": "" if source is None else
                         f"lfsr width={source.width} lanes={source.lanes}"})
        for layer in self.mac_layers:
            if layer.acc is not None:
                rows.append({"quantizer": f"{layer.name}.accumulator", "bits": layer.acc.bits,
                             "signed": True, "overflow": layer.acc.overflow,
                             "range": "wide" if layer.acc.bits is None else "fixed"})
        table = pd.DataFrame(rows, columns=["quantizer", "bits", "signed", "rounding",
                                            "random_bits", "overflow", "range", "params",
                                            "random"])
        for column in ("bits", "random_bits"):
            table[column] = table[column].astype("Int64")
        return table

    def take_accumulator_stats(self) -> dict[str, tuple[int, int, int]]:
        """Per MAC layer with a narrow accumulator and per phase (``layer.accumulator.phase``):
        (sums, sums that saturated or wrapped, overflow events) since the last call."""
        return {f"{layer.name}.accumulator.{phase}": counts
                for layer in self.mac_layers
                for phase, counts in layer.take_accumulator_stats().items()}

    def rule_states(self) -> dict:
        """Every quantizer's range-rule state (JSON-able), by ``"layer.role[.group]"``."""
        return {where: q.state_dict() for where, q in self.quantizers.items()}

    def load_rule_states(self, states: dict) -> None:
        """Restore what :meth:`rule_states` returned."""
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


def accumulator_warning(row: dict[str, Any]) -> str | None:
    """One line naming every accumulator that overflowed in more than
    :data:`ACC_WARN_RATE` of its sums this epoch, or None."""
    hot = [(key[: -len(".sat_rate")].replace(".accumulator.", " "), value)
           for key, value in row.items()
           if ".accumulator." in key and key.endswith(".sat_rate") and value > ACC_WARN_RATE]
    if not hot:
        return None
    listed = ", ".join(f"{name} {100 * rate:.1f}%" for name, rate in hot)
    return (f"epoch {row['epoch']}: accumulators overflowed in more than "
            f"{100 * ACC_WARN_RATE:g}% of their sums: {listed} (metrics.csv: "
            "LAYER.accumulator.PHASE.overflows)")


def _raw(x) -> np.ndarray:
    return x.raw if isinstance(x, FxArray) else np.asarray(x)


def _with_raw(template, raw: np.ndarray):
    if isinstance(template, FxArray):
        return FxArray(np.asarray(raw, dtype=template.raw.dtype), template.fmt, check=False,
                       step=template.step)
    return np.asarray(raw, dtype=template.dtype).copy()
