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

Measured: 30 epochs, 72.59%, 73.59% and 74.35% test accuracy (seeds 0-2; the
seed baseline's: 73.25%, 73.49% and 73.20%) on CIFAR-10 (JPEG copy), one core
of a 2-core EPYC (Zen 5, Zen 3 and Zen 4), 2026-12-01: run B of grids/seed.py;
on 10% of train, 51.80%, 52.36% and 49.53% (2026-12-01 and 2026-12-02): run C.
Its command and results are in docs/RESULTS.md. (With --config.num_epochs=1: 43.03%, 2-core CPU, 2026-11-25,
docs/TRAINING.md.)
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar10', 'stem', variant)
