r"""Baseline: the plain nano MLP-Mixer (1.13M parameters) on CIFAR-10.

Offline, on the prepared copy beside the checkout:
  python train.py --config=configs/baseline_cifar10.py --workdir=/tmp/baseline \
    --config.tfds_data_dir=../shared/data/tfds
Online, drop the last flag. Other sizes: --config=configs/baseline_cifar10.py:S/4

Measured (docs/TRAINING.md): with --config.num_epochs=1, 39.71% test accuracy
on CIFAR-10 (JPEG copy), 2-core CPU. On a class-balanced 10% of train for
40 epochs, 58.29 ± 0.86% final test accuracy over 3 seeds (2026-11-24; the
small-data grid, grids/small_data.py, whose commands and full results are in
docs/RESULTS_small_data.md).
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar10', variant, locality_type='none')
