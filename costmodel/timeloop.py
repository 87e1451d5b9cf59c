"""Export for Timeloop/Accelergy users: each MAC layer and phase as a Timeloop problem, and an
energy reference table (ERT) from costmodel's units.

Problems use Timeloop's CNN-layer shape (v0.4 problem format: dimensions ``C M R S N P Q``,
data spaces ``Weights``, ``Inputs``, ``Outputs`` with stride and dilation coefficients; see
NVlabs/timeloop and the timeloop-accelergy-exercises). backward_input is written as the
transposed convolution (:mod:`costmodel.problems`), backward_weight as the forward nest with
``Weights`` as the read-write data space. Timeloop has one precision per data space and no
per-operand widths (timeloop issue #213), so each file states the policy's widths in its
header and ``widths.csv`` lists them per problem; Timeloop's CNN shape has no padding, so
padded layers list the padding there too (Timeloop counts the padded input as data).

The ERT lists per-action energies (pJ) of this architecture at the chosen node: the lane MAC,
RF, GLB and DRAM accesses per bit and per word of each width used, the rounding units.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from costmodel.dataflow import resolve_sites, training_batch
from costmodel.problems import phase_problem
from costmodel.queries import estimate
from fxsim.io import write_atomic, write_csv

TIMELOOP_DIMS = ("C", "M", "R", "S", "N", "P", "Q")  # Timeloop's names; ours: C K R S N P Q


def _problem_yaml(name: str, sizes: dict[str, int], stride: tuple[int, int],
                  dilation: tuple[int, int], output: str, header: list[str]) -> str:
    read_write = {"Weights": output == "Wt", "Outputs": output == "Out"}
    lines = [f"# {line}" for line in header] + [
        "problem:",
        "  version: 0.4",
        "  shape:",
        f"    name: {name}",
        f"    dimensions: [{', '.join(TIMELOOP_DIMS)}]",
        "    coefficients:",
        f"      - {{name: Wstride, default: {stride[1]}}}",
        f"      - {{name: Hstride, default: {stride[0]}}}",
        f"      - {{name: Wdilation, default: {dilation[1]}}}",
        f"      - {{name: Hdilation, default: {dilation[0]}}}",
        "    data_spaces:",
        "      - name: Weights",
        "        projection: [[[C]], [[M]], [[R]], [[S]]]",
        *(["        read_write: True"] if read_write["Weights"] else []),
        "      - name: Inputs",
        "        projection: [[[N]], [[C]], [[R, Wdilation], [P, Wstride]], "
        "[[S, Hdilation], [Q, Hstride]]]",
        "      - name: Outputs",
        "        projection: [[[N]], [[M]], [[P]], [[Q]]]",
        *(["        read_write: True"] if read_write["Outputs"] else []),
        "  instance:",
        *(f"    {d}: {sizes[d]}" for d in TIMELOOP_DIMS),
    ]
    return "\n".join(lines) + "\n"


def export_timeloop(net: Any, policy: Any, directory: str, batch: int | None = None,
                    **options: Any) -> list[Path]:
    """Write ``problems/<layer>.<phase>[.<group>].yaml``, ``widths.csv`` and ``ERT.yaml``
    for ``net`` under ``policy`` into ``directory``; returns the paths written. ``options``
    go to :func:`costmodel.estimate`."""
    out = Path(directory)
    batch = training_batch(net) if batch is None else batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = estimate(net, policy, batch, **options)
    shapes = {site.shape.name: site.shape for site in resolve_sites(net)}
    written, widths = [], []
    for row in frame[frame["kind"] == "mac"].itertuples():
        shape = shapes[row.layer]
        samples = max(1, round(batch * row.share))
        problem, copies = phase_problem(shape, row.phase, samples)
        n, k, c, p, q, r, s = problem.sizes
        sizes = {"N": n, "M": k, "C": c, "P": p, "Q": q, "R": r, "S": s}
        names = {"forward": ("Inputs", "Weights", "Outputs"),
                 "backward_input": ("Inputs (dOut)", "Weights", "Outputs (dIn)"),
                 "backward_weight": ("Inputs", "Outputs (dOut)", "Weights (dW)")}[row.phase]
        final = "accumulator" if row.phase == "backward_input" else "output format"
        header = [f"fxsim {frame.attrs['policy']}: {row.layer} {row.phase}, group {row.group} "
                  f"({samples} samples, {copies} group(s))",
                  f"widths: {names[0]} {row.a_bits} bits, {names[1]} {row.b_bits} bits, "
                  f"{names[2]} partial sums {row.acc_bits} bits (results at the {final})",
                  f"padding {problem.padding} (not in Timeloop's shape), upsample "
                  f"{problem.upsample}"]
        stem = f"{row.layer}.{row.phase}" + ("" if row.group == "default" else f".{row.group}")
        path = out / "problems" / f"{stem}.yaml"
        write_atomic(path, _problem_yaml(stem.replace(".", "_"), sizes, problem.stride,
                                         problem.dilation, problem.output, header))
        written.append(path)
        widths.append({"problem": f"problems/{stem}.yaml", "layer": row.layer,
                       "phase": row.phase, "group": row.group, "a_bits": row.a_bits,
                       "b_bits": row.b_bits, "acc_bits": row.acc_bits,
                       "padding_h": problem.padding[0], "padding_w": problem.padding[1],
                       "fxsim_mapping": row.mapping})
    path = out / "widths.csv"
    write_csv(pd.DataFrame(widths), path)
    written.append(path)
    path = out / "ERT.yaml"
    write_atomic(path, _ert(frame))
    written.append(path)
    return written


def _ert(frame: pd.DataFrame) -> str:
    costs, arch = frame.attrs["level_costs"], frame.attrs["arch"]
    macs = frame[frame["kind"] == "mac"]
    lines = [f"# Energy reference table from fxsim's costmodel: {arch.name}, "
             f"{frame.attrs['node_nm']:g} nm, policy {frame.attrs['policy']} (pJ per action)",
             "ERT:", "  version: 0.4", "  tables:"]

    def table(name: str, actions: list[tuple[str, float]]) -> None:
        lines.extend([f"    - name: {name}", "      actions:"])
        for action, energy in actions:
            lines.extend([f"        - name: {action}", "          arguments: null",
                          f"          energy: {energy:.6g}"])

    per_mac = (macs["energy_mac_pj"].sum() / macs["macs"].sum()) if len(macs) else 0.0
    table(f"system.PE[0..{arch.lanes - 1}].mac", [("compute", per_mac)])
    bits = sorted({int(b) for b in (*macs["a_bits"], *macs["b_bits"], *macs["acc_bits"])})
    for level, per_bit in (("PE.RF", costs.rf), ("GLB", costs.glb), ("DRAM", costs.dram)):
        table(f"system.{level}", [*((f"read_{b}b", per_bit * b) for b in bits),
                                  *((f"write_{b}b", per_bit * b) for b in bits)])
    table("system.network", [(f"transfer_{b}b", costs.network * b) for b in bits])
    return "\n".join(lines) + "\n"
