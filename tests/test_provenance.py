"""source_digest: changes with any source edit, ignores compiled caches; versions records it."""

from __future__ import annotations

import re
import sys

import pytest

from fxsim.training import provenance


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "probe_pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("X = 1\n")
    (root / "sub" / "policy.toml").write_text("bits = 8\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(provenance, "SOURCE_PACKAGES", ("probe_pkg",))
    provenance.source_digest.cache_clear()
    yield root
    provenance.source_digest.cache_clear()
    sys.modules.pop("probe_pkg", None)


def digest() -> str:
    provenance.source_digest.cache_clear()
    return provenance.source_digest()


def test_digest_follows_every_source_file_and_ignores_caches(package):
    first = digest()
    assert re.fullmatch("[0-9a-f]{16}", first) and digest() == first
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.nbi").write_bytes(b"cache")
    (package / "notes.txt").write_text("not source")
    assert digest() == first
    (package / "sub" / "policy.toml").write_text("bits = 4\n")
    second = digest()
    assert second != first
    (package / "sub" / "policy.toml").rename(package / "policy.toml")  # same bytes, moved
    assert digest() not in (first, second)


def test_versions_name_the_source():
    found = provenance.versions()
    assert found["fxsim_source"] == provenance.source_digest()
    assert {"fxsim", "numpy", "numba", "scipy", "pandas", "python"} <= set(found)


def test_sweep_package_is_not_part_of_the_digest(package, monkeypatch):
    monkeypatch.setattr(provenance, "SOURCE_EXCLUDED", ("probe_pkg/sweep",))
    first = digest()
    (package / "sweep").mkdir()
    (package / "sweep" / "grid.toml").write_text("seeds = 3\n")
    (package / "sweep" / "run.py").write_text("Y = 2\n")
    assert digest() == first
    (package / "sweeper.py").write_text("Z = 3\n")
    assert digest() != first
