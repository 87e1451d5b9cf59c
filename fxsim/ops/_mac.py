"""One multiply-accumulate op call: validated operands, its plan, and running it.

The three products of a convolution share everything but the engine function, the
sequential kernel and the output shape, which :data:`PRODUCTS` lists. Linear layers are
1x1 convolutions on one-row images (:mod:`fxsim.ops.linear`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fxsim.numeric._convert_kernels import CodeTarget, round_shift_args
from fxsim.numeric.formats import FxArray
from fxsim.numeric.fused import OutputRounding, RoundedCodes
from fxsim.numeric.threads import run_parallel
from fxsim.ops import _engine, _engine_int8, _kernels_seq
from fxsim.ops._frame import forward_frame
from fxsim.ops.accumulator import (
    AccStats,
    Accumulator,
    check_accumulator,
    fit_wrapped,
    register_range,
)
from fxsim.ops.geometry import ConvGeometry
from fxsim.ops.operands import FLOAT, accumulator_result, codes_as, operand_mode
from fxsim.ops.paths import Plan, check_path, float_plan, plan_mac

PRODUCTS = {
    "forward": (_engine.forward, _kernels_seq.forward_seq),
    "backward_input": (_engine.backward_input, _kernels_seq.backward_input_seq),
    "backward_weight": (_engine.backward_weight, _kernels_seq.backward_weight_seq),
}
BYTE_PRODUCTS = {
    "forward": _engine_int8.forward,
    "backward_input": _engine_int8.backward_input,
    "backward_weight": _engine_int8.backward_weight,
}


def result_dtype(acc_bits: int) -> np.dtype:
    """The dtype of an op's accumulators: int32 for registers of at most 32 bits, else int64."""
    return np.dtype(np.int32 if acc_bits <= 32 else np.int64)


@dataclass
class MacCall:
    """``op`` (a key of :data:`PRODUCTS`) on operands ``a`` and ``b`` with geometry ``geom``.

    ``name`` is the public function's name, used in messages and :class:`Plan`.
    ``output_rounding``: a requantization the caller expects to apply to the result, which the
    ``int8`` path's correlations make in their output pass (:mod:`fxsim.numeric.fused`).
    """

    name: str
    op: str
    a: FxArray | np.ndarray
    b: FxArray | np.ndarray
    geom: ConvGeometry
    acc: Accumulator
    path: str
    mode: str
    output_rounding: OutputRounding | None = None

    @cached_property
    def plan(self) -> Plan:
        terms = self.geom.terms(self.op)
        if self.mode == FLOAT:
            check_path(self.path)
            return float_plan(self.name, terms)
        run = forward_frame(self.geom).cols.length if self.op == "backward_weight" else 1
        return plan_mac(self.name, self.a, self.b, terms, self.acc, self.path, run)

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.op == "forward":
            return self.geom.output_shape
        return self.geom.input_shape if self.op == "backward_input" else self.geom.weight_shape

    def run(self) -> FxArray | np.ndarray:
        engine, sequential = PRODUCTS[self.op]
        plan = self.plan
        if self.mode == FLOAT:
            return engine(self.a, self.b, self.geom, "float64")
        if plan.path == "sequential":
            return self._run_sequential(sequential)
        if plan.path == "int8":
            return self._run_bytes()
        # a chunk as long as the reduction: the whole sum is exact, no partial sums needed
        chunk = plan.chunk if plan.chunk is not None and plan.chunk < plan.terms else None
        raw = engine(self.a.raw, self.b.raw, self.geom, plan.path, chunk,
                     result_dtype(plan.acc_bits))
        return self._finish(raw, 0, 0)

    def _run_bytes(self) -> FxArray:
        """The ``int8`` path: the first operand as the unsigned side, the second as int8."""
        first = _engine_int8.unsigned_side(self.a.raw, self.a.fmt.signed)
        second = _engine_int8.signed_side(self.b.raw)
        if self.op == "backward_weight":
            raw = BYTE_PRODUCTS[self.op](first, second, self.geom, self.plan.chunk)
            return self._finish(raw, 0, 0)
        ahead = self._output_pass()
        result = BYTE_PRODUCTS[self.op](first, second, self.geom,
                                        None if ahead is None else round_shift_args(*ahead))
        rounded = None
        if ahead is not None:  # the sums are read-only: the codes cannot go stale
            result.sums.flags.writeable = False
            codes = result.codes.view(self.output_rounding.fmt.dtype)
            rounded = RoundedCodes(result.sums, codes, ahead[1], ahead[0], result.clamped)
        return self._finish(result.sums, 0, 0, result.largest, rounded)

    def _output_pass(self) -> tuple[CodeTarget, int] | None:
        """``(target, shift)`` of the requantization :attr:`output_rounding` asks of the
        correlation's output pass, or None where the pass cannot apply it: a stochastic or
        registered rounding, a target wider than 8 bits, operands with a real step (a
        multiplier, not a shift), no right shift, a register that may wrap the sums."""
        hint = self.output_rounding
        if hint is None or self.plan.may_overflow or self.a.step is not None \
                or self.b.step is not None or hint.fmt.dtype.itemsize != 1:
            return None
        target = hint.target
        shift = self.a.fmt.frac + self.b.fmt.frac - hint.fmt.frac
        return None if target is None or not 1 <= shift <= 62 else (target, shift)

    def _run_sequential(self, kernel) -> FxArray:
        plan = self.plan
        low, high = register_range(plan.acc_bits)
        saturate = plan.may_overflow and self.acc.overflow == "saturate"
        if not saturate:  # exact sums in the documented order; a wrapping register wraps below
            low, high = -(1 << 63), (1 << 63) - 1
        out = np.empty(self.output_shape, dtype=np.int64)
        events = np.zeros(self.output_shape, dtype=np.int64)
        g = self.geom
        run_parallel(kernel, out.shape[0] * out.shape[1], codes_as(self.a, np.int64),
                     codes_as(self.b, np.int64), *g.stride, *g.padding, *g.dilation, g.groups,
                     np.int64(low), np.int64(high), out, events)
        if saturate:
            return self._finish(out, int(np.count_nonzero(events)), int(events.sum()))
        return self._finish(out, 0, 0)

    def _finish(self, raw: np.ndarray, saturated: int, events: int,
                largest: int | None = None, rounded: RoundedCodes | None = None) -> FxArray:
        """The result FxArray of the exact sums ``raw`` (any integer dtype, or float64 holding
        integers), wrapped if the register wraps; ``largest``: their largest ``|value|`` if
        the kernel found it; ``rounded``: the sums requantized by the output pass."""
        plan = self.plan
        wrapped = 0
        if plan.may_overflow and self.acc.overflow == "wrap":
            raw, wrapped, events = fit_wrapped(raw.astype(np.int64, copy=False), plan.acc_bits)
            largest = None
        raw = raw.astype(result_dtype(plan.acc_bits), copy=False)
        stats = AccStats(size=raw.size, saturated=saturated, wrapped=wrapped, events=events,
                         max_abs=largest, rounded=rounded)
        return accumulator_result(raw, plan.acc_bits, self.a, self.b, stats)


def make_call(name: str, op: str, a: object, b: object, names: tuple[str, str],
              geom_args: tuple, acc: object, path: str,
              output_rounding: object = None) -> MacCall:
    """Validate a call and build it: ``a`` and ``b`` are the operands called ``names``;
    ``geom_args`` are the arguments of :meth:`ConvGeometry.build`."""
    mode = operand_mode(**dict(zip(names, (a, b), strict=True)))
    geom = ConvGeometry.build(*geom_args)
    if output_rounding is not None:
        if not isinstance(output_rounding, OutputRounding):
            raise TypeError(f"output_rounding must be an fxsim.numeric.fused.OutputRounding or "
                            f"None, got {output_rounding!r}")
        _ = output_rounding.target  # its options checked now, as requantize would
    return MacCall(name, op, a, b, geom, check_accumulator(acc), path, mode, output_rounding)
