r"""configs/baseline_cifar10.py's model and recipe on CIFAR-100.

Normalised with CIFAR-10's channel statistics, as the seed notebook did.

  python train.py --config=configs/baseline_cifar100.py --workdir=/tmp/baseline_cifar100 \
    --config.tfds_data_dir=../shared/data/tfds

Measured: not yet; grids/seed_cifar100.py's runs are under way
(docs/RESULTS_cifar100.md).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'baseline', variant)
