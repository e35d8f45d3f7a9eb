r"""The flagship hybrid (hybrid_cifar10.py) on CIFAR-100: 706,404 parameters.

  python train.py --config=configs/hybrid_cifar100.py --workdir=/tmp/h100 \
    --config.tfds_data_dir=../shared/data/tfds

Pixels are normalised with CIFAR-10's statistics, as the seed notebook did.
Measured: not yet, grids/seed_cifar100.py is under way; the notebook reports
55.03% at its best epoch (one seed, docs/RESULTS_cifar100.md once runs end).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'hybrid', variant)
