"""One multiply-accumulate op call: validated operands, its plan, and running it.

The three products of a convolution share everything but the engine function, the
sequential kernel and the output shape, which :data:`PRODUCTS` lists. Linear layers are
1x1 convolutions on one-row images (:mod:`fxsim.ops.linear`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fxsim.numeric.formats import FxArray
from fxsim.numeric.threads import run_parallel
from fxsim.ops import _engine, _kernels_seq
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


@dataclass
class MacCall:
    """``op`` (a key of :data:`PRODUCTS`) on operands ``a`` and ``b`` with geometry ``geom``.

    ``name`` is the public function's name, used in messages and :class:`Plan`.
    """

    name: str
    op: str
    a: FxArray | np.ndarray
    b: FxArray | np.ndarray
    geom: ConvGeometry
    acc: Accumulator
    path: str
    mode: str

    @cached_property
    def plan(self) -> Plan:
        terms = self.geom.terms(self.op)
        if self.mode == FLOAT:
            check_path(self.path)
            return float_plan(self.name, terms)
        return plan_mac(self.name, self.a, self.b, terms, self.acc, self.path)

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
        # a chunk as long as the reduction: the whole sum is exact, no partial sums needed
        chunk = plan.chunk if plan.chunk is not None and plan.chunk < plan.terms else None
        raw = engine(self.a.raw, self.b.raw, self.geom, plan.path, chunk)
        raw = raw.astype(np.int64, copy=False)  # float64 path: exact integers below 2**53
        return self._finish(raw, 0, 0)

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

    def _finish(self, raw: np.ndarray, saturated: int, events: int) -> FxArray:
        plan = self.plan
        wrapped = 0
        if plan.may_overflow and self.acc.overflow == "wrap":
            raw, wrapped, events = fit_wrapped(raw, plan.acc_bits)
        stats = AccStats(size=raw.size, saturated=saturated, wrapped=wrapped, events=events)
        return accumulator_result(raw, plan.acc_bits, self.a, self.b, stats)


def make_call(name: str, op: str, a: object, b: object, names: tuple[str, str],
              geom_args: tuple, acc: object, path: str) -> MacCall:
    """Validate a call and build it: ``a`` and ``b`` are the operands called ``names``;
    ``geom_args`` are the arguments of :meth:`ConvGeometry.build`."""
    mode = operand_mode(**dict(zip(names, (a, b), strict=True)))
    geom = ConvGeometry.build(*geom_args)
    return MacCall(name, op, a, b, geom, check_accumulator(acc), path, mode)
