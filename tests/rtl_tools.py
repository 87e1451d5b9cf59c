"""Markers for the tests that run Icarus Verilog or Yosys.

Outside CI a test whose tool is missing is skipped with the reason and the install command;
in CI (the environment variable ``CI`` set, as ``.ci/run`` does) it runs and fails loudly, so
that a CI machine without the tools cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL = "apt-get install iverilog yosys"


def needs(*tools: str):
    """Skip unless every tool is on PATH (never skip when ``CI`` is set)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing and not os.environ.get("CI"):
        return pytest.mark.skip(reason=f"{', '.join(missing)} not on PATH: RTL tests need "
                                       f"them ({INSTALL}); in CI they run")
    return pytest.mark.skipif(False, reason="the tools are present")


icarus = needs("iverilog", "vvp")
yosys = needs("yosys", "iverilog", "vvp")
