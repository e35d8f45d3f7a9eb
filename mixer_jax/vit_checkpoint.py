"""vit_jax's checkpoint format: one .npz of arrays under '/'-joined paths.

Published Mixer checkpoints hold the parameters under their module paths
(`stem/kernel`, `MixerBlock_0/token_mixing/Dense_0/kernel`,
`pre_head_layer_norm/scale`, `head/bias`); vit_jax reads them with
`np.load(..., allow_pickle=False)` and splits the keys on '/'. A model of
this project adds BatchNorm statistics, which are no parameters: they go
under the separate prefix `batch_stats/`, so that a reader of parameters
sees them as one extra subtree it can ignore.
"""

import os
import tempfile
import zipfile

import flax
import numpy as np

from mixer_jax import checkpointing

BATCH_STATS = 'batch_stats'


def flatten(tree):
  """{'/'-joined path: leaf} of a nested dict."""
  return flax.traverse_util.flatten_dict(tree, sep='/')


def unflatten(flat):
  return flax.traverse_util.unflatten_dict(flat, sep='/')


def to_flat(variables):
  """{'/'-joined key: array} of model variables {'params', 'batch_stats'}."""
  flat = flatten(variables['params'])
  flat.update({f'{BATCH_STATS}/{path}': value for path, value in
               flatten(variables.get(BATCH_STATS, {})).items()})
  return flat


def from_flat(flat):
  """Model variables {'params': ..., 'batch_stats': ...} of a flat file."""
  prefix = BATCH_STATS + '/'
  stats = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
  params = {k: v for k, v in flat.items() if not k.startswith(prefix)}
  return {'params': unflatten(params), BATCH_STATS: unflatten(stats)}


def write(path, variables):
  """Writes `variables` to `path` (.npz), atomically."""
  directory = os.path.dirname(os.path.abspath(path))
  handle, temporary = tempfile.mkstemp(suffix='.npz', dir=directory)
  with os.fdopen(handle, 'wb') as f:
    np.savez(f, **{key: np.asarray(value)
                   for key, value in to_flat(variables).items()})
  os.replace(temporary, path)


def read(path):
  """{key: array} of a vit_jax-format .npz; a CheckpointError if it is not
  one (missing, damaged, or holding pickled objects, which are never
  loaded: unpickling runs code)."""
  try:
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
      raise ValueError('one array (.npy), not named arrays (.npz)')
    with npz:
      return {key: npz[key] for key in npz.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise checkpointing.CheckpointError(
        f'{path} is not a readable vit_jax-format .npz ({type(e).__name__}: '
        f'{e}). Pass a .npz of plain arrays under "/"-joined parameter paths '
        f'(as `python -m mixer_jax.export` writes, or a published Mixer '
        f'checkpoint), or a workdir of this project.') from e
