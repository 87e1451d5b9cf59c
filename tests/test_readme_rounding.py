"""The README's "Test your own rounding scheme" runs as written: its rules file, check-rounding
verdicts, the pytest form, training and pricing with its policy; and its table of built-in
verdicts is fxsim.testing.BUILTIN_KEEPS."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from fxsim.cli import main
from fxsim.testing import BUILTIN_KEEPS, INVARIANTS, resolve_mode

ROOT = Path(__file__).resolve().parents[1]


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### Test your own rounding scheme")
    return text[start:text.index("\n### ", start + 1)]


def _file(section: str, name: str) -> str:
    """The code block whose first line is ``# <name>``."""
    return re.search(rf"```\w+\n(# {re.escape(name)}\n.+?)\n```", section, re.S).group(1)


@pytest.fixture
def readme_files(tmp_path):
    section = _section()
    for name in ("rules.py", "half_odd.toml", "test_rules.py"):
        (tmp_path / name).write_text(_file(section, name) + "\n")
    return tmp_path


def test_readme_rules_check_train_and_price_as_documented(readme_files, capsys, monkeypatch):
    rules = str(readme_files / "rules.py")
    assert main(["check-rounding", "half_odd", "--rounding-module", rules,
                 "--max-examples", "15"]) == 0
    assert main(["check-rounding", "sr3_bias", "--rounding-module", rules,
                 "--max-examples", "15"]) == 1
    out = capsys.readouterr().out
    assert "unbiased: y = 1/2 LSB (x = 0.5 in s62.0), 65536 copies, seed 0" in out
    assert "claimed but broken: unbiased" in out

    monkeypatch.syspath_prepend(str(readme_files))
    monkeypatch.delitem(sys.modules, "rules", raising=False)
    scope: dict = {}
    exec(compile((readme_files / "test_rules.py").read_text(), "test_rules.py", "exec"), scope)
    scope["test_half_odd_is_a_sound_nearest_rounding"]()

    policy = str(readme_files / "half_odd.toml")
    assert main(["train", "--policy", policy, "--epochs", "1", "--limit", "64", "--quiet",
                 "--out", str(readme_files / "run")]) == 0
    assert main(["cost", "--net", "digits_cnn", "--policy", policy, "--baseline", "int8"]) == 0
    assert "half_odd" in capsys.readouterr().out


def test_readme_table_is_the_builtin_verdicts():
    rows = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?: .*?\|((?: \w+(?:/\w+)? \|)+)$", _section(),
                      re.M)
    header = re.search(r"^\| invariant \|(.+)\|$", _section(), re.M).group(1)
    modes = [m.strip() for m in header.split("|")]
    seen = set()
    for first, second, cells in rows:
        verdicts = [c.strip() for c in cells.strip(" |").split("|")]
        for name in filter(None, (first, second)):
            seen.add(name)
            for mode, verdict in zip(modes, verdicts, strict=True):
                applies = next(i for i in INVARIANTS if i.name == name).applies_to(
                    resolve_mode(mode))
                want = ("kept" if name in BUILTIN_KEEPS[mode] else "broken") if applies else "n/a"
                assert verdict == want, (name, mode)
    assert seen == {i.name for i in INVARIANTS} - {"compiled_matches_numpy"}
