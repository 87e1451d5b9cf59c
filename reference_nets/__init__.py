"""reference_nets: the networks fxsim trains and the loaders of their data."""

from reference_nets.datasets import DATASETS, Dataset, augment, batches, load_dataset
from reference_nets.nets import NETS, build_net, default_dataset, layer_shapes

__all__ = ["DATASETS", "NETS", "Dataset", "augment", "batches", "build_net", "default_dataset",
           "layer_shapes", "load_dataset"]
