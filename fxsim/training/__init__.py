"""Training: the loop and its run folder, the network that binds a policy to a net's layers,
the optimizer, class-difficulty grouping, provenance and the plots of a run.

``train(TrainConfig(...), out)`` trains a reference net (:mod:`reference_nets`) and writes the
run folder; see :mod:`fxsim.training.loop`.
"""

from fxsim.training.loop import Run, TrainConfig, Trainer, train

__all__ = ["Run", "TrainConfig", "Trainer", "train"]
