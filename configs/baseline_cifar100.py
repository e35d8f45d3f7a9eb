r"""Baseline: the plain nano MLP-Mixer on CIFAR-100.

Where tfds can download CIFAR-100 (no offline copy exists here):
  python train.py --config=configs/baseline_cifar100.py --workdir=/tmp/b100
With a prepared data dir: add --config.tfds_data_dir=DIR.

Results: not measured yet; CIFAR-100 cannot be downloaded on the machines here.
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar100', variant, locality_type='none')
