"""`config.init_from`: a run that starts from a trained model.

PATH is a vit_jax-format .npz (a published Mixer checkpoint, or what
`python -m mixer_jax.export` writes) or a workdir of this project (its best
model). As vit_jax's `load_pretrained` does, the file's parameters replace
the new model's initial values where the names match; unlike it, every
mismatch is refused before anything is compiled, with what to change:

* a head for another number of classes starts fresh (as a new model's head);
* parameters the file lacks (the locality blocks of a hybrid loaded from a
  plain Mixer) start fresh; the log names what was loaded and what not;
* a key the model lacks, or of another shape, is an error; one of the token
  MLP's shape names the image size that the checkpoint needs.

The optimizer state starts fresh. Only a run that starts calls `load`: a
resumed run continues from its own checkpoints.
"""

import math
import os

from absl import logging
import jax
import jax.numpy as jnp

from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import run_config
from mixer_jax import trained
from mixer_jax import vit_checkpoint

# The token MLP's first kernel: [tokens, tokens_mlp_dim], so its first axis
# is the number of patches the checkpoint was trained on.
TOKEN_KERNEL = 'MixerBlock_0/token_mixing/Dense_0/kernel'
HEAD = 'head/'


def _read(path):
  """{'/'-joined key: array} of PATH, a .npz file or a workdir."""
  if os.path.isdir(path):
    source_config = run_config.load(path)
    _, variables = trained.best_variables(path, source_config)
    return vit_checkpoint.to_flat(variables)
  if not os.path.exists(path):
    raise config_lib.ConfigError(
        f'config.init_from={path} does not exist; pass a vit_jax-format .npz '
        f'or a workdir of this project.')
  return vit_checkpoint.read(path)


def _expected(config, model):
  """{key: shape} of the model's variables, in the file's flat keys."""
  size = config.model_input_size
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)), train=False))
  return {key: tuple(leaf.shape)
          for key, leaf in vit_checkpoint.to_flat(shapes).items()}


def _check_token_count(config, path, flat, expected):
  if TOKEN_KERNEL not in flat or TOKEN_KERNEL not in expected:
    return
  tokens, wanted = flat[TOKEN_KERNEL].shape[0], expected[TOKEN_KERNEL][0]
  if tokens == wanted:
    return
  patch = config.model.patches.size[0]
  side = math.isqrt(tokens)
  needs = (f'--config.model_input_size={side * patch} (images of '
           f'{side * patch}x{side * patch} at patch {patch})'
           if side * side == tokens else 'another patch size')
  raise checkpointing.CheckpointError(
      f'{path} was trained on {tokens} tokens per image; this model makes '
      f'{wanted} ({config.model_input_size}x{config.model_input_size} images '
      f'at patch {patch}). A Mixer cannot change resolution: set {needs}.')


def _modules(keys):
  """The top-level modules of `keys`, batch statistics with their module."""
  prefix = vit_checkpoint.BATCH_STATS + '/'
  return sorted({key.removeprefix(prefix).split('/')[0] for key in keys})


def _check(config, path, flat, expected):
  """The keys of `flat` to load; refuses what cannot be loaded."""
  _check_token_count(config, path, flat, expected)
  unknown = sorted(set(flat) - set(expected))
  if unknown:
    raise checkpointing.CheckpointError(
        f'{path} holds {len(unknown)} key(s) this model does not have, e.g. '
        f'{unknown[:4]}. Configure the model the checkpoint was trained as '
        f'(config.model: size, num_blocks, stem); its keys are '
        f'{_modules(flat)}.')
  new_head = {key for key in flat if key.startswith(HEAD) and
              flat[key].shape != expected[key]}
  if new_head:
    logging.info('init_from: the head of %s is for %d classes; it starts '
                 'fresh for %d.', path, flat['head/bias'].shape[0],
                 config.num_classes)
  wrong = [f'{key} {flat[key].shape} (the model: {expected[key]})'
           for key in sorted(set(flat) - new_head)
           if flat[key].shape != expected[key]]
  if wrong:
    raise checkpointing.CheckpointError(
        f'{path} holds {len(wrong)} key(s) of another shape than this model '
        f'has, e.g. {wrong[:4]}. Configure the model the checkpoint was '
        f'trained as (config.model: hidden_dim, tokens_mlp_dim, '
        f'channels_mlp_dim, patches).')
  return set(flat) - new_head


def load(config, model):
  """The variables of config.init_from to start `model` from, checked, as
  {flat key: array}; None when config.init_from is ''."""
  if not config.init_from:
    return None
  path = config.init_from
  flat = _read(path)
  expected = _expected(config, model)
  loading = _check(config, path, flat, expected)
  fresh = _modules(set(expected) - loading)
  loaded = [module for module in _modules(loading) if module not in fresh]
  logging.info('init_from %s: loaded %s; started fresh: %s.', path,
               ', '.join(loaded) or 'nothing', ', '.join(fresh) or 'nothing')
  return {key: flat[key] for key in loading}


def apply(state, pretrained):
  """`state` with the variables of `pretrained` (from `load`) and a fresh
  optimizer state; `state` itself when there are none."""
  if pretrained is None:
    return state
  flat = vit_checkpoint.to_flat({'params': state.params,
                                 'batch_stats': state.batch_stats})
  flat.update({key: jnp.asarray(value, flat[key].dtype)
               for key, value in pretrained.items()})
  variables = vit_checkpoint.from_flat(flat)
  return state.replace(params=variables['params'],
                       batch_stats=variables['batch_stats'],
                       opt_state=state.tx.init(variables['params']))
