"""Co-simulation: run a unit's Verilog in Icarus Verilog on vectors and compare with fxsim.

:func:`check_unit` generates the unit, its testbench and its vectors (or reads a vector folder),
computes the expected outputs with fxsim's kernels (:mod:`fxsim.rtl.golden`), compiles once with
``iverilog -g2005`` and streams every vector through one ``vvp`` run, then compares every compared
output bit for bit and the aggregate counts.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fxsim.io import write_atomic
from fxsim.rtl import vecio
from fxsim.rtl.golden import Check, Expected, golden
from fxsim.rtl.hdl import Module
from fxsim.rtl.spec import UnitSpec, unit_text
from fxsim.rtl.testbench import TB_NAME, testbench
from fxsim.rtl.units import generate
from fxsim.rtl.vectors import make_inputs

INSTALL_HINT = {"iverilog": "Icarus Verilog", "yosys": "Yosys"}


class ToolMissing(FileNotFoundError):
    """An external tool (iverilog, vvp, yosys) is not on PATH."""


def tool(name: str) -> str:
    """The path of the program ``name``, or :class:`ToolMissing` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        package = "iverilog" if name in ("iverilog", "vvp") else name
        raise ToolMissing(f"{name} ({INSTALL_HINT.get(package, package)}) is not on PATH; "
                          f"install it with 'apt-get install {package}' (Debian, Ubuntu) or "
                          f"'brew install {'icarus-verilog' if package == 'iverilog' else package}'"
                          " (macOS)")
    return path


def run_tool(args: list[str], cwd: Path, what: str) -> str:
    """Run a tool; a failure is a RuntimeError quoting its output."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(args[:2])} ...):\n"
                           f"{(result.stdout + result.stderr).strip()[-3000:]}")
    return result.stdout + result.stderr


@dataclass
class CheckResult:
    """One unit's co-simulation: rows simulated, outputs compared, mismatches (one row per
    differing output: the row, the port, fxsim's value, the RTL's, and every input of the row)
    and failed aggregate checks."""

    unit: str
    module: str
    rows: int
    compared: int
    mismatches: pd.DataFrame
    failed_checks: list[str] = field(default_factory=list)
    checks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mismatches.empty and not self.failed_checks

    def summary(self) -> dict:
        return {"unit": self.unit, "rows": self.rows, "compared": self.compared,
                "mismatches": len(self.mismatches), "checks": self.checks,
                "failed_checks": len(self.failed_checks), "ok": self.ok,
                "seconds": round(self.seconds, 2)}


def simulate(module: Module, inputs: dict[str, np.ndarray], workdir: Path) -> dict[str, np.ndarray]:
    """Run ``module`` on the input rows in Icarus Verilog; returns the output rows per port."""
    vectors = workdir / "vectors"
    rows = len(next(iter(inputs.values())))
    vecio.write_input_hex(vectors, module, inputs)
    write_atomic(workdir / f"{module.name}.v", module.source)
    write_atomic(workdir / "tb.v", testbench(module))
    run_tool([tool("iverilog"), "-g2005", "-Wall", "-s", TB_NAME, "-o", "tb.vvp",
              f"{module.name}.v", "tb.v"], workdir, f"compiling {module.name}")
    log = run_tool([tool("vvp"), "-n", "tb.vvp", f"+dir={vectors}/", f"+count={rows}"],
                   workdir, f"simulating {module.name}")
    if f"{rows} vectors" not in log:
        raise RuntimeError(f"simulating {module.name}: the testbench stopped early:\n{log}")
    outputs = {}
    for port in module.outputs:
        path = vectors / f"out_{port.name}.hex"
        outputs[port.name] = vecio.from_hex(path.read_text(), port, str(path))
    return outputs


def compare(module: Module, inputs: dict[str, np.ndarray], expected: Expected,
            outputs: dict[str, np.ndarray]) -> tuple[int, pd.DataFrame, list[str]]:
    """``(outputs compared, mismatch table, failed aggregate checks)``."""
    records, compared = [], 0
    for port in module.outputs:
        want, got = expected.outputs[port.name], outputs[port.name]
        mask = (1 << port.width) - 1
        for row, (w, g) in enumerate(zip(want, got, strict=True)):
            if w is None:
                continue
            compared += 1
            if g is None or (int(w) & mask) != (int(g) & mask):
                record = {"row": row, "port": port.name, "fxsim": int(w),
                          "rtl": "x" if g is None else int(g)}
                record.update({name: int(values[row]) for name, values in inputs.items()})
                records.append(record)
    failed = [msg for check in expected.checks if (msg := check.verify(outputs)) is not None]
    return compared, pd.DataFrame(records), failed


def check_unit(spec: UnitSpec, count: int = 10_000, seed: int = 0, vectors: str | Path | None
               = None, keep: str | Path | None = None) -> CheckResult:
    """Co-simulate ``spec`` on ``count`` generated results (or on the vector folder
    ``vectors``) against fxsim's kernels; ``keep`` keeps the work folder (Verilog, testbench,
    vectors, outputs) there."""
    stream = 0
    if vectors is None:
        inputs = make_inputs(spec, count, seed)
    else:
        manifest = vecio.read_manifest(vectors) or {}
        seed, stream = manifest.get("seed", seed), manifest.get("stream", 0)
        inputs = vecio.read_inputs(vectors, generate(spec))
    return check_inputs(spec, inputs, seed, stream, keep=keep)


def check_inputs(spec: UnitSpec, inputs: dict[str, np.ndarray], seed: int = 0, stream: int = 0,
                 source=None, checks: tuple[Check, ...] = (), keep: str | Path | None = None,
                 label: str | None = None) -> CheckResult:
    """Co-simulate ``spec`` on the input rows ``inputs`` against fxsim's kernels (random
    integers keyed by ``(seed, stream)``, from the LFSR ``source`` if given), with the extra
    ``checks``; ``label`` names the result (default: the unit)."""
    start = time.perf_counter()
    module = generate(spec)
    expected = golden(spec, inputs, seed, stream, source)
    expected.checks.extend(checks)
    inputs = _with_derived(inputs, expected)
    with tempfile.TemporaryDirectory(prefix="fxsim-rtl-") as tmp:
        workdir = Path(keep) if keep else Path(tmp)
        outputs = simulate(module, inputs, workdir)
    compared, mismatches, failed = compare(module, inputs, expected, outputs)
    rows = len(next(iter(inputs.values())))
    return CheckResult(label or unit_text(spec), module.name, rows, compared, mismatches, failed,
                       len(expected.checks), time.perf_counter() - start)


def _with_derived(inputs: dict[str, np.ndarray], expected: Expected) -> dict[str, np.ndarray]:
    """The inputs with those the golden model supplies; a supplied one must agree with it."""
    merged = dict(inputs)
    for name, values in expected.derived.items():
        if name in inputs:
            given = [int(v) for v in inputs[name]]
            if given != [int(v) for v in values]:
                raise ValueError(f"input {name} of the vector folder is not what fxsim draws "
                                 "with the manifest's seed and stream: give the seed (the "
                                 f"manifest's 'seed') or leave {name}.hex out")
        merged[name] = values
    return merged


def write_unit_vectors(spec: UnitSpec, out: str | Path, count: int = 10_000,
                       seed: int = 0) -> Path:
    """Write the vector folder of ``spec`` (:mod:`fxsim.rtl.vecio`) without simulating."""
    module = generate(spec)
    inputs = make_inputs(spec, count, seed)
    expected = golden(spec, inputs, seed, 0)
    return vecio.write_vectors(out, module, unit_text(spec), _with_derived(inputs, expected),
                               expected, seed, 0)
