"""What code and libraries produced a result: recorded in every run's ``summary.json``."""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path

from fxsim.numeric.user_rounding import is_module_path

# the packages whose source decides a run's numbers (the engine, and the nets and data loaders)
SOURCE_PACKAGES = ("fxsim", "reference_nets")
SOURCE_SUFFIXES = (".py", ".toml")
# folders of those packages that never decide a run's numbers: fxsim sweep only plans runs (each
# a TrainConfig and a policy file, both compared on reuse) and tabulates them, so editing it or
# its grids leaves finished runs reusable
SOURCE_EXCLUDED = ("fxsim/sweep",)


@functools.cache
def source_digest() -> str:
    """SHA-256 (hex, first 16 digits) of the source files of :data:`SOURCE_PACKAGES`: every
    ``.py`` and ``.toml`` file outside :data:`SOURCE_EXCLUDED`, in sorted relative-path order,
    each hashed with its path. Two runs with the same digest ran the same engine code; any edit
    of it changes the digest."""
    import importlib

    digest = hashlib.sha256()
    for name in SOURCE_PACKAGES:
        root = Path(importlib.import_module(name).__file__).parent
        files = sorted(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES
                       and "__pycache__" not in p.parts
                       and not any(f"{name}/{p.relative_to(root).as_posix()}".startswith(
                           f"{folder}/") for folder in SOURCE_EXCLUDED))
        for path in files:
            digest.update(f"{name}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def module_file(spec: str) -> Path:
    """The source file of a resolved rounding module ``spec`` (an absolute ``.py`` path, or an
    importable module name; see :func:`fxsim.numeric.user_rounding.load_rounding_module`)."""
    import importlib.util

    if is_module_path(spec):
        return Path(spec)
    found = importlib.util.find_spec(spec)
    if found is None or not found.origin:
        raise ValueError(f"rounding module {spec!r} has no source file to record")
    return Path(found.origin)


def run_source_digest(rounding_modules: tuple[str, ...] = ()) -> str:
    """The digest of the code that decides a run's numbers: :func:`source_digest` when the
    policy registers no rounding rule of its own; else SHA-256 (first 16 hex digits) of that
    digest followed by the bytes of each of the policy's ``rounding_modules`` source files, in
    order. Editing a user's rounding rule therefore makes its finished runs stale, as editing
    fxsim does."""
    if not rounding_modules:
        return source_digest()
    digest = hashlib.sha256(source_digest().encode())
    for spec in rounding_modules:
        digest.update(b"\0")
        digest.update(module_file(spec).read_bytes())
    return digest.hexdigest()[:16]


def versions(source: str | None = None) -> dict[str, str]:
    """Versions of fxsim (with ``source``, the run's :func:`run_source_digest`, as
    ``fxsim_source``; fxsim's own :func:`source_digest` by default), numpy, numba, scipy, pandas
    and Python."""
    import numba
    import numpy as np
    import pandas as pd
    import scipy

    import fxsim

    if source is None:
        source = source_digest()
    return {"fxsim": fxsim.__version__, "fxsim_source": source,
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}
