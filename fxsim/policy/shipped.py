"""The policies shipped with fxsim, as TOML files in the ``fxsim.policies`` package."""

from __future__ import annotations

from importlib import resources

SHIPPED = "fxsim.policies"


def shipped_policies() -> tuple[str, ...]:
    """Names of the policies shipped in ``fxsim/policies`` (``fxsim policies`` lists them)."""
    folder = resources.files(SHIPPED)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def shipped_text(name: str) -> str:
    """The TOML text of the shipped policy ``name``."""
    return resources.files(SHIPPED).joinpath(f"{name}.toml").read_text()
