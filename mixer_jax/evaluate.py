r"""Loss and accuracy of a trained model over a whole split.

  python -m mixer_jax.evaluate --workdir=WORKDIR [--split=test]
      [--checkpoint=best|latest] [--out=FILE.json]

Computed as training's evaluation computes them (`train.eval_step` and
`train.evaluate`), with the workdir's recorded config; printed, and written
as JSON to --out.
"""

import functools
import json
import os

from absl import app
from absl import flags
from flax import jax_utils
import jax
import optax

from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import host
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax import trained


def model_state(config, variables):
  """A train state that holds `variables`, for `train.eval_step`."""
  model = train.create_model(config)
  return train.TrainState.create(
      apply_fn=model.apply, params=variables['params'],
      batch_stats=variables['batch_stats'], tx=optax.identity(),
      non_finite=train.NonFiniteRecord.empty())


def evaluate(workdir, split='test', checkpoint='best', tfds_data_dir=None):
  """{'step', 'split', 'checkpoint', '{split}_loss', '{split}_accuracy'}."""
  config, step, variables = trained.variables(workdir, checkpoint,
                                              train.train_state_template)
  config.eval_splits = [split]
  if tfds_data_dir:
    config.tfds_data_dir = tfds_data_dir
  config_lib.validate(config)
  _, splits = input_pipeline.load(config)
  p_eval_step = jax.pmap(functools.partial(train.eval_step, config=config),
                         axis_name=train.AXIS)
  state = jax_utils.replicate(model_state(config, variables),
                              axis_name=train.AXIS)
  return {'workdir': workdir, 'checkpoint': checkpoint, 'step': step,
          'split': split, 'num_examples': len(splits[split]),
          **train.evaluate_splits(p_eval_step, state, splits,
                                  config.eval_batch_size)}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  checkpointing.quiet_orbax_logs()
  flags_ = flags.FLAGS
  with host.exit_codes():
    result = evaluate(flags_.workdir, flags_.split, flags_.checkpoint,
                      flags_.tfds_data_dir)
    text = json.dumps(result, indent=2)
    print(text)
    if flags_.out:
      host.check_writable(os.path.dirname(os.path.abspath(flags_.out)),
                           '--out')
      with open(flags_.out, 'w') as f:
        f.write(text + '\n')


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'The workdir of a training run.')
  flags.DEFINE_enum('split', 'test', config_lib.EVAL_SPLITS, 'The split to '
                    'evaluate on; validation needs a run that held one out.')
  flags.DEFINE_enum('checkpoint', 'best', trained.CHECKPOINT_KINDS,
                    'The best model, or the latest train state.')
  flags.DEFINE_string('out', None, 'Also write the result here, as JSON.')
  flags.DEFINE_string('tfds_data_dir', None, 'Where the data is, if not where '
                      'the run read it (its config.tfds_data_dir).')
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
