r"""The seed's baseline Mixer and recipe, on CIFAR-100.

The seed notebook's baseline: the plain Mixer (hidden 128, 8 blocks, token MLP
64, channel MLP 256, dropout 0.15).

The seed's recipe as run (docs/SEED.md): AdamW lr 3e-3, weight decay 5e-4 on
every parameter, batch 128 with the last partial batch kept, 30 epochs, the
per-step cosine wave, flip, crop, rotation, colour jitter, random erasing.

  python train.py --config=configs/seed_baseline_cifar100.py --workdir=/tmp/seed_baseline_100 \
    --config.tfds_data_dir=../shared/data/tfds

Results: not measured yet.
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'baseline', variant)
