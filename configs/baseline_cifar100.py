r"""The plain Mixer of baseline_cifar10.py on CIFAR-100, 617,444 parameters:
the hybrid's baseline there, with the seed's recipe and its CIFAR-10
normalisation.

  python train.py --config=configs/baseline_cifar100.py --workdir=/tmp/b100 \
    --config.tfds_data_dir=../shared/data/tfds

Measured: not yet (grids/seed_cifar100.py); the seed notebook's run reached
48.20% at its best epoch.
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'baseline', variant)
