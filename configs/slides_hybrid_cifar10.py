r"""The seed's slides' stem on the nano Mixer, under this project's recipe.

nano_baseline_cifar10.py with one linear depthwise-separable block (3x3
depthwise conv, 1x1 conv, with biases, no norm or activation) after the patch
embedding, as the seed's slides describe it: 1.15M parameters.

  python train.py --config=configs/slides_hybrid_cifar10.py \
    --workdir=/tmp/slides_hybrid --config.tfds_data_dir=../shared/data/tfds

Measured on CIFAR-10 (JPEG copy), a class-balanced 10% of train, 40 epochs,
seeds 0-2: 55.75 ± 0.84% final test accuracy; − nano_baseline_cifar10.py
−2.54 points, 95% CI [−4.08, −1.00] (docs/RESULTS_small_data.md,
grids/small_data.py's hybrid_cifar10 runs, 2026-11-24).
"""

from mixer_jax import config_lib


def get_config(variant='nano'):
  return config_lib.get_config('cifar10', variant, locality_type='dwsep')
