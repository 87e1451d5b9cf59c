"""The command line's progress bar (tqdm, on stderr) for the training loop's progress events.

Part of the command line: the training loop only calls a callback with event dicts
(:meth:`fxsim.training.loop.Trainer.run`); this renders them.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


class ProgressBar:
    """A tqdm bar per epoch over its batches (loss and accuracy of the last batch), shown when
    ``stream`` is a terminal, and one summary line per finished epoch in any case; with
    ``bars=False`` (``--quiet``) neither. Notes and warnings (``phase`` ``note`` or
    ``warning``, with a ``message``) always print."""

    def __init__(self, stream: TextIO | None = None, bars: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.bars = bars
        self.interactive = bars and getattr(self.stream, "isatty", lambda: False)()
        self.bar: tqdm | None = None
        self._started = time.perf_counter()

    def __call__(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        if phase in ("note", "warning"):
            self.close()
            prefix = "warning: " if phase == "warning" else "note: "
            tqdm.write(prefix + event["message"], file=self.stream)
        elif phase == "train" and self.interactive:
            if self.bar is None:
                self.bar = tqdm(total=event["steps"], desc=f"epoch {event['epoch']}/"
                                f"{event['epochs']}", unit="batch", file=self.stream,
                                leave=False, dynamic_ncols=True)
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(loss=f"{event['loss']:.4f}", acc=f"{100 * event['acc']:.1f}%",
                                 refresh=False)
        elif phase == "epoch" and self.bars:
            self.close()
            tqdm.write(f"epoch {event['epoch']}/{event['epochs']}  train loss "
                       f"{event['train_loss']:.4f}  train acc {100 * event['train_acc']:5.1f}%  "
                       f"test acc {100 * event['test_acc']:5.1f}%  "
                       f"{time.perf_counter() - self._started:6.1f}s", file=self.stream)

    def close(self) -> None:
        """Remove the bar of the current epoch, if any."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
