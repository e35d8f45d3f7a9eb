r"""The seed's hybrid Mixer (5 locality blocks) and recipe, on CIFAR-10.

The seed notebook's hybrid, the model of its reported numbers: the seed's
locality block after the patch embedding and after every 2nd Mixer block (5
blocks).

The seed's recipe as run (docs/SEED.md): AdamW lr 3e-3, weight decay 5e-4 on
every parameter, batch 128 with the last partial batch kept, 30 epochs, the
per-step cosine wave, flip, crop, rotation, colour jitter, random erasing.

Offline, on the prepared copy beside the checkout:
  python train.py --config=configs/seed_hybrid_cifar10.py --workdir=/tmp/seed_hybrid \
    --config.tfds_data_dir=../shared/data/tfds
Online, drop the last flag.

Measured (docs/TRAINING.md): with --config.num_epochs=1, 40.98% test accuracy
on CIFAR-10 (JPEG copy), 2-core CPU, 2026-11-25. The 30-epoch runs are in
grids/seed.py.
"""

from mixer_jax import config_lib


def get_config(variant='seed'):
  return config_lib.seed_config('cifar10', 'hybrid', variant)
