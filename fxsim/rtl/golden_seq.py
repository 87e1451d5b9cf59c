"""Expected outputs of the clocked units: MAC, LFSR and statistics units.

Rows are clocks; a clocked unit's registered outputs on row ``t`` show the state after rows
``0 .. t-1`` (the testbench samples before each rising edge), so the result of a reduction or a
tensor whose last element is on row ``t`` is compared on row ``t + 1``.
"""

from __future__ import annotations

import math

import numpy as np

import fxsim
from fxsim import ops
from fxsim.numeric import lfsr
from fxsim.ranges import make_rule
from fxsim.ranges.base import max_abs
from fxsim.rtl.golden import Check, Expected, empty, total_check
from fxsim.rtl.spec import LfsrSpec, MacSpec, StatSpec

STAT_FRAC = 3  # the statistics units' codes are read as values q * 2**-3 by the range rules
ZSCORE_RTOL = 1e-9  # float64 mean/std from exact integer sums vs numpy's pairwise float sums


def runs(en: np.ndarray, first: np.ndarray) -> list[tuple[list[int], int]]:
    """The reductions (tensors) in the rows: ``(rows with en, row showing the result)``; a run
    starts at a row with ``en`` and ``first`` and takes every later ``en`` row until the next
    ``first``. Runs whose result row is past the end are left out."""
    out, current = [], None
    for t, (e, f) in enumerate(zip(en.tolist(), first.tolist(), strict=True)):
        if e and f:
            if current:
                out.append(current)
            current = [t]
        elif e and current is not None:
            current.append(t)
    if current:
        out.append(current)
    return [(r, r[-1] + 1) for r in out if r[-1] + 1 < en.size]


def mac_golden(spec: MacSpec, inputs: dict[str, np.ndarray]) -> Expected:
    """Each reduction is one output of :func:`fxsim.ops.conv2d` (depthwise, a ``1 x L`` kernel:
    the products in row order, the order of an output-stationary MAC array) with
    ``acc=fxsim.Accumulator(spec.acc, spec.overflow)``; reductions of equal length share a
    call, whose ``AccStats`` the counters must add up to."""
    rows = inputs["a"].size
    a_fmt = fxsim.QFormat(spec.a, 0, spec.a_signed)
    b_fmt = fxsim.QFormat(spec.b, 0, spec.b_signed)
    acc = fxsim.Accumulator(spec.acc, spec.overflow)
    expected = {"acc": empty(rows)}
    if spec.counters:
        expected.update(ovf=empty(rows), events=empty(rows))
    checks = []
    by_length: dict[int, list[tuple[list[int], int]]] = {}
    for run in runs(inputs["en"], inputs["first"]):
        by_length.setdefault(len(run[0]), []).append(run)
    for length, group in sorted(by_length.items()):
        taken = np.array([r for r, _ in group])
        shown = np.array([t for _, t in group])
        a = np.asarray(inputs["a"], dtype=np.int64)[taken].astype(a_fmt.dtype)
        b = np.asarray(inputs["b"], dtype=np.int64)[taken].astype(b_fmt.dtype)
        n = len(group)
        x = fxsim.FxArray(a.reshape(1, n, 1, length), a_fmt)
        w = fxsim.FxArray(b.reshape(n, 1, 1, length), b_fmt)
        out = ops.conv2d(x, w, groups=n, acc=acc)
        expected["acc"][shown] = out.raw.reshape(-1).tolist()
        if spec.counters:
            s = out.stats
            what = "wrapped" if spec.overflow == "wrap" else "saturated"
            checks.append(total_check(f"reductions of {length} that {what} (fxsim AccStats."
                                      f"{what})", "ovf", shown, s.saturated + s.wrapped))
            checks.append(total_check(f"overflow events in reductions of {length} (fxsim "
                                      "AccStats.events)", "events", shown, s.events,
                                      absolute=True))
    return Expected(expected, {}, checks)


def lfsr_golden(spec: LfsrSpec, inputs: dict[str, np.ndarray]) -> Expected:
    """``r`` and ``state`` on every row: after a load, the states of
    :func:`fxsim.numeric.lfsr.states` from the loaded seed (0 loads 1), one per leap."""
    load, en = inputs["load"].tolist(), inputs["en"].tolist()
    seeds = [int(v) for v in inputs["seed"]]
    rows = len(load)
    r_out, s_out = empty(rows), empty(rows)
    # segments of rows between loads, each with the state its first row shows
    starts = [0] + [t + 1 for t in range(rows) if load[t]]
    values = [1] + [seeds[t] or 1 for t in range(rows) if load[t]]  # reset leaves 1
    for begin, end, value in zip(starts, [*starts[1:], rows], values, strict=True):
        if begin >= rows:
            continue
        # leaps before each row of the segment (a load row itself does not leap)
        taken = [0]
        for t in range(begin, end - 1):
            taken.append(taken[-1] + en[t])
        states = lfsr.states(spec.width, spec.k, value, taken[-1] + 1)
        for t, c in zip(range(begin, end), taken, strict=True):
            s_out[t] = states[c]
            r_out[t] = states[c] & ((1 << spec.k) - 1)
    return Expected({"r": r_out, "state": s_out})


def _values(codes: np.ndarray) -> np.ndarray:
    return np.ldexp(codes.astype(np.float64), -STAT_FRAC)


def stat_golden(spec: StatSpec, inputs: dict[str, np.ndarray], seed: int) -> Expected:
    """Each tensor's statistics against the range rules that read them: ``minmax`` (max|x| and
    ``frac`` of the pow2 rule at 8 bits), ``zscore`` (the clip ``min(max|x|, |mean| + 3 std)``,
    within :data:`ZSCORE_RTOL`; ``n``, ``sum``, ``sumsq`` exact) and ``large_grad_interval``
    (the count of ``|g| > gamma * max|g|`` and the adapted ``gamma``, exactly)."""
    rows = inputs["x"].size
    names = {"minmax": ("maxabs", "min", "max", "clog2", "zero"),
             "zscore": ("maxabs", "n", "sum", "sumsq"),
             "interval": ("maxabs", "n", "above")}[spec.stat]
    expected = {name: empty(rows) for name in names}
    derived, checks = {}, []
    tensors = runs(inputs["en"], inputs["first"])
    x = np.asarray(inputs["x"], dtype=np.int64)
    gammas = _gammas(len(tensors), seed) if spec.stat == "interval" else []
    if spec.stat == "interval" and "threshold" not in inputs:
        derived["threshold"] = _interval_thresholds(x, tensors, gammas)
        inputs = {**inputs, **derived}
    for taken, shown in tensors:
        codes = x[taken]
        values = _values(codes)
        largest = max_abs(values)
        expected["maxabs"][shown] = int(math.ldexp(largest, STAT_FRAC))
        if spec.stat == "minmax":
            scale = make_rule("minmax").choose(values, 8, True)
            zero = scale.clip == 0.0
            expected["min"][shown], expected["max"][shown] = int(codes.min()), int(codes.max())
            expected["zero"][shown] = int(zero)
            expected["clog2"][shown] = 0 if zero else 7 - scale.frac + STAT_FRAC
        else:
            expected["n"][shown] = len(taken)
        if spec.stat == "zscore":
            ints = [int(c) for c in codes]
            expected["sum"][shown] = sum(ints)
            expected["sumsq"][shown] = sum(c * c for c in ints)
    if spec.stat == "zscore":
        checks.append(_zscore_check(x, tensors))
    if spec.stat == "interval":
        own = "threshold" in derived
        _interval_expected(x, tensors, inputs["threshold"], gammas if own else None, expected,
                           checks)
    return Expected(expected, derived, checks)


def _zscore_check(x: np.ndarray, tensors) -> Check:
    def verify(outputs):
        worst = 0.0
        for taken, shown in tensors:
            values = _values(x[taken])
            clip = make_rule("zscore").choose(values, 8, True).clip
            n, s, q = (int(outputs[p][shown]) for p in ("n", "sum", "sumsq"))
            mean = s / n
            std = math.sqrt(n * q - s * s) / n
            top = int(outputs["maxabs"][shown])
            rtl = math.ldexp(min(top, abs(mean) + 3 * std), -STAT_FRAC) if top else 0.0
            worst = max(worst, abs(rtl - clip) / clip if clip else abs(rtl))
        if worst > ZSCORE_RTOL:
            return f"zscore clip from the RTL sums differs from fxsim's by {worst:.3g} (relative)"
        return None

    return Check("zscore clip min(max|x|, |mean| + 3 std) from n, sum, sumsq (fxsim range "
                 f"rule zscore, relative tolerance {ZSCORE_RTOL:g})", verify)


def _gammas(count: int, seed: int) -> list[float]:
    rng = np.random.default_rng([seed, 0x6A77])
    special = [1.0, 0.5, 0.25, 0.001]
    return [special[i] if i < len(special) else float(rng.uniform(0.001, 1.0))
            for i in range(count)]


def _interval_thresholds(x: np.ndarray, tensors, gammas: list[float]) -> np.ndarray:
    """The threshold port of each tensor: ``floor(gamma * max|g| / lsb)``, the integer the
    codes' magnitudes are compared with (``|q| lsb > c`` iff ``|q| > floor(c / lsb)``)."""
    threshold = np.zeros(x.size, dtype=np.int64)
    for (taken, _), gamma in zip(tensors, gammas, strict=True):
        c = gamma * max_abs(_values(x[taken]))
        threshold[taken] = math.floor(math.ldexp(c, STAT_FRAC))
    return threshold


def _interval_expected(x, tensors, threshold, gammas, expected, checks) -> None:
    """``above`` per tensor; with the ``gammas`` that set the thresholds, also the rule's count
    and its adapted gamma."""
    updates = []
    for i, (taken, shown) in enumerate(tensors):
        codes = x[taken]
        expected["above"][shown] = int(np.count_nonzero(np.abs(codes) > threshold[taken[0]]))
        if gammas is None:
            continue
        values = _values(codes)
        largest = max_abs(values)
        # the rule's own count (fxsim.ranges.adaptive, LargeGradIntervalRule.observe)
        rule_count = int(np.count_nonzero(np.abs(values) > gammas[i] * largest))
        if rule_count != expected["above"][shown]:
            raise AssertionError(f"internal error: threshold of tensor {i} does not match "
                                 "gamma * max|g|")
        if largest:
            updates.append((i, taken, shown, gammas[i]))
    if not updates:
        return

    def verify(outputs):
        for i, taken, shown, gamma in updates:
            values = _values(x[taken])
            rule = make_rule("large_grad_interval", gamma=gamma)
            scale = rule.choose(values, 4, True)
            target = rule.target_fraction(scale)
            rule.observe(values, scale)
            share = int(outputs["above"][shown]) / int(outputs["n"][shown])
            step = rule.params["lr_gamma"] * ((share > target) - (share < target))
            rtl_gamma = min(max(gamma + step, 0.001), 1.0)
            if rtl_gamma != rule.gamma:
                return (f"tensor {i}: gamma after the update is {rule.gamma!r} in fxsim, "
                        f"{rtl_gamma!r} from the RTL count")
        return None

    checks.append(Check("large_grad_interval: gamma adapted from the RTL's count of |g| > "
                        "gamma max|g| equals the rule's own update", verify))
