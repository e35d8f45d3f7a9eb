r"""Issue 7's CPU grid on CIFAR-10 (JPEG copy): does locality help on small data?

  python -m mixer_jax.sweep --grid=grids/small_data.py --root=runs/small_data \
    --set=tfds_data_dir=../shared/data/tfds

Baseline vs hybrid 3x3 on class-balanced 5%, 10% and 25% subsets (40 epochs)
and on all of train (5 epochs); ablations of the stem at 10%. The settings are
fixed in advance; nothing here was tuned on the test set. Results: not yet
measured (about 12-14 hours on 2 CPU cores).
"""

from mixer_jax import sweep

BASELINE = 'configs/baseline_cifar10.py'
HYBRID = 'configs/hybrid_cifar10.py'
SMALL = {'num_epochs': 40.0, 'eval_every_steps': 200}
FULL = {'num_epochs': 5.0}


def get_grid():
  return (
      sweep.grid([BASELINE, HYBRID], [0, 1, 2], [0.1], SMALL) +
      sweep.grid([BASELINE, HYBRID], [0, 1], [0.05, 0.25], SMALL) +
      sweep.grid([HYBRID], [0, 1], [0.1],
                 {**SMALL, 'model.stem.kernel_size': 5}, '_k5') +
      sweep.grid([HYBRID], [0, 1], [0.1],
                 {**SMALL, 'model.stem.type': 'avgpool'}, '_avgpool') +
      sweep.grid([HYBRID], [0, 1], [0.1],
                 {**SMALL, 'model.stem.residual': True}, '_residual') +
      sweep.grid([BASELINE, HYBRID], [0, 1], [1.0], FULL))
