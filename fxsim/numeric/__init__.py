"""The numeric core: number formats, rounding and overflow modes, counter-based random numbers,
quantize/requantize and their numba kernels, exact integer arithmetic on codes, the thread pool,
and the geometry of MAC layers.

Nothing here imports from the rest of fxsim. Importing this package compiles and loads nothing:
:mod:`~fxsim.numeric.formats`, :mod:`~fxsim.numeric.rounding`, :mod:`~fxsim.numeric.stats` and
:mod:`~fxsim.numeric.shapes` are pure Python (the cost model reads them); the kernels load with
:mod:`~fxsim.numeric.convert` and :mod:`~fxsim.numeric.arith`.
"""
