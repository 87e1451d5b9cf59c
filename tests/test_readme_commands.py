"""The README works as written: every command example runs through the venv with no
placeholder, the Quick start runs verbatim in a new shell, the tracing example runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text()


def _commands(block: str) -> list[str]:
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_every_command_example_uses_the_venv_and_has_no_placeholder():
    blocks = re.findall(r"```bash\n(.+?)\n```", TEXT, re.S)
    assert len(blocks) > 4
    for block in blocks[2:]:  # after the two set-up commands
        for command in _commands(block):
            assert command.startswith(".venv/bin/fxsim "), command
            assert not re.search(r"\.\.\.|\[|<|\\$", command), command


def test_quick_start_runs_verbatim_in_a_new_shell(tmp_path):
    section = TEXT[TEXT.index("## Quick start"):]
    block = re.search(r"```bash\n(.+?)\n```", section, re.S).group(1)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the set-up's venv, in a fresh folder
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    for line in block.splitlines():
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
    for name in ("curves.png", "saturation.png", "grad_histograms.png", "summary.json"):
        assert (tmp_path / "runs" / "sr8" / name).is_file()
    assert (tmp_path / "runs" / "sr8-trace" / "trace.json").is_file()


def test_the_tracing_example_runs(tmp_path, monkeypatch):
    section = TEXT[TEXT.index("### Tracing a step"):]
    code = re.search(r"```python\n(.+?)\n```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    events = scope["t"].events
    assert {(e.kind, e.role) for e in events} >= {("quantize", "act_grads"),
                                                  ("mac", "accumulator")}
    assert (tmp_path / "runs" / "traced-trace" / "trace.json").is_file()
    assert not (tmp_path / "runs" / "traced").exists()
