"""costmodel: energy and area of fixed-point training schemes, from sourced primitive tables.

``estimate(net, policy, batch=...)`` prices one training step on an accelerator (an
architecture file: MAC lanes with register files, a global buffer, DRAM, shared units sized by
throughput): energy per layer, phase and memory level, cycles, and the area;
``sensitivity(...)`` tells which numbers and assumptions can flip a comparison,
``compare(policies, baseline=..., net=...)`` sets schemes side by side, ``mac(a, b, acc)`` prices
one MAC, ``shares_from_run(run_dir)`` reads the class-group shares a training run measured.
Policies are read by :mod:`fxsim.policy` (shipped names such as ``int4_interval``, TOML paths,
dicts). Numbers come from the data files in ``costmodel/data`` (Horowitz ISSCC 2014 at 45 nm,
Stillmaker & Baas 2017 node scaling); pass your own with ``primitives=`` / ``nodes=``.
"""

from costmodel.arch import Architecture, load_arch
from costmodel.area import Area, AreaItem
from costmodel.dataflow import MacSite
from costmodel.queries import compare, estimate, mac, summarize
from costmodel.run import shares_from_run
from costmodel.scaling import Cost, Technology
from costmodel.sensitivity import flips, sensitivity
from costmodel.tables import TableError
from costmodel.units import Units

__all__ = ["Architecture", "Area", "AreaItem", "Cost", "MacSite", "TableError", "Technology",
           "Units", "compare", "estimate", "flips", "load_arch", "mac", "sensitivity",
           "shares_from_run", "summarize"]
