r"""Hybrid: nano MLP-Mixer with a 3x3 depthwise-separable stem on CIFAR-10.

Offline, on the prepared copy beside the checkout:
  python train.py --config=configs/hybrid_cifar10.py --workdir=/tmp/hybrid \
    --config.tfds_data_dir=../shared/data/tfds
Online, drop the last flag. A 5x5 kernel: --config.model.stem.kernel_size=5;
the pooling variant: --config.model.stem.type=avgpool.

Results: docs/RESULTS.md.
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar10', variant, stem_type='dwsep')
