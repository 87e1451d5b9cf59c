"""costmodel: energy and area of fixed-point training schemes, from sourced primitive tables.

``estimate(net, policy, batch=...)`` prices one training step per layer and phase (energy) and
the hardware that runs it (area: ``lanes`` MAC lanes, shared units, the update unit),
``compare(policies, baseline=..., net=...)`` sets schemes side by side, ``mac(a, b, acc)`` prices
one MAC, ``shares_from_run(run_dir)`` reads the class-group shares a training run measured.
Policies are read by :mod:`fxsim.policy` (shipped names such as ``int4_interval``, TOML paths,
dicts). Numbers come from the data files in ``costmodel/data`` (Horowitz ISSCC 2014 at 45 nm,
Stillmaker & Baas 2017 node scaling); pass your own with ``primitives=`` / ``nodes=``.
"""

from costmodel.area import Area, AreaItem
from costmodel.dataflow import MacSite
from costmodel.queries import compare, estimate, mac, summarize
from costmodel.run import shares_from_run
from costmodel.scaling import Cost, Technology
from costmodel.tables import TableError
from costmodel.units import Units

__all__ = ["Area", "AreaItem", "Cost", "MacSite", "TableError", "Technology", "Units", "compare",
           "estimate", "mac", "shares_from_run", "summarize"]
