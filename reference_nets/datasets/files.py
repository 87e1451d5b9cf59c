"""Finding and reading data files, with errors that name the folder, the files and the fault."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path


def data_folder(data_dir: str | os.PathLike | None, dataset: str, expected: Sequence[str]) -> Path:
    """``data_dir`` as an existing folder, or FileNotFoundError naming what the dataset needs."""
    wanted = ", ".join(expected)
    if data_dir is None:
        raise FileNotFoundError(
            f"dataset {dataset!r} is read from a local folder: pass data_dir (--data-dir) "
            f"naming a folder with {wanted}"
        )
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"data_dir={str(data_dir)!r} for dataset {dataset!r} is not a folder; expected a "
            f"folder with {wanted}"
        )
    return folder


def first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of ``folder / name`` for ``name`` in ``names`` that is a file, else None."""
    for name in names:
        path = folder / name
        if path.is_file():
            return path
    return None


def missing_files_error(
    folder: Path, dataset: str, expected: Sequence[str], missing: Sequence[str],
    subfolder: str | None = None,
) -> FileNotFoundError:
    """The error for a folder that lacks some of the files a dataset needs; ``subfolder``, if
    given, is where else below ``folder`` they were looked for."""
    elsewhere = f" (nor in {subfolder} below it)" if subfolder else ""
    return FileNotFoundError(
        f"{dataset} data not found in {str(folder)!r}{elsewhere}: expected "
        f"{', '.join(expected)}; missing {', '.join(missing)}"
    )


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of ``path``, decompressed when its name ends in ``.gz``.

    A damaged gzip stream (bad header, bad CRC, cut short) is a ValueError naming the file.
    """
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{str(path)!r}: corrupt gzip file ({exc})") from exc
