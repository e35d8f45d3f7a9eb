r"""stem_cifar10.py on CIFAR-100 (635,236 parameters).

  python train.py --config=configs/stem_cifar100.py --workdir=/tmp/s100 \
    --config.tfds_data_dir=../shared/data/tfds

No published figure to compare with; not measured yet (grids/seed_cifar100.py).
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'stem', variant)
