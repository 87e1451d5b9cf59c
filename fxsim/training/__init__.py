"""Training: the loop and its run folder, the network that binds a policy to a net's layers,
the optimizer, class-difficulty grouping, provenance and the plots of a run.

``train(TrainConfig(...), out)`` trains a reference net (:mod:`reference_nets`) and writes the
run folder; see :mod:`fxsim.training.loop`.

A run is a pure function of its :class:`TrainConfig` (net, data, policy, hyper-parameters, seed):
batch order, augmentation, initial weights and stochastic rounding are all keyed by the seed,
so the same configuration gives bit-identical integer state for any thread count, and a run
resumed from its last checkpoint continues exactly as if never interrupted.

The run directory (every file written atomically: complete or absent, mode 0666 & ~umask):

- ``config.toml``: the resolved run configuration; ``policy.toml``: the policy;
  ``quantizers.csv``: every quantizer of the net with its fully resolved settings, then every
  MAC layer's accumulator (width, empty if wide, and overflow mode);
- ``metrics.csv``: one row per epoch: learning rate, train loss and accuracy, test loss and
  accuracy, per-class test accuracy, the class-difficulty split, wall time, per quantizer
  (``layer.role[.group]``) its saturation rate and last fraction length or interval, and per
  MAC layer with a narrow accumulator and phase (``layer.accumulator.phase``) the sums that
  overflowed, the overflow events and their rate;
- ``grad_histograms.csv``: per epoch and gradient quantizer, counts of ``log2 |g|``;
- ``checkpoint.npz``: the state after the last finished epoch (weights, momentum, batch-norm
  statistics, range-rule and class-difficulty state) and every metrics and histogram row so
  far: written first each epoch, the other files derive from it
  (:mod:`fxsim.training.runfolder`), so a run killed anywhere resumes with nothing lost;
- ``summary.json``: status (``finished``, ``partial``, ``diverged`` with where), final
  accuracy, SHA-256 of the weights and of the whole state, versions.
"""

from fxsim.training.loop import Run, TrainConfig, Trainer, train

__all__ = ["Run", "TrainConfig", "Trainer", "train"]
