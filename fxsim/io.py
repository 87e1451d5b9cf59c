"""Files and text the whole package writes: atomic files (complete or absent, and readable as
any file the user creates: mode ``0666 & ~umask``, 0644 under the usual umask 022), CSV, TOML
and markdown tables."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

TEMPORARY_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once: setting it (to read it) in a threaded process races other writes


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
        os.fchmod(fd, 0o666 & ~UMASK)
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


def _cell(value: Any, fmt: str | Callable[[Any], str] | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if callable(fmt):
        text = fmt(value)
    elif fmt is not None:
        text = format(value, fmt)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame,
                   formats: Mapping[str, str | Callable[[Any], str]] | None = None,
                   headers: Mapping[str, str] | None = None) -> str:
    """A GitHub markdown table of the pandas DataFrame ``frame`` (no index): ``formats`` maps a
    column to a format spec (``".2f"``) or a function; ``headers`` renames columns. NaN and
    None show as ``-``, ``|`` in a cell is escaped; numeric columns are right-aligned."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    formats = formats or {}
    headers = headers or {}
    columns = list(frame.columns)
    head = [_cell(headers.get(c, c), None) for c in columns]
    align = ["---:" if is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c]) else "---"
             for c in columns]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, formats.get(c)) for c, v in
                                       zip(columns, row, strict=True)) + " |")
    return "\n".join(lines) + "\n"

