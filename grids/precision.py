r"""Issue 17: does bf16 change what we learn? float32 against bfloat16, paired.

  python -m mixer_jax.experiments.sweep --grid=grids/precision.py \
    --root=runs/precision --set=tfds_data_dir=../shared/data/tfds
  (on 2 cores: one worker per core, `taskset -c 0 ...` and `taskset -c 1 ...`)

The nano baseline and hybrid (the slides' stem) at 10% of train with
grids/small_data.py's recipe (40 epochs, its evaluations), seeds 0 and 1,
each in float32 and with `compute_dtype='bfloat16'` (bf16 inputs to every
matrix product, float32 accumulation, forward and backward; float32
everything else: mixer_jax/mixed_precision.py): 8 runs, 4 float32/bf16 pairs
with the same subset, data order and augmentation draws.

The criterion, fixed before any run: bf16 leaves accuracy within seed noise
if, for each model, the mean paired difference (bf16 - float32, 2 seeds) in
final test accuracy is smaller in magnitude than that model's seed-to-seed
standard deviation in float32 with this recipe (grids/small_data.py, 3 seeds
at 10%: 0.86 points for the baseline, 0.84 for the hybrid;
docs/RESULTS_small_data.md). Until that holds, float32 stays the default and
grids keep it.

  python -m mixer_jax.experiments.report --root=runs/precision \
    --grid=grids/precision.py --out=docs
writes docs/RESULTS_precision.md: each bf16 model against its float32 twin
(the "- baseline" column for the baseline, "- hybrid" for the hybrid).
"""

import os

from mixer_jax import config_lib
from mixer_jax.experiments import sweep

REPORT = {
    'title': 'Precision: does bf16 change what the Mixer learns?',
    'markdown': 'RESULTS_precision.md',
    'results_dir': 'results/precision',
    'root': 'runs/precision',
    'baseline': 'baseline_cifar10_float32',
    'hybrid': 'hybrid_cifar10_float32',
}


def _small_data():
  return config_lib.load_python_file(
      os.path.join(os.path.dirname(__file__), 'small_data.py'))


def get_grid():
  small_data = _small_data()
  recipe = small_data.small(0.1)
  models = [small_data.BASELINE, small_data.HYBRID]
  runs = []
  for seed in (0, 1):  # Pairs first: a sweep stopped early leaves them whole.
    runs += (sweep.grid(models, [seed], [0.1], recipe, '_float32') +
             sweep.grid(models, [seed], [0.1],
                        {**recipe, 'compute_dtype': 'bfloat16'}, '_bfloat16'))
  return runs
