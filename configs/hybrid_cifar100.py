r"""Hybrid: nano MLP-Mixer with a 3x3 depthwise-separable stem on CIFAR-100.

  python train.py --config=configs/hybrid_cifar100.py --workdir=/tmp/h100 \
    --config.tfds_data_dir=../shared/data/tfds

Results: not measured yet.
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar100', variant, locality_type='dwsep')
