"""Measurements for ``fxsim reproduce`` besides accuracy: hardware cost, quantizer latency and
training-step time.

- :func:`policy_cost`: energy (pJ per training step), largest-lane area, traffic, energy saving
  and compression ratio against a baseline, from :func:`costmodel.compare` and
  :func:`costmodel.estimate` (45 nm, the default architecture and tables). A class-group policy is
  priced with the measured share of samples per group (:func:`costmodel.shares_from_run`).
- :func:`rounding_units`: energy and area of one rounding unit per mode (costmodel ``Units``).
- :func:`cost_sensitivity`: the source numbers and assumptions that can flip a cost verdict.
- :func:`rounding_latency`: wall time of :func:`fxsim.quantize` (and of plain numpy rounding,
  for reference) per rounding mode on the same float64 values in this process, best of several
  repeats, modes interleaved in every repeat so that load from other processes hits each alike.
- :func:`step_times`: wall time of a training step per policy (one epoch of the digits CNN,
  best of several, policies interleaved; the first epoch of each, which compiles, is not timed).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

LATENCY_MODES = ("nearest_even", "toward_zero", "stochastic")
COST_COLUMNS = ("energy_pj", "area_um2", "mac_lane_area_um2", "traffic_bits", "energy_saving",
                "compression_ratio")
# per-step energy of the units a scheme's rounding and range rules add (sums of estimate rows)
UNIT_ENERGY_COLUMNS = ("energy_rounding_pj", "energy_stats_pj", "energy_rescale_pj")


@dataclass(frozen=True)
class MeasureOptions:
    """Sizes of the timing measurements. ``latency_elements`` float64 values per quantize call
    (0 skips the latency table), best of ``latency_repeats``; ``step_timing`` times training
    steps of ``step_policies``, best of ``step_repeats`` epochs."""

    latency_elements: int = 10**7
    latency_repeats: int = 7
    step_timing: bool = True
    step_repeats: int = 3
    step_policies: tuple[str, ...] = ("int8", "sr8", "arc8")


# ---- cost model --------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _cost(net: str, batch: int, source: str, baseline: str,
          shares: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    import warnings

    import costmodel

    given = dict(shares) or None
    with warnings.catch_warnings():  # the report states how stochastic rounding is priced
        warnings.simplefilter("ignore", UserWarning)
        row = costmodel.compare({"policy": source}, baseline=baseline, net=net, batch=batch,
                                shares=given).iloc[1]
        frame = costmodel.estimate(net, source, batch, shares=given)
    values = {k: float(row[k]) if k in row else math.nan for k in COST_COLUMNS}
    for column in UNIT_ENERGY_COLUMNS:
        values[column] = float(frame[column].sum()) if column in frame else math.nan
    return tuple(values.items())


def policy_cost(net: str, batch: int, source: str, baseline: str,
                shares: Mapping[str, float] | None = None) -> dict[str, float]:
    """Cost of one training step of ``batch`` samples of ``net`` under policy ``source`` against
    ``baseline`` (shipped names or TOML paths): ``energy_pj``, ``area_um2`` (the hardware
    that runs it: costmodel's default architecture, lanes, shared units, buffer, update unit),
    ``mac_lane_area_um2`` (one MAC lane), ``traffic_bits``, the energy of the rounding,
    statistics and rescale units (:data:`UNIT_ENERGY_COLUMNS`), ``energy_saving``
    (1 - E/E_base) and
    ``compression_ratio`` (traffic_base / traffic). ``shares``: fraction of samples per class
    group (as :func:`costmodel.shares_from_run` measures; default: the policy's own ``share``
    keys). Raises what the cost model raises for a policy it cannot price."""
    key = tuple(sorted((g, round(float(v), 12)) for g, v in (shares or {}).items()))
    return dict(_cost(net, batch, source, baseline, key))


def cost_sensitivity(outcomes: Sequence[Any], setups: Sequence[Any]) -> dict[str, pd.DataFrame]:
    """Per net of ``setups``: which cost verdicts (energy and area saving against fp, the order
    of two schemes) one source number or assumption can flip (:func:`costmodel.sensitivity`,
    :func:`costmodel.flips`), for the policies the sweep ran on it (each priced with its own
    ``share`` keys)."""
    import warnings

    import costmodel

    found = {}
    for setup in setups:
        sources = {o.plan.policy: o.plan.config.policy for o in outcomes
                   if o.plan.net == setup.net and o.plan.policy != "fp"}
        if not sources:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            report = costmodel.sensitivity(sources, "fp", net=setup.net, batch=setup.batch)
        found[setup.net] = costmodel.flips(report)
    return found


def rounding_units(acc_bits: int = 32, out_bits: int = 8) -> pd.DataFrame:
    """Energy (pJ per element) and area (um^2) of the rounding unit of each of
    :data:`LATENCY_MODES` taking an ``acc_bits`` value to ``out_bits`` (costmodel's default
    tables, 45 nm), and both relative to ``nearest_even``."""
    from costmodel import Units

    units = Units()
    rows = []
    for mode in LATENCY_MODES:
        cost = units.rounding(mode, acc_bits, out_bits)
        rows.append({"rounding": mode, "acc_bits": acc_bits, "out_bits": out_bits,
                     "energy_pj": cost.energy_pj, "area_um2": cost.area_um2})
    frame = pd.DataFrame(rows)
    ref = frame.set_index("rounding").loc["nearest_even"]
    frame["energy_vs_nearest"] = frame["energy_pj"] / ref["energy_pj"]
    frame["area_vs_nearest"] = frame["area_um2"] / ref["area_um2"]
    return frame


# ---- timing ------------------------------------------------------------------------------------
def _best_times(tasks: dict[Any, Callable[[], Any]], repeats: int
                ) -> dict[Any, tuple[float, float]]:
    """Best wall time and best CPU time of this process (s) of each zero-argument callable over
    ``repeats`` rounds, the tasks interleaved within each round. CPU time counts only the time
    this process ran, so it suffers far less than wall time from other processes' load."""
    best = {name: (math.inf, math.inf) for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            wall, cpu = time.perf_counter(), time.process_time()
            task()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


@contextlib.contextmanager
def _numba_threads(count: int | None) -> Iterator[int]:
    """Run the block with ``count`` numba threads (None: as they are); yields the count."""
    import numba

    saved = numba.get_num_threads()
    numba.set_num_threads(saved if count is None else min(count, numba.config.NUMBA_NUM_THREADS))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(saved)


def _numpy_rounding(x: np.ndarray, mode: str, seed: int) -> Callable[[], np.ndarray]:
    """Rounding to s8.4 as software commonly writes it in numpy (float math, then a cast);
    stochastic draws a uniform array from numpy's generator first."""
    rng = np.random.default_rng(seed)
    ops = {"nearest_even": lambda y: np.rint(y), "toward_zero": lambda y: np.trunc(y),
           "stochastic": lambda y: np.floor(y + rng.random(y.shape))}
    return lambda: np.clip(ops[mode](x * 16.0), -128, 127).astype(np.int8)


def rounding_latency(elements: int = 10**7, repeats: int = 7, seed: int = 0,
                     threads: int | None = 1) -> pd.DataFrame:
    """Time per rounding mode on the same ``elements`` standard-normal float64 values, to 8
    bits, saturating: ``fxsim.quantize`` with a power-of-two format (``QFormat(8, 4)``, scale
    ``pow2``) and with a real step (0.05, as ARC's z-score rule chooses, scale ``real``), and
    numpy code as software usually writes it (``np.trunc`` / ``np.rint`` /
    ``np.floor(y + rng.random())``, scale ``pow2``). ``threads`` numba threads (default 1: the
    latency of one core; None keeps the current count). Each task runs once untimed
    (compilation), then best of ``repeats`` with the tasks interleaved. Columns:
    implementation, rounding, scale, elements, wall_ms and cpu_ms (best of each),
    cpu_ns_per_element, vs_stochastic (CPU time over stochastic's, same implementation and
    scale)."""
    import fxsim

    if elements < 1 or repeats < 1:
        raise ValueError(f"elements and repeats must be >= 1, got {elements} and {repeats}")
    x = np.random.default_rng(seed).standard_normal(elements)
    tasks = {}
    for scale, fmt, step in (("pow2", fxsim.QFormat(8, 4), None),
                             ("real", fxsim.QFormat(8, 0), 0.05)):
        for mode in LATENCY_MODES:
            def task(mode=mode, fmt=fmt, step=step):
                fxsim.quantize(x, fmt, mode, seed=seed, step=step)
            tasks[("fxsim", scale, mode)] = task
    for mode in LATENCY_MODES:
        tasks[("numpy", "pow2", mode)] = _numpy_rounding(x, mode, seed)
    with _numba_threads(threads) as used:
        for task in tasks.values():
            task()
        best = _best_times(tasks, repeats)
    frame = pd.DataFrame([{"implementation": impl, "rounding": mode, "scale": scale,
                           "elements": elements, "wall_ms": 1e3 * wall, "cpu_ms": 1e3 * cpu,
                           "cpu_ns_per_element": 1e9 * cpu / elements}
                          for (impl, scale, mode), (wall, cpu) in best.items()])
    key = frame["implementation"] + "/" + frame["scale"]
    stochastic = frame["rounding"] == "stochastic"
    sr = pd.Series(frame.loc[stochastic, "cpu_ms"].to_numpy(), index=key[stochastic])
    frame["vs_stochastic"] = frame["cpu_ms"] / key.map(sr)
    frame.attrs["threads"] = used
    return frame


def step_times(setup: Any, policies: tuple[str, ...], repeats: int = 3,
               limit: int | None = None) -> pd.DataFrame:
    """Time of one training step (an epoch over its steps) of ``setup``'s net under each
    policy, in this process with its current thread counts: each trainer first runs one untimed
    epoch (compilation), then the policies take turns, best of ``repeats`` epochs. The epoch
    index stays 0, so every timed epoch sees the same batches. Columns: policy, steps, batch,
    wall_ms_per_step, cpu_ms_per_step (CPU time of all this process's threads)."""
    import numba

    from fxsim.training.loop import Trainer

    trainers = {}
    with tempfile.TemporaryDirectory() as folder:  # trainers write nothing unless started
        for policy in policies:
            trainer = Trainer(setup.config(policy, 0, limit), folder)
            trainer.train_epoch(None)
            trainers[policy] = trainer
        best = _best_times({p: (lambda t=t: t.train_epoch(None)) for p, t in trainers.items()},
                           repeats)
    frame = pd.DataFrame([{"policy": p, "steps": trainers[p].steps_per_epoch,
                           "batch": setup.batch,
                           "wall_ms_per_step": 1e3 * best[p][0] / trainers[p].steps_per_epoch,
                           "cpu_ms_per_step": 1e3 * best[p][1] / trainers[p].steps_per_epoch}
                          for p in policies])
    frame.attrs["threads"] = numba.get_num_threads()
    return frame
