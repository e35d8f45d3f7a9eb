r"""The plain Mixer of baseline_cifar10.py on CIFAR-100, 617,444 parameters:
the hybrid's baseline there, with the seed's recipe and its CIFAR-10
normalisation.

  python train.py --config=configs/baseline_cifar100.py --workdir=/tmp/b100 \
    --config.tfds_data_dir=../shared/data/tfds

Measured on CIFAR-100, all of train, 30 epochs, seed 0 (n = 1): 49.23%
final test accuracy, 49.34% at the best epoch (docs/RESULTS_cifar100.md,
grids/seed_cifar100.py's seed_baseline_cifar100 run, 2026-12-07, Intel Xeon
with AMX); the seed notebook's run: 48.19% final, 48.20% best. At 10% of
train (--config.train_fraction=0.1, 1,200 steps), seeds 0-2: 20.43 ± 0.57%
final test accuracy (2026-12-07, the same machine).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'baseline', variant)
