"""Measurements for ``fxsim reproduce`` besides accuracy: hardware cost, quantizer latency and
training-step time.

- :func:`policy_cost`: energy (pJ per training step), largest-lane area, traffic, energy saving
  and compression ratio against a baseline, from :func:`costmodel.compare` and
  :func:`costmodel.estimate` (default tables: 45 nm, ``sram_32KB``). A class-group policy is
  priced with the measured share of samples in its easy group.
- :func:`rounding_units`: energy and area of one rounding unit per mode (costmodel ``Units``).
- :func:`rounding_latency`: wall time of :func:`fxsim.quantize` per rounding mode on the same
  float64 values in this process, best of several repeats, modes interleaved in every repeat so
  that load from other processes hits each alike.
- :func:`step_times`: wall time of a training step per policy (one epoch of the digits CNN,
  best of several, policies interleaved; the first epoch of each, which compiles, is not timed).
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from fxsim.policy import Policy

LATENCY_MODES = ("nearest_even", "toward_zero", "stochastic")
COST_COLUMNS = ("energy_pj", "area_um2", "traffic_bits", "energy_rounding_pj", "energy_saving",
                "compression_ratio")


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
def policy_dict(source: str, share: float | None = None) -> dict[str, Any]:
    """The policy ``source`` (a shipped name or a TOML path) as a dict for the cost model, the
    share of its easy group set to ``share`` when given."""
    policy = Policy.load(source)
    data = copy.deepcopy(policy.to_dict())
    if share is not None and policy.class_difficulty is not None:
        data["groups"][policy.class_difficulty["easy_group"]]["share"] = float(share)
    return data


def _without_placement(data: dict[str, Any]) -> dict[str, Any]:
    """The policy without ``[kinds]`` and ``[layers.first]``/``[layers.last]``."""
    out = copy.deepcopy(data)
    out.pop("kinds", None)
    layers = {k: v for k, v in out.get("layers", {}).items() if k not in ("first", "last")}
    if layers:
        out["layers"] = layers
    else:
        out.pop("layers", None)
    return out


@lru_cache(maxsize=256)
def _cost(net: str, batch: int, source: str, share: float | None, baseline: str,
          baseline_share: float | None) -> tuple[tuple[str, float], ...]:
    import costmodel

    policy = policy_dict(source, share)
    base = policy_dict(baseline, baseline_share)
    row = costmodel.compare({"policy": policy}, baseline=base, net=net, batch=batch).iloc[1]
    frame = costmodel.estimate(net, policy, batch)
    values = {k: float(row[k]) for k in COST_COLUMNS if k in row}
    values["energy_rounding_pj"] = float(frame["energy_rounding_pj"].sum())
    return tuple(values.items())


def policy_cost(net: str, batch: int, source: str, baseline: str, share: float | None = None,
                baseline_share: float | None = None) -> dict[str, float]:
    """Cost of one training step of ``batch`` samples of ``net`` under policy ``source`` against
    ``baseline`` (both shipped names or TOML paths): ``energy_pj``, ``area_um2`` (largest lane,
    um^2), ``traffic_bits``, ``energy_rounding_pj``, ``energy_saving`` (1 - E/E_base) and
    ``compression_ratio`` (traffic_base / traffic). ``share``: the fraction of samples in the
    easy class group (ignored by policies without groups). Raises what the cost model raises for
    a policy it cannot price."""
    share = None if share is None or np.isnan(share) else round(float(share), 12)
    return dict(_cost(net, batch, source, share, baseline, baseline_share))


def unpriced_placement(net: str, batch: int, source: str) -> bool:
    """True when the policy has ``[kinds]`` or ``[layers.first]``/``[layers.last]`` tables and
    the cost model gives the same energy and traffic without them (it does not read them)."""
    import costmodel

    data = policy_dict(source, 0.5)
    bare = _without_placement(data)
    if bare == data:
        return False
    full = costmodel.summarize(costmodel.estimate(net, data, batch))
    stripped = costmodel.summarize(costmodel.estimate(net, bare, batch))
    return all(full[k] == stripped[k] for k in ("energy_pj", "traffic_bits", "area_um2"))


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
def _best_times(tasks: dict[str, Any], repeats: int) -> dict[str, float]:
    """Best wall time (s) of each zero-argument callable over ``repeats`` rounds, the tasks
    interleaved within each round."""
    best = dict.fromkeys(tasks, float("inf"))
    for _ in range(repeats):
        for name, task in tasks.items():
            started = time.perf_counter()
            task()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def rounding_latency(elements: int = 10**7, repeats: int = 7, seed: int = 0) -> pd.DataFrame:
    """Wall time of ``fxsim.quantize`` per rounding mode on ``elements`` standard-normal float64
    values, to 8 bits with a power-of-two format (``QFormat(8, 4)``) and with a real step
    (0.05, as ARC's z-score rule chooses), saturating. Each call is warmed up (compiled) first;
    best of ``repeats``. Columns: rounding, scale, elements, best_ms, ns_per_element and
    vs_stochastic (this mode's time over stochastic's, same scale)."""
    import numba

    import fxsim

    if elements < 1 or repeats < 1:
        raise ValueError(f"elements and repeats must be >= 1, got {elements} and {repeats}")
    x = np.random.default_rng(seed).standard_normal(elements)
    fmt = fxsim.QFormat(8, 4)
    tasks = {}
    for scale, step in (("pow2", None), ("real", 0.05)):
        for mode in LATENCY_MODES:
            def task(mode=mode, step=step):
                fxsim.quantize(x, fxsim.QFormat(8, 0) if step else fmt, mode, seed=seed,
                               step=step)
            task()  # compile or load the kernel before timing
            tasks[(scale, mode)] = task
    best = _best_times(tasks, repeats)
    rows = [{"rounding": mode, "scale": scale, "elements": elements, "best_ms": 1e3 * s,
             "ns_per_element": 1e9 * s / elements} for (scale, mode), s in best.items()]
    frame = pd.DataFrame(rows)
    sr = frame[frame["rounding"] == "stochastic"].set_index("scale")["best_ms"]
    frame["vs_stochastic"] = frame["best_ms"] / frame["scale"].map(sr)
    frame.attrs["threads"] = numba.get_num_threads()
    return frame


def step_times(setup: Any, policies: tuple[str, ...], repeats: int = 3,
               limit: int | None = None) -> pd.DataFrame:
    """Wall time of one training step (an epoch over its steps) of ``setup``'s net under each
    policy, in this process: each trainer first runs one untimed epoch (compilation), then the
    policies take turns, best of ``repeats`` epochs. The epoch index stays 0, so every timed
    epoch sees the same batches. Columns: policy, steps, batch, best_ms_per_step."""
    import numba

    from fxsim.train import Trainer

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
                           "best_ms_per_step": 1e3 * best[p] / trainers[p].steps_per_epoch}
                          for p in policies])
    frame.attrs["threads"] = numba.get_num_threads()
    return frame
