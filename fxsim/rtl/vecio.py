"""Vector folders: hex files a Verilog testbench reads with ``$readmemh``, an NPZ and a manifest.

A folder written by ``fxsim rtl vectors`` (and read by ``fxsim rtl check --vectors``) holds

* ``P.hex`` for every input port ``P`` of the unit: one word a line, hexadecimal, two's complement
  at the port's width (``ceil(width / 4)`` digits): what ``$readmemh`` and ``$fscanf("%h")``
  read;
* ``expected_P.hex`` for every output port, in the same form; a row that is not compared (a
  clocked unit's outputs between results) is all ``x`` digits, which ``$readmemh`` reads as
  unknown;
* ``vectors.npz``: the same arrays (``P`` and ``expected_P``, int64 where the port fits, else
  hexadecimal strings; ``checked_P`` the rows compared), for Python users;
* ``manifest.json``: the unit (``unit``, the text ``fxsim rtl check --unit`` takes), its module
  and ports, the row count, the ``seed`` and ``stream`` that keyed the stochastic rounding's random
  integers, and the aggregate checks.

The hex form is also the form planned for the tensors ``fxsim trace`` writes (one word a line,
two's complement at the format's width).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from fxsim.io import write_atomic
from fxsim.rtl.golden import Expected
from fxsim.rtl.hdl import Module, Port

FORMAT = "fxsim-rtl-vectors 1"


def digits(width: int) -> int:
    return (width + 3) // 4


def to_hex(values, width: int) -> str:
    """The hex file of ``values`` (ints, or None for an unknown word) at ``width`` bits."""
    mask, n = (1 << width) - 1, digits(width)
    return "".join("x" * n + "\n" if v is None else f"{int(v) & mask:0{n}x}\n" for v in values)


def signed_value(word: int, width: int, signed: bool) -> int:
    return word - (1 << width) if signed and word >> (width - 1) else word


def from_hex(text: str, port: Port, name: str) -> np.ndarray:
    """The values of a hex file for ``port`` (signed ports as negative ints); unknown words
    (``x`` or ``z``) are None. A malformed line is an error naming the file and line."""
    values = []
    for number, line in enumerate(text.split(), start=1):
        if set(line.lower()) <= set("xz"):
            values.append(None)
            continue
        try:
            word = int(line, 16)
        except ValueError:
            raise ValueError(f"{name}, line {number}: expected a hexadecimal word, got "
                             f"{line!r}") from None
        if word >> port.width:
            raise ValueError(f"{name}, line {number}: {line!r} is wider than port "
                             f"{port.name}'s {port.width} bits")
        values.append(signed_value(word, port.width, port.signed))
    return np.array(values, dtype=object)


def write_input_hex(folder: Path, module: Module, inputs: dict[str, np.ndarray]) -> None:
    """``P.hex`` in ``folder`` for every input port ``P`` of ``module``: the rows of
    ``inputs[P]`` (see the module docstring)."""
    for port in module.inputs:
        write_atomic(folder / f"{port.name}.hex", to_hex(inputs[port.name], port.width))


def _npz_array(values: np.ndarray, port: Port) -> np.ndarray:
    if port.width <= 63 and all(v is not None for v in values):
        return np.array([int(v) for v in values], dtype=np.int64)
    return np.array(["x" if v is None else f"{int(v) & ((1 << port.width) - 1):x}"
                     for v in values])


def write_vectors(out: str | Path, module: Module, unit: str, inputs: dict[str, np.ndarray],
                  expected: Expected, seed: int, stream: int) -> Path:
    """Write a vector folder (see the module docstring); returns its path."""
    out = Path(out)
    write_input_hex(out, module, inputs)
    arrays = {}
    for port in module.inputs:
        arrays[port.name] = _npz_array(np.asarray(inputs[port.name], dtype=object), port)
    for port in module.outputs:
        values = expected.outputs[port.name]
        write_atomic(out / f"expected_{port.name}.hex", to_hex(values, port.width))
        arrays[f"expected_{port.name}"] = _npz_array(values, port)
        arrays[f"checked_{port.name}"] = np.array([v is not None for v in values])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(out / "vectors.npz", buffer.getvalue())
    rows = len(next(iter(inputs.values())))
    manifest = {
        "format": FORMAT, "unit": unit, "module": module.name, "rows": rows,
        "seed": seed, "stream": stream, "clocked": module.clocked,
        "ports": [{"name": p.name, "direction": p.direction, "width": p.width,
                   "signed": p.signed, "comment": p.comment} for p in module.ports],
        "checks": [c.what for c in expected.checks],
        "hex": "one word a line, two's complement at the port's width ($readmemh); x: not "
               "compared",
    }
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return out


def read_manifest(folder: str | Path) -> dict | None:
    path = Path(folder) / "manifest.json"
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a vector manifest of format {FORMAT!r}")
    return manifest


def read_inputs(folder: str | Path, module: Module) -> dict[str, np.ndarray]:
    """The input rows of ``module`` from ``folder``: ``P.hex`` per input port, else array ``P``
    of an NPZ file in the folder (``vectors.npz``, or the only ``*.npz``). Ports the golden
    model derives (``r``, ``threshold``) may be missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"vector folder {folder} does not exist")
    npz = None
    candidates = sorted(folder.glob("*.npz"))
    if (folder / "vectors.npz").exists():
        npz = np.load(folder / "vectors.npz")
    elif len(candidates) == 1:
        npz = np.load(candidates[0])
    inputs = {}
    for port in module.inputs:
        path = folder / f"{port.name}.hex"
        if path.exists():
            inputs[port.name] = from_hex(path.read_text(), port, str(path))
        elif npz is not None and port.name in npz.files:
            inputs[port.name] = _from_npz(npz[port.name], port)
    if not inputs:
        names = ", ".join(p.name for p in module.inputs)
        raise FileNotFoundError(f"{folder} holds no input of {module.name} (looked for "
                                f"{names} as .hex files or arrays of an .npz)")
    lengths = {k: len(v) for k, v in inputs.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{folder}: the input files have different lengths: {lengths}")
    return inputs


def _from_npz(array: np.ndarray, port: Port) -> np.ndarray:
    if array.dtype.kind in "iu":
        return np.array([int(v) for v in array], dtype=object)
    return np.array([signed_value(int(v, 16), port.width, port.signed) for v in array],
                    dtype=object)
