"""A progress bar for the command line (stderr): one line per epoch, redrawn per batch."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

WIDTH = 24


class ProgressBar:
    """Renders the training loop's progress events (dicts, see :func:`fxsim.train.train`)."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._last = 0.0
        self._started = time.perf_counter()
        self.interactive = getattr(self.stream, "isatty", lambda: False)()

    def __call__(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        now = time.perf_counter()
        if phase == "train":
            done = event["step"] == event["steps"]
            if not self.interactive or (now - self._last < self.min_interval and not done):
                return
            self._last = now
            filled = WIDTH * event["step"] // event["steps"]
            bar = "#" * filled + "." * (WIDTH - filled)
            self.stream.write(
                f"\repoch {event['epoch']}/{event['epochs']} [{bar}] "
                f"{event['step']}/{event['steps']}  loss {event['loss']:.4f}  "
                f"acc {100 * event['acc']:5.1f}%  {now - self._started:6.1f}s")
            self.stream.flush()
        elif phase == "epoch":
            self.stream.write(
                ("\r" if self.interactive else "")
                + f"epoch {event['epoch']}/{event['epochs']}  train loss "
                f"{event['train_loss']:.4f}  train acc {100 * event['train_acc']:5.1f}%  "
                f"test acc {100 * event['test_acc']:5.1f}%  {now - self._started:6.1f}s"
                + " " * 10 + "\n")
            self.stream.flush()
