"""The README's fxsim.ops example runs, and says what it returns."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from fxsim import QFormat

ROOT = Path(__file__).resolve().parents[1]


def test_readme_ops_example_runs_as_documented():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Integer kernels (fxsim.ops)"):]
    code = re.search(r"```python\n(.+?)\n```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["y"].fmt == QFormat(23, 12) and scope["y"].raw.dtype == np.int32
    assert scope["gx"].shape == scope["x"].shape and scope["gw"].shape == scope["w"].shape
    assert scope["z"].shape == (8, 10)
    assert scope["narrow"].stats.saturated > 0
