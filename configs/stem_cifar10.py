r"""The hybrid's block as a stem only, on CIFAR-10: the paper's description.

One locality block after the patch embedding and none between Mixer blocks
(623,626 parameters), with the seed's recipe as it ran (docs/SEED.md).

  python train.py --config=configs/stem_cifar10.py --workdir=/tmp/stem \
    --config.tfds_data_dir=../shared/data/tfds

Measured on CIFAR-10 (JPEG copy), all of train, 30 epochs, seeds 0-2:
73.51 ± 0.88% final test accuracy; stem − baseline_cifar10.py +0.20 points,
95% CI [−2.06, +2.45] (docs/RESULTS.md, grids/seed.py's seed_stem_cifar10
runs, 2026-11-30 to 12-01).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar10', 'stem', variant)
