"""Progress callbacks that interrupt a training run at a chosen point, as Ctrl-C would."""

from __future__ import annotations


def stop_at(phase: str, epoch: int):
    """A ``progress`` callback raising KeyboardInterrupt at the first event of ``phase`` in
    ``epoch``."""

    def progress(event):
        if event["phase"] == phase and event.get("epoch") == epoch:
            raise KeyboardInterrupt

    return progress
