"""What every layer shares: the step context, parameters, the binder that gives a layer its
quantizers and parameters from a policy, and the sequential container.

A batch travels as a list of *parts*, one per class group present in it (one part when the
policy has no groups): samples of class group ``G`` run with ``G``'s activation and gradient
formats (class-difficulty mixed precision). Layers map over parts, except where a whole-batch
quantity is needed (batch-norm statistics, the weight gradient summed over all samples).

Each part is an :class:`~fxsim.FxArray` of codes, or a float64 array under the ``fp`` policy
(no quantization; the same layers and kernels in float64).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from fxsim.layers import tracing
from fxsim.layers.quantizer import TensorQuantizer
from fxsim.numeric._code_kernels import keep_where
from fxsim.numeric.convert import quantize, requantize_scaling
from fxsim.numeric.formats import FxArray, QFormat
from fxsim.numeric.rounding import random_bits_for
from fxsim.policy import DEFAULT_GROUP, OP_KINDS, NetPlace, Policy, RoleSpec

Tensor = FxArray | np.ndarray


@dataclass
class Context:
    """One forward/backward pass: the run's ``seed``, the global ``step`` index, whether it is a
    ``training`` pass (adaptive rules observe, activations are kept for backward), and the
    class group index of each part. Random streams of stochastic rounding are keyed by
    (step, training, quantizer site, group): :meth:`stream`."""

    seed: int
    step: int
    training: bool = True
    part_groups: tuple[int, ...] = (0,)

    def stream(self, site: int, part: int) -> int:
        """The random stream of quantizer ``site`` on part ``part`` in this pass
        (:func:`stream_id`)."""
        return stream_id(self.step, self.training, site, self.part_groups[part])


def stream_id(step: int, training: bool, site: int, group: int = 0) -> int:
    """The random stream of rounding ``site`` (a quantizer, or one rounding of the optimizer)
    for class ``group`` at ``step``: distinct for every (step, training flag, site < 2**20,
    group < 16)."""
    return (((step << 1) | (not training)) << 24) | (site << 4) | group


@dataclass
class Param:
    """A trainable tensor. ``master`` is the optimizer's copy: an :class:`~fxsim.FxArray` in
    the policy's master format, a float32 array (``master = { float = true }``) or a float64
    array (the ``fp`` policy and the float islands' parameters, ``kind == "float"``).
    ``velocity`` is the momentum buffer in the same representation; ``grad`` the quantized
    gradient of the last backward pass (codes in the weight_grads format, or float)."""

    name: str
    master: Tensor
    kind: str = "weight"  # "weight" (quantized by a weights quantizer) or "float"
    velocity: Tensor | None = None
    grad: Tensor | None = None
    decay: bool = True  # weight decay applies
    spec: RoleSpec | None = None  # the master role of a fixed-point master

    @property
    def shape(self) -> tuple[int, ...]:
        return self.master.shape

    def value(self) -> np.ndarray:
        """The master values as float64."""
        m = self.master
        return m.to_float() if isinstance(m, FxArray) else np.asarray(m, dtype=np.float64)


def check_seed(seed: object) -> int:
    """``seed`` as an int in ``0..2**64-1`` (the two uint32 words that key every random
    stream of a run), or a ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must be an integer in 0..2**64-1, got {seed!r}")
    return int(seed)


class Binder:
    """Builds quantizers and parameters of layers from a policy; hands out quantizer sites
    (the ids that key random streams) in build order, so a net built twice numbers them the
    same way."""

    def __init__(self, policy: Policy, seed: int,
                 aliases: dict[str, tuple[str, ...]] | None = None) -> None:
        self.policy = policy
        self.seed = check_seed(seed)
        self.aliases = aliases or {}
        self.sites = 0
        self.quantizers: dict[str, TensorQuantizer] = {}
        self.layer_names: list[str] = []

    @property
    def quantized(self) -> bool:
        return self.policy.quantize

    def spec(self, layer: str, role: str, kind: str, group: str = DEFAULT_GROUP) -> RoleSpec:
        """The policy's spec of ``role`` in ``layer`` of kind ``kind`` (with its aliases)."""
        return self.policy.spec(layer, role, group, kind, self.aliases.get(layer, ()))

    def quantizers_for(self, layer: str, role: str, kind: str, *, per_group: bool = True,
                       relu_output: bool = False, histogram: bool = False,
                       label: str | None = None) -> QuantizerSet | None:
        """The quantizers of ``role`` in ``layer``, one per class group (or one shared), or
        None under the ``fp`` policy. They are named ``layer.label[.group]`` (``label``
        defaults to ``role``; a second quantizer of one role in a layer needs its own)."""
        if not self.quantized:
            return None
        groups = self.policy.group_names if per_group else (DEFAULT_GROUP,)
        site = self.sites
        self.sites += 1
        items = []
        for group in groups:
            where = f"{layer}.{label or role}" + ("" if group == DEFAULT_GROUP else f".{group}")
            if where in self.quantizers:
                raise ValueError(f"two quantizers named {where!r}: give the second a label")
            q = TensorQuantizer(self.spec(layer, role, kind, group), where, relu_output,
                                histogram, keep_mask=role == "activations", layer=layer,
                                label=label or role)
            self.quantizers[where] = q
            items.append(q)
        return QuantizerSet(site, items)

    def rng(self, layer: str) -> np.random.Generator:
        """The initialisation generator of ``layer``: PCG64 keyed by the uint32 words
        ``[lo(seed), hi(seed), crc32(name)]`` (fixed width: no two (seed, name) pairs share a
        key unless their names' CRCs collide), independent of build order."""
        words = [self.seed & 0xFFFFFFFF, self.seed >> 32, zlib.crc32(layer.encode())]
        return np.random.default_rng(np.array(words, dtype=np.uint32))

    def master(self, layer: str, name: str, values: np.ndarray, layer_kind: str,
               kind: str = "weight", decay: bool = True) -> Param:
        """A parameter initialised to ``values`` (float64), stored as the policy's master
        representation (quantized to the master format, nearest_even); ``kind="float"``: a
        float64 parameter of a float island."""
        values = np.asarray(values, dtype=np.float64)
        spec = None
        if kind == "float" or not self.quantized:
            master: Tensor = values.copy()
        else:
            spec = self.spec(layer, "master", layer_kind)
            if spec.is_float:
                master = values.astype(np.float32)
            else:
                master = quantize(values, QFormat(spec.bits, spec.frac))
                master = FxArray(master.raw.astype(np.int64), master.fmt, check=False)
        if spec is not None and spec.is_float:
            spec = None
        param = Param(f"{layer}.{name}", master, kind=kind, decay=decay, spec=spec)
        param.velocity = _zeros_like(master)
        return param


def _zeros_like(master: Tensor) -> Tensor:
    if isinstance(master, FxArray):
        return FxArray(np.zeros_like(master.raw), master.fmt, check=False)
    return np.zeros_like(master)


@dataclass
class QuantizerSet:
    """The quantizers of one role at one place, indexed by class group; ``site`` keys their
    random streams."""

    site: int
    items: list[TensorQuantizer] = field(default_factory=list)

    def pick(self, ctx: Context, part: int) -> TensorQuantizer:
        """The quantizer of ``part``'s class group."""
        return self.items[ctx.part_groups[part]] if len(self.items) > 1 else self.items[0]

    def __call__(self, value: Tensor, ctx: Context, part: int) -> FxArray:
        q = self.pick(ctx, part)
        stream = ctx.stream(self.site, part)
        if tracing.RECORDER is None:  # no trace: nothing else to do
            return q(value, ctx.seed, stream, observe=ctx.training)
        kind = "requantize" if isinstance(value, FxArray) else "quantize"
        rec = tracing.recorder_for(kind, q.layer, q.label, ctx.step, ctx.training)
        if rec is None:
            return q(value, ctx.seed, stream, observe=ctx.training)
        details: dict = {}
        out = q(value, ctx.seed, stream, observe=ctx.training, details=details)
        rec.add(quantizer_event(q, kind, value, out, details, ctx, part))
        return out

    def mask(self, ctx: Context, part: int) -> np.ndarray | None:
        return self.pick(ctx, part).ste_mask()


def apply(quantizers: QuantizerSet | None, values: list[Tensor], ctx: Context) -> list[Tensor]:
    """Quantize each part with its group's quantizer; identity under the ``fp`` policy."""
    if quantizers is None:
        return values
    return [quantizers(v, ctx, p) for p, v in enumerate(values)]


def as_float(x: Tensor) -> np.ndarray:
    """float64 values of codes (or a float array unchanged), C-contiguous."""
    values = x.to_float() if isinstance(x, FxArray) else np.asarray(x, dtype=np.float64)
    return np.ascontiguousarray(values)


def masked(grad: Tensor, mask: np.ndarray | None) -> Tensor:
    """``grad`` with zeros where ``mask`` is False (None: unchanged)."""
    if mask is None:
        return grad
    if isinstance(grad, FxArray):
        return grad.with_raw(keep_where(grad.raw, mask))
    return keep_where(np.asarray(grad, dtype=np.float64), mask)


def ste(quantizers: QuantizerSet | None, grads: list[Tensor], ctx: Context) -> list[Tensor]:
    """The straight-through estimator through the output quantizers: gradients pass
    unchanged except at the outputs the quantizer clamped in this step's forward pass (see
    :meth:`TensorQuantizer.ste_mask`)."""
    if quantizers is None:
        return grads
    out = []
    for p, g in enumerate(grads):
        mask = quantizers.mask(ctx, p)
        passed = masked(g, mask)
        rec = None
        if tracing.RECORDER is not None:
            q = quantizers.pick(ctx, p)
            rec = tracing.recorder_for("ste", q.layer, q.label, ctx.step, ctx.training)
        if rec is not None:
            ones = np.ones(np.shape(g), dtype=bool) if mask is None else mask
            rec.add(tracing.TraceEvent(
                "ste", q.layer, q.label, "backward", ctx.step, ctx.training, p,
                ctx.part_groups[p], {"clamped": int(ones.size - np.count_nonzero(ones))},
                {"grad": tracing.tensor(g), "mask": tracing.mask(ones),
                 "out": tracing.tensor(passed)}))
        out.append(passed)
    return out


def random_source_field(source) -> dict | None:
    """A trace event's ``random``: the LFSR source of the random words, None for fxsim's
    counter generator."""
    if source is None:
        return None
    return {"kind": source.kind, "width": source.width, "lanes": source.lanes}


def quantizer_event(q: TensorQuantizer, kind: str, value: Tensor, out: FxArray,
                    details: dict, ctx: Context, part: int) -> tracing.TraceEvent:
    """The ``kind`` event (``quantize``, or ``requantize`` when ``value`` is codes) of one
    quantizer call (docs/trace-format.md)."""
    spec, scale, fmt = q.spec, details["scale"], details["fmt"]
    random_bits = random_bits_for(spec.rounding, spec.random_bits)  # 0: deterministic
    fields = {
        "quantizer": q.where, "rounding": spec.rounding,
        "random_bits": random_bits or None,
        "overflow": spec.overflow, "seed": out.stats.seed if random_bits else None,
        "stream": out.stats.stream, "random": random_source_field(spec.random_source),
        "code_min": details["low"], "code_max": details["high"],
        "scale": {"frac": scale.frac, "step": scale.step, "clip": scale.clip,
                  "rule": spec.range},
        "saturated": out.stats.saturated, "wrapped": out.stats.wrapped,
    }
    tensors = {"x": tracing.tensor(value), "q": tracing.codes(out)}
    if kind == "requantize":
        multiplier, shift = requantize_scaling(value, fmt, scale.step,
                                               details["multiplier_bits"])
        fields.update(multiplier=multiplier, shift=shift,
                      multiplier_bits=details["multiplier_bits"])
    if details["tracked"]:
        passed = q.last_mask
        tensors["clamped"] = tracing.mask(np.zeros(out.shape, dtype=bool) if passed is None
                                          else ~passed)
    return tracing.TraceEvent(kind, q.layer, q.label, tracing.ROLE_PHASES.get(q.label, ""),
                              ctx.step, ctx.training, part, ctx.part_groups[part], fields,
                              tensors)


class Layer:
    """A layer: ``forward(parts, ctx)`` and ``backward(grad_parts, ctx)``; layers that quantize
    create their quantizers and parameters in :meth:`bind`. Layers with MACs also report their
    geometry (:meth:`shapes`) to the cost model."""

    name: str = ""
    # backward accepts float gradients as a DeferredFloat (fxsim.numeric.deferred): it only
    # quantizes them (MAC layers of a quantized net)
    takes_deferred_grads: bool = False
    op: str = ""  # the layer's op in specs (reference_nets.specs) and fxsim.policy.OP_KINDS
    kind: str | None = None  # the policy kind of its activations quantizer (from ``op``)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "op" in cls.__dict__:
            if cls.op not in OP_KINDS:
                raise TypeError(f"{cls.__name__}.op must be one of {', '.join(OP_KINDS)}; "
                                f"got {cls.op!r}")
            cls.kind = OP_KINDS[cls.op]

    def bind(self, binder: Binder) -> None:
        """Create quantizers and parameters from the binder's policy (default: none)."""
        binder.layer_names.append(self.name)

    def policy_places(self) -> list[NetPlace]:
        """This layer as a policy addresses it (:meth:`fxsim.policy.Policy.check_net`), in
        the order :meth:`bind` names layers; containers list the layers inside."""
        return [NetPlace(self.name, self.kind, bool(getattr(self, "relu", False)))]

    def forward(self, xs: list[Tensor], ctx: Context) -> list[Tensor]:
        raise NotImplementedError

    def backward(self, grads: list[Tensor], ctx: Context) -> list[Tensor] | None:
        raise NotImplementedError

    def params(self) -> list[Param]:
        return []

    def children(self) -> list[Layer]:
        return []

    def shapes(self, in_shape: tuple[int, ...]) -> tuple[list, tuple[int, ...]]:
        """(LayerShapes of the MAC layers inside, output shape) for an input of ``in_shape``
        (per sample, without the batch axis). Default: shape unchanged, no MAC layer."""
        return [], in_shape

    def walk(self):
        """This layer and all layers inside it, depth first."""
        yield self
        for child in self.children():
            yield from child.walk()

    def state_dict(self) -> dict:
        """Non-parameter state needed for a bit-exact resume (running statistics)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass




class Sequential(Layer):
    """Layers applied one after another; backward in reverse order."""

    op = "sequential"

    def __init__(self, name: str, layers: list[Layer]) -> None:
        self.name = name
        self.layers = list(layers)

    def bind(self, binder: Binder) -> None:
        for layer in self.layers:
            layer.bind(binder)
        for before, layer in zip(self.layers[:-1], self.layers[1:], strict=True):
            if hasattr(layer, "deferred_grads"):  # batch norm: see Layer.takes_deferred_grads
                layer.deferred_grads = before.takes_deferred_grads

    def policy_places(self) -> list[NetPlace]:
        return [place for layer in self.layers for place in layer.policy_places()]

    def forward(self, xs, ctx):
        for layer in self.layers:
            xs = layer.forward(xs, ctx)
        return xs

    def backward(self, grads, ctx):
        for layer in reversed(self.layers):
            grads = layer.backward(grads, ctx)
            if grads is None:
                return None
        return grads

    def children(self):
        return self.layers

    def shapes(self, in_shape):
        found = []
        for layer in self.layers:
            inner, in_shape = layer.shapes(in_shape)
            found.extend(inner)
        return found, in_shape
