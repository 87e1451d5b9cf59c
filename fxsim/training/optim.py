"""SGD with momentum and weight decay, on fixed-point or float master weights, and learning-rate
schedules.

The rule (PyTorch's SGD): ``v <- momentum * v + (g + weight_decay * w)``; ``w <- w - lr * v``.

Fixed-point master (``master = { bits = B, frac = F, rounding = R, const_frac = H }``): weights
``w`` and velocity ``v`` are B-bit codes with F fraction bits; the constants are H-bit fixed
point, ``c = round(constant * 2**H)`` (ties to even; so a learning rate below ``2**-(H+1)``
is 0). With ``g`` the weight-gradient codes moved to ``F + H`` fraction bits (an exact left
shift when its fraction length is at most ``F + H``, else rounded by R), every step computes in
int64, exactly:

    v_acc = momentum_c * v + g + decay_c * w            (F + H fraction bits)
    v     = requantize(v_acc -> B bits, F frac; rounding R, saturate)
    w_acc = w * 2**H - lr_c * v                          (F + H fraction bits)
    w     = requantize(w_acc -> B bits, F frac; rounding R, saturate)

so the only roundings are the two of R (stochastic rounding draws from streams keyed by the
step and the parameter). ``bits + const_frac <= 60`` keeps every term below 2**62.

Float masters (float32 with ``master = { float = true }``; float64 under the ``fp`` policy and
for the float islands' parameters such as batch-norm scales) use the same rule in their own
float type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fxsim.layers import tracing
from fxsim.layers.base import Param, random_source_field, stream_id
from fxsim.numeric.convert import quantize, requantize
from fxsim.numeric.formats import FxArray, QFormat
from fxsim.numeric.multiplier import fixed_point_multiplier
from fxsim.numeric.rounding import random_bits_for
from fxsim.policy import RoleSpec

OPTIMIZER_SITE_BASE = 1 << 19  # random-stream sites of the optimizer (quantizers use fewer)
OPTIMIZER_SITES = 3  # per parameter: the roundings of the gradient, the velocity, the weight
SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class Schedule:
    """Learning rate per step: ``constant``; ``step`` (multiplied by ``gamma`` from each epoch
    in ``milestones`` on: milestone ``m`` lowers the rate of epochs ``m+1, m+2, ...``,
    1-based); ``cosine`` (from ``lr`` to 0 over all ``epochs``, per step). An optional linear
    ``warmup_epochs`` ramps from ``lr / steps`` up to ``lr``.

    ``extended_from``: the epoch counts a run had before ``--epochs`` extended it (increasing,
    each below ``epochs``). An epoch is trained with the cosine of the first count above it,
    as it was when it ran: a run of 5 epochs extended to 8 follows the 5-epoch cosine for
    epochs 1-5, then the 8-epoch cosine (from its value at epoch 6) for epochs 6-8."""

    lr: float
    kind: str = "cosine"
    epochs: int = 1
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0
    extended_from: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_schedule(self.kind, self.lr, self.epochs, self.milestones, self.warmup_epochs,
                       self.extended_from)

    def total_epochs(self, epoch: int) -> int:
        """The epoch count in force when ``epoch`` (0-based) was trained."""
        return next((n for n in self.extended_from if epoch < n), self.epochs)

    def lr_at(self, epoch: int, step_in_epoch: int, steps_per_epoch: int) -> float:
        """The learning rate of step ``step_in_epoch`` (0-based) of ``epoch`` (0-based)."""
        progress = epoch + step_in_epoch / max(steps_per_epoch, 1)
        if self.warmup_epochs and progress < self.warmup_epochs:
            done = epoch * steps_per_epoch + step_in_epoch + 1
            return self.lr * done / (self.warmup_epochs * steps_per_epoch)
        if self.kind == "constant":
            return self.lr
        if self.kind == "step":
            return self.lr * self.gamma ** sum(epoch >= m for m in self.milestones)
        total = self.total_epochs(epoch)
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * progress / max(total, 1)))


def check_schedule(kind: str, lr: float, epochs: int, milestones: tuple[int, ...] = (),
                   warmup_epochs: int = 0, extended_from: tuple[int, ...] = ()) -> None:
    """Refuse a schedule that cannot mean what it says, naming the setting: an unknown kind, a
    learning rate that is not a finite number > 0, a ``step`` schedule without milestones,
    milestones that are not increasing epochs in ``1..epochs-1`` (a milestone at or past the
    last epoch would change nothing), milestones with another schedule, warm-up longer than
    the run, ``extended_from`` not increasing below ``epochs``."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {kind!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) \
            or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    milestones = tuple(milestones)
    if kind == "step" and not milestones:
        raise ValueError("schedule 'step' needs milestones (--milestones E1 E2 ...: the epochs "
                         "after which lr is multiplied by 0.1)")
    if kind != "step" and milestones:
        raise ValueError(f"milestones apply only to the 'step' schedule; got milestones "
                         f"{list(milestones)} with schedule {kind!r}")
    for m in milestones:
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m < epochs:
            raise ValueError(f"milestones must be epochs in 1..{epochs - 1} (after the last "
                             f"epoch a milestone changes nothing); got {m!r} in "
                             f"{list(milestones)} with {epochs} epochs")
    if list(milestones) != sorted(set(milestones)):
        raise ValueError(f"milestones must be increasing, got {list(milestones)}")
    if warmup_epochs > epochs:
        raise ValueError(f"warmup_epochs must be at most the {epochs} epochs, got "
                         f"{warmup_epochs}")
    counts = list(extended_from)
    if counts != sorted(set(counts)) or any(not isinstance(n, int) or not 1 <= n < epochs
                                            for n in counts):
        raise ValueError(f"extended_from must be increasing epoch counts below epochs={epochs}, "
                         f"got {counts}")


class SGD:
    """SGD with momentum and weight decay over a net's parameters (see the module docstring)."""

    def __init__(self, params: list[Param], momentum: float = 0.9,
                 weight_decay: float = 5e-4) -> None:
        for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            if not (math.isfinite(value) and 0 <= value < 1):
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        self.params = params
        self.momentum = momentum
        self.weight_decay = weight_decay

    def step(self, lr: float, seed: int, step: int) -> None:
        """Update every parameter from its ``grad`` with learning rate ``lr``."""
        for index, p in enumerate(self.params):
            spec = p.spec
            if p.grad is None:
                continue
            decay = self.weight_decay if p.decay else 0.0
            if spec is None:
                self._float_step(p, lr, decay)
            else:
                site = OPTIMIZER_SITE_BASE + OPTIMIZER_SITES * index
                streams = [stream_id(step, True, site + k) for k in range(OPTIMIZER_SITES)]
                layer, _, label = p.name.rpartition(".")
                rec = tracing.recorder_for("update", layer, "master", step, True)
                self._fixed_step(p, spec, lr, decay, seed, streams,
                                 None if rec is None else (rec, layer, label, step))
            p.grad = None

    def _float_step(self, p: Param, lr: float, decay: float) -> None:
        dtype = p.master.dtype
        g = p.grad.to_float() if isinstance(p.grad, FxArray) else p.grad
        g = np.asarray(g, dtype=dtype)
        w = p.master
        v = dtype.type(self.momentum) * p.velocity + g + dtype.type(decay) * w
        p.velocity = v.astype(dtype, copy=False)
        p.master = (w - dtype.type(lr) * p.velocity).astype(dtype, copy=False)

    def _fixed_step(self, p: Param, spec: RoleSpec, lr: float, decay: float, seed: int,
                    streams: list[int], trace: tuple | None = None) -> None:
        """``streams``: the random streams of the gradient's, the velocity's and the weight's
        rounding; ``trace``: (recorder, layer, label, step) to report the update to."""
        h = spec.const_frac
        fmt = p.master.fmt
        wide = QFormat(62, fmt.frac + h)
        g = _to_frac(p.grad, fmt.frac + h, spec, seed, streams[0], bound=fmt.bits + h - 1)
        w, v = p.master, p.velocity
        consts = {"momentum_c": _const(self.momentum, h), "decay_c": _const(decay, h),
                  "lr_c": _const(lr, h)}
        v_acc = (np.int64(consts["momentum_c"]) * v.raw + g + np.int64(consts["decay_c"]) * w.raw)
        p.velocity = _narrow(requantize(FxArray(v_acc, wide, check=False), fmt, seed=seed,
                                        stream=streams[1], **spec.rounding_options()))
        w_acc = (w.raw << np.int64(h)) - np.int64(consts["lr_c"]) * p.velocity.raw
        p.master = _narrow(requantize(FxArray(w_acc, wide, check=False), fmt, seed=seed,
                                      stream=streams[2], **spec.rounding_options()))
        if trace is not None:
            rec, layer, label, step = trace
            random_bits = random_bits_for(spec.rounding, spec.random_bits)  # 0: deterministic
            rec.add(tracing.TraceEvent(
                "update", layer, "master", "update", step, True, 0, 0,
                {"param": p.name, "const_frac": h, **consts, "rounding": spec.rounding,
                 "random_bits": random_bits or None, "seed": seed if random_bits else None,
                 "streams": list(streams),
                 "random": random_source_field(spec.random_source),
                 "bits": fmt.bits, "frac": fmt.frac, "label": label,
                 **_grad_conversion(p.grad, fmt.frac + h, fmt.bits + h - 1)},
                {"grad": tracing.tensor(p.grad), "g_wide": tracing.wide(g, fmt.frac + h),
                 "v": tracing.codes(v), "w": tracing.codes(w),
                 "v_acc": tracing.wide(v_acc, fmt.frac + h), "v_out": tracing.codes(p.velocity),
                 "w_acc": tracing.wide(w_acc, fmt.frac + h), "w_out": tracing.codes(p.master)}))


def _const(value: float, frac: int) -> int:
    """``round(value * 2**frac)``, ties to even (exact scaling by a power of two)."""
    return int(np.rint(math.ldexp(value, frac)))


def _narrow(x: FxArray) -> FxArray:
    """Master codes are kept as int64."""
    return FxArray(x.raw.astype(np.int64), x.fmt, check=False)


def _grad_conversion(grad: FxArray, frac: int, bound: int) -> dict:
    """How :func:`_to_frac` moves ``grad`` to ``frac`` fraction bits (for a trace):
    ``g_multiplier`` M and right shift ``g_shift`` n (negative: an exact left shift) and the
    limit ``g_limit`` of the result's magnitude."""
    if grad.step is None:
        multiplier, shift = 1, grad.fmt.frac - frac
    else:
        multiplier, shift = fixed_point_multiplier(grad.lsb / math.ldexp(1.0, -frac))
    return {"g_multiplier": multiplier, "g_shift": shift, "g_limit": (1 << bound) - 1}


def _to_frac(grad, frac: int, spec: RoleSpec, seed: int, stream: int, bound: int) -> np.ndarray:
    """Gradient codes (or floats) as int64 codes with ``frac`` fraction bits, saturated to
    ``+-(2**bound - 1)`` (beyond that the update saturates anyway)."""
    limit = (1 << bound) - 1
    if isinstance(grad, FxArray) and grad.step is None and grad.fmt.frac <= frac:
        raw = grad.raw.astype(np.int64)
        shift = frac - grad.fmt.frac
        headroom = 62 - grad.fmt.bits
        if shift <= headroom:
            return np.clip(raw << np.int64(shift), -limit, limit)
    fmt = QFormat(bound + 1, frac)
    if isinstance(grad, FxArray):
        out = requantize(grad, fmt, seed=seed, stream=stream, **spec.rounding_options())
    else:
        out = quantize(np.asarray(grad, dtype=np.float64), fmt, seed=seed, stream=stream,
                       **spec.rounding_options())
    return np.clip(out.raw.astype(np.int64), -limit, limit)
