r"""The hybrid Mixer on CIFAR-10: the model and recipe that the results support.

The seed notebook's hybrid: the plain Mixer (patch 4, hidden 128, 8 blocks)
with a locality block (3x3 depthwise conv, 1x1 conv, BatchNorm, GELU) after
the patch embedding and after every 2nd Mixer block: 5 blocks, 694,794
parameters. Trained with the seed's recipe as it ran (config_lib.seed_config,
docs/SEED.md).

  python train.py --config=configs/hybrid_cifar10.py --workdir=/tmp/hybrid \
    --config.tfds_data_dir=../shared/data/tfds

Measured on CIFAR-10 (JPEG copy), all of train, 30 epochs, seeds 0-2:
80.43 ± 0.15% final test accuracy; hybrid − baseline_cifar10.py +7.12 points,
95% CI [+6.44, +7.80] (docs/RESULTS.md, grids/seed.py's
seed_hybrid_cifar10 runs, 2026-11-30).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar10', 'hybrid', variant)
