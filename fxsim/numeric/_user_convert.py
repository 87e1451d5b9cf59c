"""The conversion path of registered rounding rules (:mod:`fxsim.numeric.user_rounding`).

:func:`fxsim.quantize` and :func:`fxsim.requantize` send a registered mode here instead of to
the built-in loops: each block of :data:`~fxsim.numeric.user_rounding.BLOCK` elements is
decomposed exactly (:func:`fxsim.numeric._user_kernels.decompose`), given to the rule (numba-
compiled when it allows, else numpy), and its results fitted into the format. Blocks run on
numba's thread count (:func:`fxsim.numeric.threads.run_chunks`); random integers depend on the
flat element index only.
"""

from __future__ import annotations

import numpy as np

from fxsim.numeric import _user_kernels as kernels
from fxsim.numeric._convert_kernels import CodeTarget
from fxsim.numeric.threads import run_chunks
from fxsim.numeric.user_rounding import BLOCK, RoundingRule

_PROBE = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.bool_),
          np.zeros(1, np.int64))


def _first_line(error: BaseException) -> str:
    """The informative line of an error: numba's start with a "Failed in ... pipeline" line."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Failed in", "During:", "File "))]
    return f"{type(error).__name__}: {(useful or lines or [''])[0]}"[:200]


def implementation(rule: RoundingRule):
    """The callable that runs ``rule``: ``numba.njit(rule.fn)`` if it compiles (and
    ``rule.compile`` allows), else ``rule.fn``. Decided once, on first use; records
    :attr:`RoundingRule.compiled` and, on a fallback, :attr:`RoundingRule.compile_error`."""
    if rule._impl is not None:
        return rule._impl
    with rule._lock:
        if rule._impl is not None:
            return rule._impl
        impl, compiled = rule.fn, False
        if rule.compile is not False:
            import numba

            probe = _PROBE if rule.random_bits else _PROBE[:3]
            try:
                jitted = numba.njit(nogil=True)(rule.fn)
                jitted(*probe)
                impl, compiled = jitted, True
            except Exception as error:  # numba's typing and lowering errors, and others
                if rule.compile:
                    raise ValueError(f"rounding rule {rule.name!r} (compile=True): numba cannot"
                                     f" compile it: {_first_line(error)}") from error
                rule.compile_error = "numba could not compile it: " + _first_line(error)
        rule.compiled = compiled
        rule._impl = impl
        return impl


def apply_rule(rule: RoundingRule, impl, q: np.ndarray, f: np.ndarray, sticky: np.ndarray,
               r: np.ndarray | None) -> np.ndarray:
    """``impl(q, f, sticky[, r])`` checked: an integer array of ``q``'s shape, as int64."""
    args = (q, f, sticky) if r is None else (q, f, sticky, r)
    try:
        result = impl(*args)
    except Exception as error:
        raise ValueError(f"rounding rule {rule.name!r} failed on {q.size} elements: "
                         f"{_first_line(error)}") from error
    result = np.asarray(result)
    if result.dtype.kind not in "iu" or result.shape != q.shape:
        raise ValueError(
            f"rounding rule {rule.name!r} must return an integer array of shape {q.shape} (the "
            f"rounded values), got {result.dtype} of shape {result.shape}"
            + ("; return q + up, not the bool up" if result.dtype.kind == "b" else ""))
    return result.astype(np.int64, copy=False)


def convert(values: np.ndarray, out: np.ndarray, rule: RoundingRule, target: CodeTarget,
            step: float, scale_exp: int) -> tuple[int, int, int]:
    """Round the flat ``values`` (float64, or integer codes) by ``rule`` into the flat signed
    ``out``: ``y = values[i] / step`` if ``step > 0``, else ``values[i] * 2**scale_exp``; then
    saturate to ``[target.lo, target.hi]`` or wrap to ``target.bits`` bits. ``target.key`` keys
    the random integers of a random rule. Returns ``(out_of_range, nan_count, inf_count)``."""
    if values.dtype.kind in "iu":
        values = values.astype(np.int64, copy=False)
    impl = implementation(rule)
    kbits = np.int64(rule.random_bits)
    limits = (np.int64(target.lo), np.int64(target.hi), *target.fit_args())
    step, scale_exp, key = float(step), np.int64(scale_exp), np.uint64(target.key)

    def convert_block(start: int, stop: int) -> tuple[int, int, int]:
        n = stop - start
        q, f, sticky, kind, codes = _parts(n)
        events, nans, infs = _decompose(values[start:stop], step, scale_exp, q, f, sticky, kind,
                                        codes, limits)
        r = None
        words = target.words_of(start, stop)
        if kbits and words.size:  # another source's random words (the LFSRs)
            r = (words >> np.uint64(64 - kbits)).astype(np.int64)
        elif kbits:
            r = np.empty(n, np.int64)
            kernels.random_ints(key, np.int64(start), kbits, r)
        results = apply_rule(rule, impl, q, f, sticky, r)
        events += kernels.fit_results(results, kind, codes, *limits)
        np.copyto(out[start:stop], codes, casting="unsafe")  # codes are within range
        return events, nans, infs

    def convert_chunk(start: int, stop: int) -> tuple[int, int, int]:
        totals = [0, 0, 0]
        for first in range(start, stop, BLOCK):
            counts = convert_block(first, min(first + BLOCK, stop))
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
        return tuple(totals)

    counts = run_chunks(convert_chunk, values.size, BLOCK) if values.size else [(0, 0, 0)]
    return tuple(sum(c[i] for c in counts) for i in range(3))


def _parts(n: int):
    """Empty ``q, f, sticky, kind, codes`` for ``n`` elements."""
    return (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.bool_),
            np.empty(n, np.int8), np.empty(n, np.int64))


def _decompose(values, step, scale_exp, q, f, sticky, kind, codes, limits):
    """:func:`~fxsim.numeric._user_kernels.decompose` of ``values``, floats through the float
    pass first where it is exact (its result is the same)."""
    if values.dtype.kind == "f" and (step > 0 or -1022 <= scale_exp <= 1023):
        scale = 1.0 if step > 0 else 2.0**scale_exp
        if not kernels.decompose_floats(values, step, scale, q, f, sticky, kind):
            return 0, 0, 0
        return kernels.decompose(values, step, scale_exp, q, f, sticky, kind, codes, *limits,
                                 True)
    return kernels.decompose(values, step, scale_exp, q, f, sticky, kind, codes, *limits, False)


def exact_parts(values: np.ndarray, scale_exp: int = 0, step: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q, f, sticky)`` of the flat ``values`` as a rule receives them (``y = values *
    2**scale_exp``, or ``values / step``); elements with no such form (NaN, +-inf,
    ``|y| >= 2**62``) give zeros."""
    values = np.ascontiguousarray(values).reshape(-1)
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
    else:
        values = values.astype(np.float64, copy=False)
    q, f, sticky, kind, codes = _parts(values.size)
    limits = (np.int64(0), np.int64(0), np.int64(1), True, False)
    _decompose(values, float(step or 0.0), np.int64(scale_exp), q, f, sticky, kind, codes, limits)
    return q, f, sticky
