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

from fxsim.layers.base import Param, stream_id
from fxsim.numeric.convert import requantize
from fxsim.numeric.formats import FxArray, QFormat
from fxsim.policy import RoleSpec

OPTIMIZER_SITE_BASE = 1 << 19  # random-stream sites of the optimizer (quantizers use fewer)
OPTIMIZER_SITES = 3  # per parameter: the roundings of the gradient, the velocity, the weight
SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class Schedule:
    """Learning rate per step: ``constant``; ``step`` (multiplied by ``gamma`` at each epoch in
    ``milestones``); ``cosine`` (from ``lr`` to 0 over all steps, per step). An optional linear
    ``warmup_epochs`` ramps from ``lr / steps`` up to ``lr``."""

    lr: float
    kind: str = "cosine"
    epochs: int = 1
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got "
                             f"{self.kind!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")

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
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * progress / max(self.epochs, 1)))


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
                self._fixed_step(p, spec, lr, decay, seed, streams)
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
                    streams: list[int]) -> None:
        """``streams``: the random streams of the gradient's, the velocity's and the weight's
        rounding."""
        h = spec.const_frac
        fmt = p.master.fmt
        wide = QFormat(62, fmt.frac + h)
        g = _to_frac(p.grad, fmt.frac + h, spec, seed, streams[0], bound=fmt.bits + h - 1)
        extra = {"random_bits": spec.random_bits} if spec.random_bits else {}
        w = p.master.raw
        v_acc = (np.int64(_const(self.momentum, h)) * p.velocity.raw + g
                 + np.int64(_const(decay, h)) * w)
        p.velocity = _narrow(requantize(FxArray(v_acc, wide, check=False), fmt, spec.rounding,
                                        "saturate", seed, stream=streams[1], **extra))
        w_acc = (w << np.int64(h)) - np.int64(_const(lr, h)) * p.velocity.raw
        p.master = _narrow(requantize(FxArray(w_acc, wide, check=False), fmt, spec.rounding,
                                      "saturate", seed, stream=streams[2], **extra))


def _const(value: float, frac: int) -> int:
    """``round(value * 2**frac)``, ties to even (exact scaling by a power of two)."""
    return int(np.rint(math.ldexp(value, frac)))


def _narrow(x: FxArray) -> FxArray:
    """Master codes are kept as int64."""
    return FxArray(x.raw.astype(np.int64), x.fmt, check=False)


def _to_frac(grad, frac: int, spec: RoleSpec, seed: int, stream: int, bound: int) -> np.ndarray:
    """Gradient codes (or floats) as int64 codes with ``frac`` fraction bits, saturated to
    ``+-(2**bound - 1)`` (beyond that the update saturates anyway)."""
    limit = (1 << bound) - 1
    extra = {"random_bits": spec.random_bits} if spec.random_bits else {}
    if isinstance(grad, FxArray) and grad.step is None and grad.fmt.frac <= frac:
        raw = grad.raw.astype(np.int64)
        shift = frac - grad.fmt.frac
        headroom = 62 - grad.fmt.bits
        if shift <= headroom:
            return np.clip(raw << np.int64(shift), -limit, limit)
    fmt = QFormat(bound + 1, frac)
    if isinstance(grad, FxArray):
        out = requantize(grad, fmt, spec.rounding, "saturate", seed, stream=stream, **extra)
    else:
        from fxsim.numeric.convert import quantize

        out = quantize(np.asarray(grad, dtype=np.float64), fmt, spec.rounding, "saturate", seed,
                       stream=stream, **extra)
    return np.clip(out.raw.astype(np.int64), -limit, limit)
