"""Data for the reference nets: loaders, seeded splits, batch order and augmentation.

``load_dataset(name, data_dir, seed=..., test_fraction=..., limit=...)`` returns a
:class:`Dataset` of float32 images in [0, 1] and int64 labels; ``batches`` and ``augment`` give
the per-epoch sample order and the CIFAR crop-and-flip as pure functions of their counters.
"""

from reference_nets.datasets.batching import augment, augment_params, batches
from reference_nets.datasets.cifar import CIFAR10, CIFAR100, read_cifar_folder
from reference_nets.datasets.container import Dataset
from reference_nets.datasets.idx import read_idx_ubyte, read_mnist_folder
from reference_nets.datasets.loader import DATASETS, load_dataset
from reference_nets.datasets.pixel_csv import read_pixel_csv
from reference_nets.datasets.split import stratified_split

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "DATASETS",
    "Dataset",
    "augment",
    "augment_params",
    "batches",
    "load_dataset",
    "read_cifar_folder",
    "read_idx_ubyte",
    "read_mnist_folder",
    "read_pixel_csv",
    "stratified_split",
]
