r"""Baseline: the plain nano MLP-Mixer on CIFAR-100.

  python train.py --config=configs/baseline_cifar100.py --workdir=/tmp/b100 \
    --config.tfds_data_dir=../shared/data/tfds

Results: not measured yet.
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar100', variant, locality_type='none')
