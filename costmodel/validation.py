"""The model against published figures it was not fitted to (``data/validation.csv``).

* Eyeriss' normalised energies (ISCA 2016): a 16-bit access of the register file, the array
  network, the global buffer and DRAM over a 16-bit MAC (16-bit accumulator, Eyeriss' psum
  width), all at 65 nm on the default (Eyeriss-style) architecture.
* Eyeriss' DRAM accesses per MAC (JSSC 2017): the forward convolutions of AlexNet (batch 4) and
  VGG-16 (batch 3) mapped by costmodel's mapper with 16-bit operands and 16-bit partial sums,
  counting 16-bit DRAM words per MAC. Eyeriss also compresses zeros (run-length coding) on its
  DRAM link, which the model does not.
* Eyeriss' on-chip energy per AlexNet frame (278 mW at 35 frames/s): the model's MAC, RF,
  network and GLB energy of the same mapped layers at 65 nm, per frame. The chip's figure
  includes clock tree, control and leakage, which the model does not price.

``error = model / published - 1``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from costmodel.arch import Architecture, load_arch
from costmodel.mapper import map_phase
from costmodel.memory import BITS_PER_BYTE, MemorySystem, memory_system
from costmodel.problems import phase_problem, phase_widths
from costmodel.scaling import Cost, Technology
from costmodel.tables import DATA_DIR
from costmodel.units import Units
from fxsim.numeric.shapes import LayerShape

VALIDATION_FILE = DATA_DIR / "validation.csv"
EYERISS_NODE_NM = 65  # Eyeriss' process (JSSC 2017)
WORD = 16  # Eyeriss' 16-bit fixed point


def _conv(name: str, cin: int, cout: int, k: int, stride: int, pad: int, hw: int,
          groups: int = 1) -> LayerShape:
    return LayerShape(name, "conv2d", cin, cout, (k, k), (stride, stride), (pad, pad), (1, 1),
                      groups, (hw, hw))


# AlexNet's convolutions (Krizhevsky et al., NIPS 2012; two groups in conv2, conv4, conv5)
ALEXNET = [_conv("conv1", 3, 96, 11, 4, 0, 227), _conv("conv2", 96, 256, 5, 1, 2, 27, 2),
           _conv("conv3", 256, 384, 3, 1, 1, 13), _conv("conv4", 384, 384, 3, 1, 1, 13, 2),
           _conv("conv5", 384, 256, 3, 1, 1, 13, 2)]
# VGG-16's convolutions (Simonyan & Zisserman, ICLR 2015), 224 x 224 input
VGG16 = [_conv(f"conv{i}", cin, cout, 3, 1, 1, hw) for i, (cin, cout, hw) in enumerate(
    [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56),
     (256, 256, 56), (256, 256, 56), (256, 512, 28), (512, 512, 28), (512, 512, 28),
     (512, 512, 14), (512, 512, 14), (512, 512, 14)], start=1)]


Setting = tuple[Architecture, Cost, MemorySystem]  # the design, its MAC, its memory levels


def _setting() -> Setting:
    arch = load_arch()
    tech = Technology(EYERISS_NODE_NM)
    units = Units(tech)
    mac = units.mac(WORD, WORD, WORD)
    efficiency = units.assumptions["sram_array_efficiency"]
    memsys = memory_system(tech, arch.glb_bytes, arch.rf_bytes, arch.dram,
                           mac.area_um2, arch.lanes, efficiency)
    return arch, mac, memsys


def _forward(layers: list[LayerShape], batch: int, setting: Setting) -> tuple[float, float, float]:
    """(MACs, DRAM bits, on-chip pJ) of the forward convolutions of ``layers`` in
    ``setting`` (what :func:`_setting` gives)."""
    arch, mac, memsys = setting
    macs = dram = chip = 0.0
    widths = phase_widths("forward", WORD, WORD, WORD, WORD)
    for shape in layers:
        problem, copies = phase_problem(shape, "forward", batch)
        mapped = map_phase(problem, widths, memsys.costs, arch.rows, arch.cols,
                           arch.glb_bytes * BITS_PER_BYTE, arch.rf_bytes * BITS_PER_BYTE)
        energy = mapped.bits.energy(memsys.costs)
        n = batch * shape.macs
        macs += n
        dram += copies * mapped.bits.dram
        chip += n * mac.energy_pj + copies * sum(
            energy[lv] for lv in ("glb", "network", "rf", "reg"))
    return macs, dram, chip


def model_values() -> dict[str, float]:
    """What the model gives for each row of ``data/validation.csv``."""
    setting = _setting()
    _, mac, memsys = setting
    c = memsys.costs
    out = {
        "eyeriss_rf_vs_mac": c.rf * WORD / mac.energy_pj,
        "eyeriss_array_vs_mac": c.network * WORD / mac.energy_pj,
        "eyeriss_glb_vs_mac": c.glb * WORD / mac.energy_pj,
        "eyeriss_dram_vs_mac": c.dram * WORD / mac.energy_pj,
    }
    macs, dram, chip = _forward(ALEXNET, 4, setting)
    out["alexnet_dram_per_mac"] = dram / WORD / macs
    out["alexnet_chip_mj_per_frame"] = chip / 4 / 1e9
    macs, dram, _ = _forward(VGG16, 3, setting)
    out["vgg16_dram_per_mac"] = dram / WORD / macs
    return out


def validation_table(path: str | Path | None = None) -> pd.DataFrame:
    """name, published, model, error (model / published - 1), unit, source."""
    table = pd.read_csv(path or VALIDATION_FILE, comment="#")
    values = model_values()
    table["model"] = [values[name] for name in table["name"]]
    table["error"] = table["model"] / table["published"] - 1
    return table[["name", "published", "model", "error", "unit", "source"]]
