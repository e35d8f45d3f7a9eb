r"""Hybrid: nano MLP-Mixer with a 3x3 depthwise-separable stem on CIFAR-10.

Offline, on the prepared copy beside the checkout:
  python train.py --config=configs/hybrid_cifar10.py --workdir=/tmp/hybrid \
    --config.tfds_data_dir=../shared/data/tfds
Online, drop the last flag. A 5x5 kernel:
--config.model.locality.kernel_size=5; the pooling variant:
--config.model.locality.type=avgpool.

Measured (docs/TRAINING.md): with --config.num_epochs=1, 40.10% test accuracy
on CIFAR-10 (JPEG copy), 2-core CPU. On a class-balanced 10% of train for
40 epochs, 55.75 ± 0.84% final test accuracy over 3 seeds (2026-11-24; the
small-data grid, grids/small_data.py, whose commands and full results are in
docs/RESULTS_small_data.md).
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar10', variant, locality_type='dwsep')
