"""The allocator setting of fxsim.numeric.heap: applied once on glibc, left alone when the
user chose, and training's results do not depend on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, resource, numpy as np
from fxsim.numeric import heap
applied = heap.keep_freed_pages()
again = heap.keep_freed_pages()

def step():  # a step's pattern: 80 MB of 8 MB temporaries live at once, then all freed
    live = [np.empty(1 << 20) for _ in range(10)]
    for a in live:
        a[:] = 1.0

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "again": again, "faults": faults}))
"""


def probe(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environ.pop("FXSIM_MALLOC", None)
    out = subprocess.run([sys.executable, "-c", PROBE], env={**environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_are_reused_without_page_faults_once_set():
    tuned = probe()
    if not tuned["applied"]:
        pytest.skip("not glibc")
    assert tuned["again"] is True
    # 5 steps of 80 MB: 100 000 pages (or 200 huge ones) when given back and mapped anew
    assert tuned["faults"] < 50
    assert probe(FXSIM_MALLOC="default")["faults"] > 150


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_users_own_settings_win():
    assert probe(FXSIM_MALLOC="default")["applied"] is False
    assert probe(MALLOC_TRIM_THRESHOLD_="1000000")["applied"] is False
