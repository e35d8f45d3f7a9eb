r"""Issue 7's CPU grid on CIFAR-10 (JPEG copy): does locality help on small data?

  python -m mixer_jax.experiments.sweep --grid=grids/small_data.py \
    --root=runs/small_data --set=tfds_data_dir=../shared/data/tfds
  python -m mixer_jax.experiments.report --root=runs/small_data \
    --grid=grids/small_data.py --out=docs

Baseline vs hybrid 3x3 on class-balanced 10%, 5% and 25% subsets of train
(5,000, 2,500 and 12,500 images; 40 epochs), the stem's ablations at 10%, and
all of train for 5 epochs. Everything here is fixed in advance and nothing is
tuned: the last 5,000 training images are held out as the validation set of
the loss curves, and the subsets are drawn from the other 45,000. Each run is
evaluated every 4 epochs on validation, test and 2,000 of its own training
images without augmentation (for the train - test gap).

The last two blocks are a follow-up, added on 2026-11-24 when 22 of the
first 24 runs had finished: the residual stem was the only stem level with
the baseline, on two seeds whose interval could not tell +0.7 points from
zero, so it gets a third seed at 10% and two seeds at 5%, with the recipe
above. Results: docs/RESULTS_small_data.md.
"""

from mixer_jax.experiments import sweep

# Run names keep the names of the config files that trained them.
BASELINE = ('baseline_cifar10', 'configs/nano_baseline_cifar10.py')
HYBRID = ('hybrid_cifar10', 'configs/slides_hybrid_cifar10.py')
TRAIN_SPLIT_SIZE = 50_000
EVALS = {'eval_splits': ('validation', 'test', 'train_clean'),
         'validation_size': 5000, 'train_clean_size': 2000}
RESIDUAL = {'model.locality.residual': True}
# What mixer_jax.experiments.report writes from these runs (the keys:
# mixer_jax/experiments/report/grid_spec.py).
REPORT = {
    'title': 'Results: does locality help the Mixer on small data?',
    'markdown': 'RESULTS_small_data.md',
    'results_dir': 'results/small_data',
    'root': 'runs/small_data',
    'baseline': 'baseline_cifar10',
    'hybrid': 'hybrid_cifar10',
    'loss_curves_fractions': (0.1,),
}


def small(fraction, **overrides):
  steps_per_epoch = round(fraction * TRAIN_SPLIT_SIZE) // 128
  return {'num_epochs': 40.0, 'eval_every_steps': 4 * steps_per_epoch,
          **EVALS, **overrides}


def get_grid():
  # In order of importance: a sweep stopped early has the central result.
  return (
      sweep.grid([BASELINE, HYBRID], [0, 1, 2], [0.1], small(0.1)) +
      sweep.grid([BASELINE, HYBRID], [0, 1], [0.05], small(0.05)) +
      sweep.grid([HYBRID], [0, 1], [0.1],
                 small(0.1, **{'model.locality.kernel_size': 5}), '_k5') +
      sweep.grid([HYBRID], [0, 1], [0.1],
                 small(0.1, **{'model.locality.type': 'avgpool'}),
                 '_avgpool') +
      sweep.grid([HYBRID], [0, 1], [0.1], small(0.1, **RESIDUAL), '_residual') +
      sweep.grid([BASELINE, HYBRID], [0, 1], [0.25], small(0.25)) +
      sweep.grid([BASELINE, HYBRID], [0, 1], [1.0],
                 {'num_epochs': 5.0, 'eval_splits': ('test', 'train_clean'),
                  'train_clean_size': 2000}) +
      sweep.grid([HYBRID], [2], [0.1], small(0.1, **RESIDUAL), '_residual') +
      sweep.grid([HYBRID], [0, 1], [0.05], small(0.05, **RESIDUAL),
                 '_residual'))
