"""Memory levels priced by capacity and width: SRAM (the global buffer, the lanes' register
files), DRAM, the array network, pipeline registers.

* SRAM access energy per bit, by capacity: through Horowitz's 64-bit reads of 8 KB, 32 KB and
  1 MB SRAMs (10, 20, 100 pJ at 45 nm), a power law in capacity between neighbouring points
  (``E ~ capacity^x``: x = 0.5 from 8 to 32 KB, 0.46 from 32 KB to 1 MB), the end segments
  extended beyond them (a 512 B register file gets the 8-32 KB exponent: an extrapolation,
  checked against Eyeriss' normalised costs in docs/cost-model.md). An access of ``n`` bits
  costs ``n/64`` of the 64-bit access (Accelergy's word-width scaling); writes cost what reads
  cost. SRAM is on chip: it follows the node like logic.
* SRAM area: bits x the 6T cell area (Mistry et al., IEDM 2007) / the assumed array efficiency
  (``sram_array_efficiency`` in data/assumptions.csv).
* DRAM: the table row's energy per bit, not scaled with the node (:mod:`costmodel.scaling`).
* Network: the wire energy per bit per mm (Park et al., DATE 2013) times the array's side
  (the square root of the lanes' area): a transfer between the global buffer and the lanes
  crosses the array once (a multicast bus).
* Pipeline registers: the calibrated register bit.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from costmodel.mapper import LevelCosts
from costmodel.scaling import Technology

BITS_PER_BYTE = 8
UM_PER_MM = 1000.0


def sram_pj_per_bit(tech: Technology, capacity_bytes: float) -> float:
    """pJ per bit accessed in an SRAM of ``capacity_bytes`` (see the module docstring)."""
    points = tech.sram_points()
    if not points:
        raise ValueError("the primitive tables have no sram_read rows")
    if len(points) == 1:
        return points[0][1]
    for (c0, e0), (c1, e1) in itertools.pairwise(points):
        if capacity_bytes <= c1 or (c1, e1) == points[-1]:
            x = math.log(e1 / e0) / math.log(c1 / c0)
            ref_c, ref_e = (c0, e0) if capacity_bytes <= c1 else (c1, e1)
            return ref_e * (capacity_bytes / ref_c) ** x
    raise AssertionError("unreachable")


def sram_area_um2(tech: Technology, capacity_bytes: float, efficiency: float) -> float:
    """um^2 of an SRAM macro of ``capacity_bytes``: cells / ``efficiency``."""
    return capacity_bytes * BITS_PER_BYTE * tech.sram_cell_area() / efficiency


@dataclass(frozen=True)
class MemorySystem:
    """Per-bit energies and areas of an architecture's levels at a technology."""

    costs: LevelCosts
    glb_area_um2: float
    rf_area_um2: float  # one lane's register file
    array_side_mm: float


def memory_system(tech: Technology, glb_bytes: int, rf_bytes: int, dram: str,
                  lane_logic_um2: float, lanes: int, efficiency: float) -> MemorySystem:
    """The levels of an architecture: ``lane_logic_um2`` is one lane without its RF."""
    rf_area = sram_area_um2(tech, rf_bytes, efficiency)
    side_mm = math.sqrt(lanes * (lane_logic_um2 + rf_area)) / UM_PER_MM
    costs = LevelCosts(
        dram=tech.memory_per_bit(dram),
        glb=sram_pj_per_bit(tech, glb_bytes),
        network=tech.wire_per_bit_mm() * side_mm,
        rf=sram_pj_per_bit(tech, rf_bytes),
        reg=tech.register(1).energy_pj,
    )
    return MemorySystem(costs, sram_area_um2(tech, glb_bytes, efficiency), rf_area, side_mm)
