r"""The seed's block as a stem only (the paper's description), on CIFAR-10.

The paper's description of the seed's hybrid: the seed's locality block
(depthwise 3x3 -> pointwise -> BatchNorm -> GELU) after the patch embedding
only.

The seed's recipe as run (docs/SEED.md): AdamW lr 3e-3, weight decay 5e-4 on
every parameter, batch 128 with the last partial batch kept, 30 epochs, the
per-step cosine wave, flip, crop, rotation, colour jitter, random erasing.

Offline, on the prepared copy beside the checkout:
  python train.py --config=configs/seed_stem_cifar10.py --workdir=/tmp/seed_stem \
    --config.tfds_data_dir=../shared/data/tfds
Online, drop the last flag.

Measured: 30 epochs, 72.59% and 73.59% test accuracy (seeds 0 and 1; the seed
baseline's: 73.25% and 73.49%) on CIFAR-10 (JPEG copy), one core of a 2-core
EPYC (Zen 5, then Zen 3), 2026-12-01: run B of grids/seed.py, whose command
and results are in docs/RESULTS.md. (With --config.num_epochs=1: 43.03%, 2-core CPU, 2026-11-25,
docs/TRAINING.md.)
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar10', 'stem', variant)
