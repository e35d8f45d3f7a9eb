r"""stem_cifar10.py on CIFAR-100 (635,236 parameters).

  python train.py --config=configs/stem_cifar100.py --workdir=/tmp/s100 \
    --config.tfds_data_dir=../shared/data/tfds

No published figure to compare with. Measured on CIFAR-100 at 10% of train
(--config.train_fraction=0.1, 1,200 steps), seeds 0-2: 20.27 ± 0.68% final
test accuracy; stem − baseline_cifar100.py −0.16 points, 95% CI
[−2.15, +1.83] (docs/RESULTS_cifar100.md, grids/seed_cifar100.py's
seed_stem_cifar100 runs, 2026-12-07, Intel Xeon with AMX). On all of train:
not measured yet (B).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'stem', variant)
