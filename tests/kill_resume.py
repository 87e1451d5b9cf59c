"""Kill a training run with SIGKILL at random points, resume it each time, and report.

Run as ``python tests/kill_resume.py OUT REFERENCE POLICY KILLS SEED`` (tests/test_kill_resume.py
does). The process warms up by training the uninterrupted reference run into REFERENCE,
recording when each of its epochs ended. Then it forks a child per attempt (the child inherits
the loaded kernels, so an attempt starts in milliseconds): the first child starts the run in
OUT, later ones resume it (``train(..., resume=True)`` once ``config.toml`` exists, as a user
re-running ``fxsim train --out OUT --resume`` would). KILLS kill points are drawn uniformly over
the reference run's timeline, sorted, and each child is sent SIGKILL when it should have reached
its point (from the epoch it resumed at): points fall anywhere, mid-step, mid-evaluation,
mid-write. A last child runs to the end. Prints one JSON line: the kill points and what each
child did.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # no thread pool: forking is safe and cheap

import json
import random
import signal
import sys
import time
from pathlib import Path

from fxsim.training.loop import TrainConfig, train
from fxsim.training.runfolder import CHECKPOINT, CONFIG, Checkpoint

SETTINGS = {"limit": 200, "batch": 25, "epochs": 4, "eval_batch": 64}


def reference_timeline(config: TrainConfig, out: Path) -> tuple[float, list[float]]:
    """Train the reference run; return (startup seconds, end time of each epoch), both from
    the call of train()."""
    ends: list[float] = []
    started = time.perf_counter()
    first: list[float] = []

    def progress(event: dict) -> None:
        now = time.perf_counter() - started
        if event["phase"] == "train" and not first:
            first.append(now)
        if event["phase"] == "epoch":
            ends.append(now)

    train(config, out, progress=progress)
    return first[0], ends


def child(config: TrainConfig, out: Path) -> None:
    """Start or resume the run, then leave without cleanup (as a killed process would)."""
    code = 0
    try:
        train(config, out, resume=(out / CONFIG).is_file())
    except BaseException as error:  # a failure to resume is a test failure: report it
        print(f"child {os.getpid()}: {type(error).__name__}: {error}", file=sys.stderr)
        code = 3
    os._exit(code)


def epochs_saved(out: Path) -> int:
    return Checkpoint.load(out).epoch if (out / CHECKPOINT).is_file() else 0


def main() -> None:
    out, reference, policy, kills, seed = (Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
                                           int(sys.argv[4]), int(sys.argv[5]))
    config = TrainConfig(policy=policy, **SETTINGS)
    train(config, reference.with_name(reference.name + "-warmup"))  # load every kernel first
    startup, ends = reference_timeline(config, reference)
    total = ends[-1]
    rng = random.Random(seed)
    points = sorted(rng.uniform(0.0, total) for _ in range(kills))
    attempts = []
    for point in points:
        done = epochs_saved(out)
        start = 0.0 if done == 0 else ends[done - 1] - startup  # the timeline of this child
        delay = max(0.0, point - start)
        pid = os.fork()
        if pid == 0:
            child(config, out)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        exit_code = None if killed else os.WEXITSTATUS(status)
        attempts.append({"point": round(point, 4), "resumed_at_epoch": done,
                         "delay": round(delay, 4), "killed": killed, "exit": exit_code})
        if exit_code not in (None, 0):
            break
    pid = os.fork()
    if pid == 0:
        child(config, out)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"points": len(points), "reference_seconds": round(total, 3),
                      "attempts": attempts, "final_exit": os.WEXITSTATUS(status)}))


if __name__ == "__main__":
    main()
