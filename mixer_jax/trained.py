"""The model trained in a workdir: its config and checkpointed variables.

What evaluation, prediction, export and `init_from=WORKDIR` start from;
each needs nothing but the workdir.
"""

import os

from mixer_jax import checkpointing
from mixer_jax import run_config

CHECKPOINT_KINDS = ('best', 'latest')
# Where each kind is kept (checkpointing.Checkpoints).
_DIRECTORIES = {'best': 'best', 'latest': 'checkpoints'}


def _check_has(workdir, which):
  directory = os.path.join(workdir, _DIRECTORIES[which])
  if not checkpointing.has_checkpoints(workdir, _DIRECTORIES[which]):
    raise checkpointing.CheckpointError(
        f'{workdir} holds no {which} checkpoint yet ({directory} has none): '
        f'train first, or wait for the run\'s first '
        f'{"evaluation" if which == "best" else "checkpoint"}.')


def best_variables(workdir, config):
  """(step, {'params', 'batch_stats'}) of the best checkpoint in `workdir`,
  made with `config` (a CheckpointError if by another model)."""
  _check_has(workdir, 'best')
  checkpoints = checkpointing.Checkpoints(workdir, config)
  try:
    return checkpoints.restore_best()
  finally:
    checkpoints.close()


def latest_state(workdir, config, template):
  """The latest intact train state in `workdir`, restored into `template`."""
  _check_has(workdir, 'latest')
  checkpoints = checkpointing.Checkpoints(workdir, config)
  try:
    state = checkpoints.restore_latest(template)
  finally:
    checkpoints.close()
  if state is None:
    raise checkpointing.CheckpointError(
        f'Every checkpoint in {workdir} is damaged; use --checkpoint=best.')
  return state


def variables(workdir, which='best', template=None):
  """(config, step, variables) of the model in `workdir`; `template` (a
  train state of that config) is needed for 'latest' only."""
  config = run_config.load(workdir)
  if which == 'best':
    step, restored = best_variables(workdir, config)
    return config, step, restored
  state = latest_state(workdir, config, template(config))
  return config, int(state.step), {'params': state.params,
                                   'batch_stats': state.batch_stats}
