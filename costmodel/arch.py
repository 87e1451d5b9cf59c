"""The architecture a scheme is priced on: a TOML file (``costmodel/data/arch/eyeriss.toml``
is the documented default; ``fxsim cost --arch FILE``).

Tables and keys (every one optional but ``[array] rows``/``cols`` in a file of your own,
which may leave out any other key to take the default's value):

* ``[array]`` ``rows``, ``cols`` (MAC lanes), ``clock_mhz``, ``mac`` (``"AxB"`` or ``"auto"``)
* ``[rf]`` ``bytes`` (per lane), ``[glb]`` ``bytes``, ``[dram]`` ``memory`` (a primitive row)
* ``[shared]`` ``requantizers``, ``rescalers``, ``statistics`` (``"auto"`` or a count),
  ``random_bits_per_generator``, ``float_units``, ``range_pass`` (``second_pass``/``delayed``)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DEFAULT_ARCH = Path(__file__).parent / "data" / "arch" / "eyeriss.toml"
AUTO = "auto"
RANGE_PASSES = ("second_pass", "delayed")
_KEYS = {
    "array": ("rows", "cols", "clock_mhz", "mac"),
    "rf": ("bytes",), "glb": ("bytes",), "dram": ("memory",),
    "shared": ("requantizers", "rescalers", "statistics", "random_bits_per_generator",
               "float_units", "range_pass"),
}


@dataclass(frozen=True)
class Architecture:
    """A parsed architecture (see the module docstring). Counts of shared units are ints or
    ``"auto"``; ``mac`` is ``(A, B)`` with ``A >= B`` or None for auto."""

    name: str
    rows: int
    cols: int
    clock_mhz: float
    mac: tuple[int, int] | None
    rf_bytes: int
    glb_bytes: int
    dram: str
    requantizers: int | str
    rescalers: int | str
    statistics: int | str
    random_bits_per_generator: int
    float_units: int
    range_pass: str
    source: str = ""

    @property
    def lanes(self) -> int:
        return self.rows * self.cols

    def with_lanes(self, lanes: int) -> Architecture:
        """The same architecture with ``lanes`` MAC lanes, as square as divisors allow."""
        rows = max(d for d in range(1, int(lanes ** 0.5) + 1) if lanes % d == 0)
        return replace(self, rows=rows, cols=lanes // rows)


def _count(where: str, value: Any, allow_auto: bool = True) -> int | str:
    if allow_auto and value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = '"auto" or ' if allow_auto else ""
        raise ValueError(f"{where}: expected {allowed}a positive integer, got {value!r}")
    return value


def _mac(where: str, value: Any) -> tuple[int, int] | None:
    if value == AUTO:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
    if not match or not all(1 <= int(g) <= 62 for g in match.groups()):
        raise ValueError(f"{where}: expected \"auto\" or \"AxB\" with widths 1..62 (such as "
                         f"\"8x8\"), got {value!r}")
    a, b = int(match.group(1)), int(match.group(2))
    return max(a, b), min(a, b)


def parse_arch(data: dict, source: str = "") -> Architecture:
    """An :class:`Architecture` from a TOML table (unknown tables or keys are errors)."""
    where = source or "architecture"
    for table, body in data.items():
        if table in ("name", "description"):
            continue
        if table not in _KEYS or not isinstance(body, dict):
            raise ValueError(f"{where}: unknown table [{table}]; tables: {', '.join(_KEYS)}")
        unknown = sorted(set(body) - set(_KEYS[table]))
        if unknown:
            raise ValueError(f"{where}: [{table}] has unknown key(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(_KEYS[table])}")

    def get(table: str, key: str) -> Any:
        return data.get(table, {}).get(key, _DEFAULT_DATA[table][key])

    clock = get("array", "clock_mhz")
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or clock <= 0:
        raise ValueError(f"{where}: [array] clock_mhz must be a positive number, got {clock!r}")
    range_pass = get("shared", "range_pass")
    if range_pass not in RANGE_PASSES:
        raise ValueError(f"{where}: [shared] range_pass must be one of "
                         f"{', '.join(RANGE_PASSES)}, got {range_pass!r}")
    dram = get("dram", "memory")
    if not isinstance(dram, str):
        raise ValueError(f"{where}: [dram] memory must be a primitive-table row name, "
                         f"got {dram!r}")
    return Architecture(
        name=str(data.get("name", Path(source).stem if source else "custom")),
        rows=_count(f"{where}: [array] rows", get("array", "rows"), False),
        cols=_count(f"{where}: [array] cols", get("array", "cols"), False),
        clock_mhz=float(clock),
        mac=_mac(f"{where}: [array] mac", get("array", "mac")),
        rf_bytes=_count(f"{where}: [rf] bytes", get("rf", "bytes"), False),
        glb_bytes=_count(f"{where}: [glb] bytes", get("glb", "bytes"), False),
        dram=dram,
        requantizers=_count(f"{where}: [shared] requantizers", get("shared", "requantizers")),
        rescalers=_count(f"{where}: [shared] rescalers", get("shared", "rescalers")),
        statistics=_count(f"{where}: [shared] statistics", get("shared", "statistics")),
        random_bits_per_generator=_count(
            f"{where}: [shared] random_bits_per_generator",
            get("shared", "random_bits_per_generator"), False),
        float_units=_count(f"{where}: [shared] float_units", get("shared", "float_units"),
                           False),
        range_pass=range_pass,
        source=source,
    )


def _read(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"architecture file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"architecture file {path}: not valid TOML: {error}") from None


_DEFAULT_DATA = _read(DEFAULT_ARCH)


def load_arch(arch: Architecture | str | os.PathLike | dict | None = None) -> Architecture:
    """An :class:`Architecture` from a file path, a dict of the TOML's structure, an
    Architecture, or None (the default, ``data/arch/eyeriss.toml``)."""
    if isinstance(arch, Architecture):
        return arch
    if arch is None:
        return parse_arch(_DEFAULT_DATA, str(DEFAULT_ARCH))
    if isinstance(arch, dict):
        return parse_arch(arch)
    if isinstance(arch, (str, os.PathLike)):
        return parse_arch(_read(arch), str(arch))
    raise TypeError(f"arch must be a TOML path, a dict or an Architecture, got "
                    f"{type(arch).__name__}")
