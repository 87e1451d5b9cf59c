"""The ``--breakdown`` of ``benchmarks/train.py``: exclusive wall and CPU time per engine
component and per conv product, from wrappers installed around the engine's functions in the
benchmark's child process (imported as ``_breakdown``)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

SCOPE = " @ "  # between a breakdown label and the conv product it ran in
MAC_SELF = "mac: operand checks, result dtype"  # a conv product's own time


def working_cpu() -> float:
    """CPU seconds of work so far: this thread's CPU time less its spinning, plus the time
    fxsim's pool workers spent running parts (:func:`fxsim.numeric.threads.part_seconds`)."""
    from fxsim.numeric import threads

    return (time.thread_time() - threads.spin_seconds(threading.get_ident())
            + threads.part_seconds())


class ExclusiveTimer:
    """Exclusive (self) wall and CPU time per label of nested wrapped calls: time spent inside a
    wrapped call that another wrapped call nested in it takes is charged to the inner label only.
    CPU time is :func:`working_cpu`: the calling thread's (``time.thread_time``) less its
    spinning, plus the time fxsim's pool workers spent running parts. The process's CPU clock
    (``time.process_time``) is not used here: it learns other threads' time late (at their
    scheduler ticks), which moves seconds between short sections; fxsim's kernels call no BLAS
    threads, whose time would be missed.
    A call wrapped with a ``scope`` (a conv product of one stage) also tags the time of every
    call nested in it: totals are kept per ``"label" + SCOPE + "scope"`` key."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list] = []
        self._scopes: list[str] = []

    @contextmanager
    def section(self, label: str, scope: str | None = None):
        if scope is not None:
            self._scopes.append(scope)
        key = label + SCOPE + (self._scopes[-1] if self._scopes else "")
        frame = [0.0, 0.0]  # wall and CPU time of the sections nested in this one
        self._stack.append(frame)
        start, cpu_start = time.perf_counter(), working_cpu()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - start, working_cpu() - cpu_start
            self._stack.pop()
            if scope is not None:
                self._scopes.pop()
            self.wall[key] += wall - frame[0]
            self.cpu[key] += cpu - frame[1]
            self.calls[key] += 1
            if self._stack:
                self._stack[-1][0] += wall
                self._stack[-1][1] += cpu

    def wrap(self, owner, attr: str, label, scope=None) -> None:
        """Replace ``owner.attr`` (a function or method; a dict entry when ``owner`` is a dict)
        by a timed one. ``label`` and ``scope`` are strings or functions of the call's
        arguments giving one."""
        dict_entry = isinstance(owner, dict)
        original = owner[attr] if dict_entry else getattr(owner, attr)
        timer = self

        def timed(*args, **kwargs):
            name = label(*args) if callable(label) else label
            where = scope(*args) if callable(scope) else scope
            with timer.section(name, where):
                return original(*args, **kwargs)

        timed.__wrapped__ = original
        if dict_entry:
            owner[attr] = timed
        else:
            setattr(owner, attr, timed)


def stage_of(layer_name: str) -> str:
    """``s2`` for ``s2b0_conv1``, else the name itself (``conv1``, ``fc``, ``l1_conv``)."""
    return layer_name[:2] if layer_name[:1] == "s" and layer_name[1:2].isdigit() else layer_name


def install_breakdown(timer: ExclusiveTimer) -> None:
    """Wrap the engine's components (module and class attributes looked up at call time)."""
    from fxsim.layers import base, mac, norm, quantizer, residual, simple
    from fxsim.ops import _engine, _engine_int8, _mac
    from fxsim.ranges.base import RangeRule
    from fxsim.training import network
    from fxsim.training.optim import SGD

    for cls in (mac.Conv2d, mac.Linear):
        for attr, product in (("product", "forward"), ("product_input", "backward_input"),
                              ("product_weight", "backward_weight")):
            if attr in cls.__dict__:
                timer.wrap(cls, attr, MAC_SELF,
                           lambda layer, *_, p=product: f"{p} {stage_of(layer.name)}")
    engines = {op: engine for op, (engine, _) in _mac.PRODUCTS.items()}
    for op in engines:
        timer.wrap(engines, op, "mac: product kernels (flat frames)")
        _mac.PRODUCTS[op] = (engines[op], _mac.PRODUCTS[op][1])
        timer.wrap(_mac.BYTE_PRODUCTS, op, "mac: product kernels (flat frames)")
    timer.wrap(_mac, "plan_mac", "mac: exactness plan (max|code| scans)")
    timer.wrap(_mac, "accumulator_result", "mac: result wrapping")
    timer.wrap(_engine, "_source", "mac: operand dtype conversion")
    for attr in ("unsigned_side", "signed_side"):
        timer.wrap(_engine_int8, attr, "mac: operand dtype conversion")
    timer.wrap(_engine, "_weights", "mac: weight gather")
    timer.wrap(_engine_int8, "_packed_weights", "mac: weight gather")
    timer.wrap(quantizer.TensorQuantizer, "__call__",
               lambda q, *_: f"quantizer {q.where.split('.')[1]}: rest (clamp, counts)")
    timer.wrap(quantizer, "requantize", "quantizer: requantize kernel (codes)")
    timer.wrap(quantizer, "quantize", "quantizer: quantize kernel (floats)")
    timer.wrap(quantizer, "max_abs", "quantizer: range statistics")
    rules = [RangeRule]
    while rules:
        cls = rules.pop()
        rules.extend(cls.__subclasses__())
        for attr in ("choose", "observe"):
            if attr in cls.__dict__:
                timer.wrap(cls, attr, "quantizer: range statistics")
    timer.wrap(quantizer, "log2_histogram", "quantizer: gradient histogram")
    for module in (mac, norm):
        timer.wrap(module, "ste", "straight-through masks")
    timer.wrap(base, "quantize", "input quantizer")
    timer.wrap(norm.BatchNorm2d, "forward", "batch norm forward (float64)")
    timer.wrap(norm.BatchNorm2d, "backward", "batch norm backward (float64)")
    for attr in ("add", "add_with_mask"):
        timer.wrap(residual.arith, attr, "exact adds (residual, group sums)")
    for attr in ("forward", "backward"):
        timer.wrap(residual.ShortcutA, attr, "shortcut A (subsample, pad)")
        timer.wrap(simple.GlobalAvgPool2d, attr, "pooling")
        timer.wrap(simple.MaxPool2d, attr, "pooling")
    timer.wrap(network, "softmax_cross_entropy", "loss (float64)")
    timer.wrap(SGD, "step", "optimizer step")


def print_breakdown(config: str, result: dict, threads: int) -> None:
    """Two tables: time per component (all conv products together), then per conv product and
    stage (everything inside it: checks, frame fills, kernels, layout copies). ``CPU/wall`` is
    each row's parallel efficiency: 2.0 keeps two cores busy, 1.0 one (serial Python or a
    one-thread kernel, or a core taken by another process)."""
    by_label: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    by_scope: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for key, (wall_s, cpu_s) in result["breakdown"].items():
        label, _, scope = key.partition(SCOPE)
        calls = result["calls"][key]
        for table, name in ((by_label, label), (by_scope, scope)):
            if name:
                table[name][0] += wall_s
                table[name][1] += cpu_s
                table[name][2] += calls if table is by_label or label == MAC_SELF else 0
    wall, cpu = statistics.mean(result["times"]), statistics.mean(result["cpu_times"])
    by_label["rest: Python glue, list/FxArray plumbing"] = [
        max(0.0, wall - sum(w for w, _, _ in by_label.values())),
        max(0.0, cpu - sum(c for _, c, _ in by_label.values())), ""]
    print(f"\n{config}: exclusive time per step (mean of {len(result['times'])} steps: wall "
          f"{wall:.2f} s, CPU {cpu:.2f} s, CPU/wall {cpu / wall:.2f} on {threads} threads)")
    for title, table in (("component", by_label), ("conv/linear product, stage", by_scope)):
        print(f"  {title:<52}{'wall s':>8}{'%':>6}{'CPU s':>8}{'%':>6}{'CPU/wall':>9}"
              f"{'calls':>6}")
        for name, (w, c, calls) in sorted(table.items(), key=lambda kv: -kv[1][1]):
            efficiency = f"{c / w:9.2f}" if w > 0 else f"{'-':>9}"
            print(f"  {name:<52}{w:8.3f}{100 * w / wall:6.1f}{c:8.3f}{100 * c / cpu:6.1f}"
                  f"{efficiency}{calls:>6}")
