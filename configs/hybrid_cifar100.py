r"""The flagship hybrid (hybrid_cifar10.py) on CIFAR-100: 706,404 parameters.

  python train.py --config=configs/hybrid_cifar100.py --workdir=/tmp/h100 \
    --config.tfds_data_dir=../shared/data/tfds

Pixels are normalised with CIFAR-10's statistics, as the seed notebook did.
Measured on CIFAR-100, all of train, 30 epochs, seed 0 (n = 1): 54.18%
final test accuracy, 54.49% at the best epoch; hybrid − baseline_cifar100.py
+4.95 points final, +5.15 best (docs/RESULTS_cifar100.md,
grids/seed_cifar100.py's seed_hybrid_cifar100 run, 2026-12-07, Intel Xeon
with AMX). The notebook reports 55.03% at its best epoch and +6.83 (one seed).
At 10% of train (--config.train_fraction=0.1, 1,200 steps), seeds 0-2:
19.91 ± 0.29% final; hybrid − baseline_cifar100.py −0.52 points, 95% CI
[−2.64, +1.60] (2026-12-07, the same machine).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'hybrid', variant)
