"""reference_nets: the networks fxsim trains and the loaders of their data.

:mod:`reference_nets.specs` describes each net as data (the cost model reads it without
loading any kernel); :mod:`reference_nets.build` turns a spec into :mod:`fxsim.layers`;
:mod:`reference_nets.datasets` loads the data. The names below load lazily, so importing
``reference_nets.specs`` compiles nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NETS": "reference_nets.specs",
    "default_dataset": "reference_nets.specs",
    "net_spec": "reference_nets.specs",
    "build_net": "reference_nets.build",
    "layer_shapes": "reference_nets.build",
    "DATASETS": "reference_nets.datasets",
    "Dataset": "reference_nets.datasets",
    "augment": "reference_nets.datasets",
    "batches": "reference_nets.datasets",
    "load_dataset": "reference_nets.datasets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reference_nets' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
