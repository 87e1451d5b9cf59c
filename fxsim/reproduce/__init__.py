"""``fxsim reproduce``: train every shipped policy over several seeds and report each seed
paper's claim next to what fxsim measured.

Modules, in import order: :mod:`~fxsim.reproduce.runs` (plan, run or reuse the run folders),
:mod:`~fxsim.reproduce.measure` (costs, rounding latency, step times),
:mod:`~fxsim.reproduce.claims` (the papers' claims and verdicts),
:mod:`~fxsim.reproduce.report` (RESULTS.md and results.csv), :mod:`~fxsim.reproduce.main`
(:func:`reproduce`), :mod:`~fxsim.reproduce.cli` (the command line).
"""

from fxsim.reproduce.main import Reproduction, reproduce
from fxsim.reproduce.runs import NetSetup, RunOutcome, RunPlan, plan_runs, run_sweep

__all__ = ["NetSetup", "Reproduction", "RunOutcome", "RunPlan", "plan_runs", "reproduce",
           "run_sweep"]
