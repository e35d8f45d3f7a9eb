r"""The order in which the workers take the seed experiment's runs (issue 39).

  python -m mixer_jax.experiments.sweep --grid=grids/seed_queue.py \
    --root=runs/seed --archive=runs_archive/seed \
    --set=tfds_data_dir=../shared/data/tfds

One queue for both datasets, so that both workers stay busy: every run of
grids/seed.py (CIFAR-10 (JPEG copy)) and grids/seed_cifar100.py, the most
needed first. Each grid file keeps its own runs and report; the order changes
no run.

  1. the two controls on all of CIFAR-10 that are in flight (pointwise,
     linear), resumed from their archives;
  2. CIFAR-100 A: the seed's baseline and hybrid on all of train, seed 0;
  3. CIFAR-100 at 10% of train: the three seed models, seeds 0-2;
  4. on all of CIFAR-10: the residual and blockconv controls, the two forms
     that gained at 10%;
  5. CIFAR-100 B: seeds 1 and 2 of the baseline and hybrid, the stem seed 0;
  6. on all of CIFAR-10: the epoch-cosine baseline and hybrid;
  7. on all of CIFAR-10: seeds 1 and 2 of the controls whose seed 0 ended
     within 1.5 points of the hybrid or the baseline (the pointwise control);
  8. then the rest in their grids' order: the runs already finished, and
     CIFAR-10's C at 5% and 25% of train.
"""

import os

from mixer_jax import config_lib

FIRST = (
    'seed_hybrid_cifar10_pointwise_frac1_seed0',
    'seed_hybrid_cifar10_linear_frac1_seed0',
    'seed_baseline_cifar100_frac1_seed0',
    'seed_hybrid_cifar100_frac1_seed0',
    *(f'seed_{model}_cifar100_frac0.1_seed{seed}'
      for seed in (0, 1, 2) for model in ('baseline', 'hybrid', 'stem')),
    'seed_hybrid_cifar10_residual_frac1_seed0',
    'seed_baseline_cifar10_blockconv_frac1_seed0',
    *(f'seed_{model}_cifar100_frac1_seed{seed}'
      for seed in (1, 2) for model in ('baseline', 'hybrid')),
    'seed_stem_cifar100_frac1_seed0',
    'seed_baseline_cifar10_epochcosine_frac1_seed0',
    'seed_hybrid_cifar10_epochcosine_frac1_seed0',
    'seed_hybrid_cifar10_pointwise_frac1_seed1',
    'seed_hybrid_cifar10_pointwise_frac1_seed2',
)


def _grid(file_name):
  return config_lib.load_python_file(
      os.path.join(os.path.dirname(__file__), file_name)).get_grid()


def get_grid():
  runs = _grid('seed.py') + _grid('seed_cifar100.py')
  by_name = {run['name']: run for run in runs}
  return [by_name[name] for name in FIRST] + [
      run for run in runs if run['name'] not in FIRST]
