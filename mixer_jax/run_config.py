"""A workdir's record of its run: the complete resolved config, as JSON.

`train_and_evaluate` writes WORKDIR/config.json before training, so that
evaluation, prediction, export and `init_from=WORKDIR` need nothing but the
workdir: no config file, no command-line overrides to remember.
"""

import json
import os
import tempfile

import jax
import ml_collections

from mixer_jax import config_lib

FILENAME = 'config.json'


def save(config, workdir):
  """Writes `config` to WORKDIR/config.json on process 0, atomically: a
  reader sees the old file or the new one, never half of one."""
  if jax.process_index() != 0:
    return
  handle, temporary = tempfile.mkstemp(prefix='.config.', dir=workdir)
  with os.fdopen(handle, 'w') as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(temporary, os.path.join(workdir, FILENAME))


def load(workdir):
  """The config that trained in `workdir`; a ConfigError if it has none."""
  path = os.path.join(workdir, FILENAME)
  try:
    with open(path) as f:
      saved = json.load(f)
  except FileNotFoundError as e:
    raise config_lib.ConfigError(
        f'{workdir} has no {FILENAME}: it is not the workdir of a training '
        f'run, or one from before runs recorded their config. Pass '
        f'the --workdir that train.py wrote to.') from e
  except (OSError, ValueError) as e:
    raise config_lib.ConfigError(
        f'{path} cannot be read ({type(e).__name__}: {e}).') from e
  return ml_collections.ConfigDict(saved)
