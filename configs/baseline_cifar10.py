r"""The hybrid's baseline on CIFAR-10: the plain Mixer, the same recipe.

The seed notebook's baseline (patch 4, hidden 128, 8 blocks, token MLP 64,
channel MLP 256, dropout 0.15; 605,834 parameters), trained with the seed's
recipe as it ran (config_lib.seed_config, docs/SEED.md).

  python train.py --config=configs/baseline_cifar10.py --workdir=/tmp/baseline \
    --config.tfds_data_dir=../shared/data/tfds

Measured on CIFAR-10 (JPEG copy), all of train, 30 epochs, seeds 0-2:
73.31 ± 0.16% final test accuracy (docs/RESULTS.md, grids/seed.py's
seed_baseline_cifar10 runs, 2026-11-30).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar10', 'baseline', variant)
