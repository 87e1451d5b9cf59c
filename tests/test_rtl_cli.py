"""``fxsim rtl`` on the command line: export writes Verilog-2005 that Icarus compiles, check and
vectors work end to end and exit 1 on a mismatch, bad units are one clear line."""

from __future__ import annotations

import subprocess

import pytest
from rtl_tools import icarus

from fxsim.cli import main


@icarus
def test_export_writes_verilog_2005_that_compiles(tmp_path, capsys):
    units = ["requant:in=16,out=4,rounding=stochastic_k,k=3,random=lfsr,lfsr_width=8",
             "mac:a=4,b=4,acc=9", "rescale", "zscore:in=6"]
    args = ["rtl", "export", "--out", str(tmp_path)]
    for unit in units:
        args += ["--unit", unit]
    assert main(args) == 0
    files = sorted(tmp_path.glob("*.v"))
    assert len(files) == 4 and capsys.readouterr().out.count("wrote") == 4
    for path in files:
        text = path.read_text()
        assert "fxsim unit" in text and "module " in text
        result = subprocess.run(["iverilog", "-g2005", "-Wall", "-o", str(tmp_path / "a.out"),
                                 str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@icarus
def test_check_and_vectors_end_to_end(tmp_path, capsys):
    assert main(["rtl", "vectors", "--unit", "requant:in=10,out=3,rounding=nearest_away",
                 "--count", "300", "--out", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "manifest.json").exists()
    assert main(["rtl", "check", "--vectors", str(tmp_path / "v"),
                 "--csv", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 units match fxsim bit for bit (600 outputs compared)" in out
    assert main(["rtl", "check", "--unit", "lfsr:width=9,k=4", "--unit", "minmax:in=5",
                 "--count", "200"]) == 0
    assert "2 of 2 units match" in capsys.readouterr().out


@icarus
def test_check_exits_1_and_lists_mismatches(tmp_path, capsys, monkeypatch):
    import dataclasses

    from fxsim.rtl import sim

    original = sim.generate

    def broken(spec):
        module = original(spec)
        return dataclasses.replace(module, source=module.source.replace(
            "wire inc = half & (sticky | q[0]);", "wire inc = half;"))

    monkeypatch.setattr(sim, "generate", broken)
    assert main(["rtl", "check", "--unit", "requant:in=12,out=5", "--count", "2000",
                 "--show", "3"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH requant:in=12,out=5" in out and "mismatching outputs; the first 3" in out
    assert "0 of 1 units match" in out


@pytest.mark.parametrize("args, message", [
    (["rtl", "export", "--out", "x", "--unit", "requant:in=99"],
     "requant key in must be an integer in 1..62, got 99"),
    (["rtl", "export", "--out", "x"], "give at least one --unit"),
    (["rtl", "check", "--vectors", "/nonexistent", "--unit", "requant"], "does not exist"),
])
def test_bad_input_is_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
