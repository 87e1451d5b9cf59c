"""Design-space sweeps: grids of ``fxsim train`` runs on Dask distributed (``fxsim sweep``).

``load_grid(path_or_preset)`` reads a grid (schema: ``docs/sweep-schema.md``),
``plan_points(grid)`` expands it, ``sweep(grid, out, workers=..., scheduler=...)`` runs it and
returns the results table, ``search(grid, out, trials=...)`` searches its axes with Optuna's
NSGA-II instead, ``report(out)`` draws the Pareto fronts and the break points. The package
imports neither Dask nor Optuna until a sweep runs.
"""

from fxsim.sweep.grid import Grid, load_grid, preset_names
from fxsim.sweep.points import Point, plan_points

__all__ = ["Grid", "Point", "load_grid", "plan_points", "preset_names", "report", "search",
           "sweep"]


def sweep(*args, **kwargs):
    """See :func:`fxsim.sweep.run.sweep`."""
    from fxsim.sweep.run import sweep as run

    return run(*args, **kwargs)


def search(*args, **kwargs):
    """See :func:`fxsim.sweep.search.search`."""
    from fxsim.sweep.search import search as run

    return run(*args, **kwargs)


def report(*args, **kwargs):
    """See :func:`fxsim.sweep.report.report`."""
    from fxsim.sweep.report import report as run

    return run(*args, **kwargs)
