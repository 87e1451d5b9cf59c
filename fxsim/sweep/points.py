"""A grid's points: each one ``fxsim train`` run, a pure function of its settings and policy.

A point's ``key`` (16 hex digits) is the SHA-256 of its run settings (seed included) and its
resolved policy's contents (name and description left out): the run folder is
``OUT/runs/<key>``, so the same point in two blocks, or in two sweeps sharing ``OUT``, trains
once. The point's policy is written to ``OUT/policies/<policy_key>.toml`` and the trainer loads
it from there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxsim.io import write_atomic
from fxsim.policy import Policy
from fxsim.sweep.grid import REFERENCE_BLOCK, AxisValue, Grid, value_label
from fxsim.sweep.paths import UNSET, PolicyPath, parse_path
from fxsim.training.loop import TrainConfig


def digest(data: Any) -> str:
    """SHA-256 (16 hex digits) of ``data`` as canonical JSON."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _policy_content(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if k not in ("name", "description")}


@dataclass(frozen=True)
class Point:
    """One run of the sweep. ``values`` maps each axis of the point's block to its value's
    label; ``train`` holds the TrainConfig fields (policy excluded, seed included);
    ``policy`` the resolved policy dict; ``base_policy`` the name it was derived from."""

    block: str
    values: dict[str, str]
    train: dict[str, Any]
    policy: dict[str, Any] = field(repr=False)
    base_policy: str

    @property
    def seed(self) -> int:
        return self.train["seed"]

    @property
    def policy_key(self) -> str:
        return digest(_policy_content(self.policy))

    @property
    def key(self) -> str:
        return digest({"train": self.train, "policy": _policy_content(self.policy)})

    @property
    def config_key(self) -> str:
        """The key without the seed: the same configuration over several seeds."""
        train = {k: v for k, v in self.train.items() if k != "seed"}
        return digest({"train": train, "policy": _policy_content(self.policy)})

    def run_dir(self, out: str | Path) -> Path:
        return Path(out) / "runs" / self.key

    def policy_file(self, out: str | Path) -> Path:
        return Path(out) / "policies" / f"{self.policy_key}.toml"

    def config(self, out: str | Path) -> TrainConfig:
        """The run's TrainConfig, loading the policy from :meth:`policy_file` (absolute, so
        workers on other machines sharing the folder find it)."""
        return TrainConfig(policy=str(self.policy_file(out).resolve()), **self.train)

    def write_policy(self, out: str | Path) -> Path:
        """Write the policy file unless it is there with the same text."""
        path = self.policy_file(out)
        text = Policy.load(self.policy).to_toml()
        if not path.is_file() or path.read_text() != text:
            write_atomic(path, text)
        return path


def _point(grid: Grid, block: str, values: dict[str, str], sets: list[tuple[str, Any]],
           seed: int, where: str, train: dict[str, Any] | None = None) -> Point:
    """Apply ``sets`` on top of the base point (or of the run settings ``train``); every
    value checked (ValueError naming ``where``)."""
    if train is None:
        train = {k: v for k, v in grid.base.items() if k != "policy"}
    train = dict(train)
    policy_name = grid.base["policy"]
    policy_sets: list[tuple[PolicyPath, Any]] = []
    for path, value in sets:
        parsed = parse_path(path, where)
        if parsed == "policy":
            policy_name = value
        elif isinstance(parsed, str):
            if value == UNSET:
                train.pop(parsed, None)
            else:
                train[parsed] = value
        else:
            policy_sets.append((parsed, value))
    if not isinstance(policy_name, str):
        raise ValueError(f"{where}: policy must be a shipped name or a TOML path, got "
                         f"{policy_name!r}")
    try:
        base = Policy.load(grid.policy_source(policy_name))
        policy = base.to_dict()
        if block != REFERENCE_BLOCK:
            for path, value in [*((parse_path(p, where), v) for p, v in grid.base_sets),
                                *policy_sets]:
                policy = path.apply(policy, value)
        content = _policy_content(policy)
        label = Path(policy_name).stem
        changes = _changes(_policy_content(base.to_dict()), content)
        # name and description follow from the contents alone, so a policy reached from two
        # blocks (or two grids) has one file and one text
        policy["name"] = f"{label}-{digest(content)[:8]}" if changes else label
        policy["description"] = (f"{label} with {', '.join(changes)}" if changes
                                 else base.description)
        policy = Policy.load(policy).to_dict()
        _check_run_settings(train)
        # every TrainConfig field, defaults filled in: the same run has the same key whether
        # a grid spells a default out or not
        settings = TrainConfig(policy="-", seed=seed, **train).to_dict()
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise ValueError(f"{where}: {error}") from None
    settings.pop("policy")
    return Point(block, values, settings, policy, Path(policy_name).stem)


def _leaves(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _changes(base: dict[str, Any], policy: dict[str, Any]) -> list[str]:
    """``path=value`` for each field of ``policy`` that ``base`` lacks or has otherwise (in
    the policy's table order), then ``path unset`` for each field only ``base`` has."""
    old, new = _leaves(base), _leaves(policy)
    return ([f"{k}={value_label(v)}" for k, v in new.items() if old.get(k, UNSET) != v]
            + [f"{k} unset" for k in old if k not in new])


def _check_run_settings(train: dict[str, Any]) -> None:
    from reference_nets import DATASETS, NETS

    if train.get("net") not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {train.get('net')!r}")
    data = train.get("data")
    if data is not None and data not in DATASETS:
        raise ValueError(f"data must be one of {', '.join(DATASETS)}; got {data!r}")
    lr = train.get("lr", 0.05)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")


def point_at(grid: Grid, block: str, combo: dict[str, AxisValue], seed: int) -> Point:
    """The point of ``block`` where each axis named in ``combo`` takes the given value (the
    others stay at the base), for ``seed``; ValueError naming the values if one is refused."""
    values = {name: v.label for name, v in combo.items()}
    sets = [s for v in combo.values() for s in v.sets]
    where = (f"grid {grid.name!r} block {block!r} at "
             + (", ".join(f"{k} = {v}" for k, v in values.items()) or "the base"))
    return _point(grid, block, values, sets, seed, where)


def plan_points(grid: Grid) -> list[Point]:
    """Every point of the grid, seed by seed (so an interrupted sweep has whole seeds done):
    for each seed, the reference runs first (``grid.reference`` at each distinct net, data and
    run settings of the grid), then each block's full product of axis values. A point in
    several blocks appears once per block (same key, one run). Raises ValueError naming the
    grid, the block, the axis values and the problem for any value the policy schema or the
    run settings refuse."""
    by_seed = {seed: [point_at(grid, block.name, dict(zip(
        (a.name for a in block.axes), combo, strict=True)), seed)
        for block in grid.blocks
        for combo in itertools.product(*(axis.values for axis in block.axes))]
        for seed in grid.seeds}
    settings: dict[str, dict[str, Any]] = {}
    for p in by_seed[grid.seeds[0]]:
        train = {k: v for k, v in p.train.items() if k != "seed"}
        settings.setdefault(digest(train), train)
    points: list[Point] = []
    for seed, block_points in by_seed.items():
        if grid.reference:
            points += [_point(grid, REFERENCE_BLOCK, {}, [("policy", grid.reference)], seed,
                              f"grid {grid.name!r} reference {grid.reference!r}", train)
                       for train in settings.values()]
        points += block_points
    return points


def unique_runs(points: Sequence[Point]) -> list[Point]:
    """The points with distinct keys, first occurrence kept (one run each)."""
    seen: dict[str, Point] = {}
    for p in points:
        seen.setdefault(p.key, p)
    return list(seen.values())
