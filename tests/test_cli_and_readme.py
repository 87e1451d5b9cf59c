"""The README's test command is what CI runs; the command line works and explains errors."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fxsim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_ci_runs_exactly_the_readme_test_command():
    main_job, test_command = readme_commands()[:2]
    assert "pytest" in test_command and "pytest" not in main_job
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_modes_command_writes_csv(tmp_path, capsys):
    out = tmp_path / "modes.csv"
    assert main(["modes", "--samples", "20000", "--csv", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 8 and "rms_err_lsb" in table
    by_mode = table.set_index("rounding")
    assert by_mode.loc["floor", "mean_err_lsb"] < 0 < by_mode.loc["ceil", "mean_err_lsb"]
    assert by_mode.loc["nearest_even", "rms_err_lsb"] < by_mode.loc["floor", "rms_err_lsb"]
    assert "nearest_even" in capsys.readouterr().out


def test_cli_error_is_one_clear_line(capsys):
    assert main(["modes", "--bits", "99"]) == 2
    err = capsys.readouterr().err
    assert "bits must be an integer in 1..62, got 99" in err and "Traceback" not in err


def test_no_subcommand_means_train(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--limit", "64", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert "training digits_cnn" in capsys.readouterr().out
    assert (out / "summary.json").is_file()
