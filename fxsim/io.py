"""Atomic file writing: a file is either absent, or complete, and readable as any file the user
creates (mode ``0666 & ~umask``: 0644 under the usual umask 022)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

TEMPORARY_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder
    (``.NAME.XXXXXXXX.tmp``), fsync it, then rename it over ``path``: a reader (or an
    interrupted run) never sees a partial file. The file gets the mode a newly created file
    would (``0666 & ~umask``), not :func:`tempfile.mkstemp`'s private 0600. A process killed
    while writing leaves its temporary file: :func:`remove_temporaries` clears them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=TEMPORARY_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`write_atomic` left in ``folder`` when its process was
    killed mid-write (``.NAME.XXXXXXXX.tmp`` next to a file ``NAME``); returns them. Only for a
    folder no other process is writing to."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for item in folder.iterdir():
        name = item.name
        if name.startswith(".") and name.endswith(TEMPORARY_SUFFIX) and item.is_file() \
                and name.count(".") >= 3:
            item.unlink(missing_ok=True)
            removed.append(item)
    return sorted(removed)


def write_csv(frame, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame as CSV, atomically."""
    return write_atomic(path, frame.to_csv(index=False))


def toml_text(data: dict[str, Any]) -> str:
    """TOML text of ``data`` (tomli-w: nested dicts become ``[tables]``), which ``tomllib`` reads
    back to an equal dict. None values are refused (TOML has no null)."""
    return tomli_w.dumps(data)
