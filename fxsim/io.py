"""Atomic file writing: a file is either absent, or complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import tomli_w


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync it, then
    rename it over ``path``: a reader (or an interrupted run) never sees a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(frame, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame as CSV, atomically."""
    return write_atomic(path, frame.to_csv(index=False))


def toml_text(data: dict[str, Any]) -> str:
    """TOML text of ``data`` (tomli-w: nested dicts become ``[tables]``), which ``tomllib`` reads
    back to an equal dict. None values are refused (TOML has no null)."""
    return tomli_w.dumps(data)
