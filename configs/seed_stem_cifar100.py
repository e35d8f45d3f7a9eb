r"""The seed's block as a stem only (the paper's description), on CIFAR-100.

The paper's description of the seed's hybrid: the seed's locality block
(depthwise 3x3 -> pointwise -> BatchNorm -> GELU) after the patch embedding
only.

The seed's recipe as run (docs/SEED.md): AdamW lr 3e-3, weight decay 5e-4 on
every parameter, batch 128 with the last partial batch kept, 30 epochs, the
per-step cosine wave, flip, crop, rotation, colour jitter, random erasing.

  python train.py --config=configs/seed_stem_cifar100.py --workdir=/tmp/seed_stem_100 \
    --config.tfds_data_dir=../shared/data/tfds

Results: not measured yet.
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar100', 'stem', variant)
