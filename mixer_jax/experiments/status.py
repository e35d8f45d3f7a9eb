r"""Where a grid's runs stand, and how many steps are left to train.

  python -m mixer_jax.experiments.status --grid=grids/seed_queue.py \
    --root=runs/seed --archive=runs_archive/seed \
    --set=tfds_data_dir=../shared/data/tfds

takes the sweep's own flags (mixer_jax.experiments.sweep) and trains nothing.
A run's step is its newest checkpoint's, in its workdir or its archive,
whichever is further on; its length is what train.py would compute from its
config and the size of its dataset's train split, read from the tfds
metadata (no image is read). Each unfinished run gets a line, in the grid's
order, which is the order the workers take runs in, with the steps it has
left and the steps left up to and including it: the work before that run is
done, whatever the number of workers.
"""

import dataclasses
import os
from typing import Optional

from absl import app
from absl import flags
from absl import logging

from mixer_jax import config_lib
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax.experiments import archive as run_archive
from mixer_jax.experiments import sweep

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class RunStatus:
  name: str
  finished: bool
  step: int  # The newest checkpoint's step; 0 before the first.
  num_train_steps: int

  @property
  def steps_left(self):
    return 0 if self.finished else self.num_train_steps - self.step


def grid_status(grid_file, root, archive=None, common_overrides=None):
  """A RunStatus for each run of the grid, in the grid's order."""
  statuses = []
  for run in config_lib.load_python_file(grid_file).get_grid():
    config = sweep.run_config(run, common_overrides)
    config_lib.validate(config)  # A clear error for a mistyped grid entry.
    progress = run_archive.furthest_progress(
        os.path.join(root, run['name']), archive, run['name'])
    finished, step = progress or (False, 0)
    _, num_train_steps, _, _ = train.run_length(
        config, input_pipeline.num_train_examples(config))
    statuses.append(RunStatus(run['name'], finished, step, num_train_steps))
  return statuses


def describe(statuses, archive: Optional[str] = None):
  """The status as the command prints it."""
  unfinished = [s for s in statuses if not s.finished]
  width = max((len(s.name) for s in unfinished), default=0)
  lines = [f'{len(statuses) - len(unfinished)} of {len(statuses)} runs '
           f'finished.']
  if unfinished:
    lines.append(f'{"unfinished run":<{width}}  {"step":>15}  {"left":>7}  '
                 f'{"left up to it":>13}')
  total = 0
  for status in unfinished:
    total += status.steps_left
    at = f'{status.step:,} of {status.num_train_steps:,}'
    lines.append(f'{status.name:<{width}}  {at:>15}  '
                 f'{status.steps_left:>7,}  {total:>13,}')
  started = sum(1 for s in unfinished if s.step)
  where = f' (newest of workdirs and {archive})' if archive else ''
  lines.append(f'{total:,} steps left in {len(unfinished)} runs, {started} of '
               f'them started{where}.')
  return '\n'.join(lines)


def main(argv):
  del argv
  if not os.path.isfile(FLAGS.grid):
    raise app.UsageError(f'--grid={FLAGS.grid} is not a file; pass a grid '
                         f'file such as grids/seed_queue.py.')
  logging.set_verbosity(logging.WARNING)  # tfds logs each metadata read.
  statuses = grid_status(FLAGS.grid, FLAGS.root, FLAGS.archive,
                         sweep.parse_overrides(FLAGS.set))
  print(describe(statuses, FLAGS.archive))


if __name__ == '__main__':
  flags.DEFINE_string('grid', None, 'The grid file, as the sweep was given.')
  flags.DEFINE_string('root', None, 'The sweep directory.')
  flags.DEFINE_string('archive', None, 'The sweep\'s --archive, if any.')
  flags.DEFINE_multi_string('set', [], 'The sweep\'s FIELD=VALUE overrides; '
                            'tfds_data_dir says where the data is.')
  flags.mark_flags_as_required(['grid', 'root'])
  app.run(main)
