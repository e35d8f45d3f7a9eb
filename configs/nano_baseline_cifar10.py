r"""The nano MLP-Mixer under this project's own recipe, on CIFAR-10.

Patch 4, hidden 128, 8 blocks, token MLP 64, channel MLP 512 (1.13M
parameters); AdamW 1e-3 with weight decay 0.05 on kernels, 5 warmup epochs
then cosine decay, clipping at norm 1, crop and flip (config_lib.get_config).
Other sizes: --config=configs/nano_baseline_cifar10.py:S/4.

  python train.py --config=configs/nano_baseline_cifar10.py \
    --workdir=/tmp/nano_baseline --config.tfds_data_dir=../shared/data/tfds

Measured on CIFAR-10 (JPEG copy), a class-balanced 10% of train, 40 epochs,
seeds 0-2: 58.29 ± 0.86% final test accuracy (docs/RESULTS_small_data.md,
grids/small_data.py's baseline_cifar10 runs, 2026-11-24).
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar10', variant)
