"""`config.init_from` from vit_jax-format files, without training.

The reference tree is made by a Mixer written here after the structure of
vit_jax's `models_mixer.py` (its module names, its forward pass), so that
the test checks the names and the forward pass against an independent
model, not MlpMixer against itself.
"""

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import init_from
from mixer_jax import train
from mixer_jax import vit_checkpoint


# vit_jax names modules by class: MlpBlock, MixerBlock.
class MlpBlock(nn.Module):
  mlp_dim: int

  @nn.compact
  def __call__(self, x):
    y = nn.gelu(nn.Dense(self.mlp_dim)(x))
    return nn.Dense(x.shape[-1])(y)


class MixerBlock(nn.Module):
  tokens_mlp_dim: int
  channels_mlp_dim: int

  @nn.compact
  def __call__(self, x):
    y = jnp.swapaxes(nn.LayerNorm()(x), 1, 2)
    y = MlpBlock(self.tokens_mlp_dim, name='token_mixing')(y)
    x = x + jnp.swapaxes(y, 1, 2)
    return x + MlpBlock(self.channels_mlp_dim, name='channel_mixing')(
        nn.LayerNorm()(x))


class VitMixer(nn.Module):
  patch: int
  num_classes: int
  num_blocks: int
  hidden_dim: int
  tokens_mlp_dim: int
  channels_mlp_dim: int

  @nn.compact
  def __call__(self, images):
    p = (self.patch, self.patch)
    x = nn.Conv(self.hidden_dim, p, strides=p, name='stem')(images)
    n, h, w, c = x.shape
    x = x.reshape(n, h * w, c)
    for _ in range(self.num_blocks):
      x = MixerBlock(self.tokens_mlp_dim, self.channels_mlp_dim)(x)
    x = jnp.mean(nn.LayerNorm(name='pre_head_layer_norm')(x), axis=1)
    return nn.Dense(self.num_classes, name='head')(x)


def _plain_config(**overrides):
  return tiny_config(**{'model.locality.type': 'none', **overrides})


def _vit_reference(config, num_classes=None):
  """(vit_jax-named module, its params with random values everywhere)."""
  m = config.model
  reference = VitMixer(m.patches.size[0], num_classes or config.num_classes,
                        m.num_blocks, m.hidden_dim, m.tokens_mlp_dim,
                        m.channels_mlp_dim)
  params = reference.init(jax.random.PRNGKey(1), jnp.zeros((1, 32, 32, 3)))
  leaves, tree = jax.tree.flatten(params['params'])
  keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
  return reference, jax.tree.unflatten(tree, [
      0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def _write_npz(path, params, **extra):
  np.savez(path, **{k: np.asarray(v) for k, v in
                    vit_checkpoint.flatten(params).items()}, **extra)
  return str(path)


def _initial_state(config):
  """The state a run starts from: its fresh values, then init_from's."""
  model = train.create_model(config)
  state = train.create_train_state(
      config, model, train.create_optimizer(config, 1e-3),
      jax.random.PRNGKey(0))
  return state, init_from.apply(state, init_from.load(config, model))


def _logits(config, state, images):
  return train.create_model(config).apply(
      {'params': state.params, 'batch_stats': state.batch_stats}, images,
      train=False)


def _flat(tree):
  return {k: np.asarray(v) for k, v in vit_checkpoint.flatten(
      flax.core.unfreeze(tree)).items()}


IMAGES = jnp.asarray(np.random.RandomState(0).normal(size=(3, 32, 32, 3)),
                     jnp.float32)


def test_a_vit_jax_mixer_checkpoint_gives_its_logits(tmp_path):
  config = _plain_config()
  reference, params = _vit_reference(config)
  config.init_from = _write_npz(tmp_path / 'vit.npz', params)
  _, state = _initial_state(config)
  np.testing.assert_allclose(
      _logits(config, state, IMAGES),
      reference.apply({'params': params}, IMAGES), rtol=1e-5, atol=1e-5)


def test_a_hybrid_loads_the_mixer_and_keeps_its_locality_blocks_fresh(
    tmp_path):
  plain = _plain_config()
  _, params = _vit_reference(plain)
  config = tiny_config(init_from=_write_npz(tmp_path / 'vit.npz', params))
  fresh, state = _initial_state(config)
  loaded, fresh, file = _flat(state.params), _flat(fresh.params), _flat(params)
  locality = [k for k in loaded if k.startswith('locality_')]
  assert locality and set(loaded) == set(file) | set(locality)
  for key in file:
    np.testing.assert_array_equal(loaded[key], file[key], err_msg=key)
  for key in locality:
    np.testing.assert_array_equal(loaded[key], fresh[key], err_msg=key)


def test_a_head_for_other_classes_starts_as_a_new_models_head(tmp_path):
  config = _plain_config(dataset='cifar100', num_classes=100)
  _, params = _vit_reference(config, num_classes=10)
  config.init_from = _write_npz(tmp_path / 'vit.npz', params)
  fresh, state = _initial_state(config)
  loaded, fresh, file = _flat(state.params), _flat(fresh.params), _flat(params)
  assert set(loaded) == set(fresh)
  for key in loaded:
    want = fresh[key] if key.startswith('head/') else file[key]
    np.testing.assert_array_equal(loaded[key], want, err_msg=key)


@pytest.mark.parametrize('change,error,fragment', [
    ({'model.channels_mlp_dim': 64}, checkpointing.CheckpointError,
     'of another shape'),
    ({'model_input_size': 64}, checkpointing.CheckpointError,
     '--config.model_input_size=32'),
    ({'init_from': 'no/such.npz'}, config_lib.ConfigError, 'does not exist'),
])
def test_a_checkpoint_for_another_model_is_refused(tmp_path, change, error,
                                                   fragment):
  config = _plain_config()
  _, params = _vit_reference(config)
  config.init_from = _write_npz(tmp_path / 'vit.npz', params)
  config_lib.override(config, change)
  with pytest.raises(error, match=fragment):
    init_from.load(config, train.create_model(config))


def test_a_key_the_model_lacks_is_refused(tmp_path):
  config = _plain_config()
  _, params = _vit_reference(config)
  config.init_from = _write_npz(tmp_path / 'vit.npz', params,
                                **{'pre_logits/kernel': np.zeros((16, 16))})
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"does not have, e.g. \['pre_logits/kernel'\]"):
    init_from.load(config, train.create_model(config))


@pytest.mark.parametrize('content', ['pickled', 'garbage', 'npy'])
def test_an_unreadable_or_pickled_file_is_refused(tmp_path, content):
  path = tmp_path / 'model.npz'
  if content == 'pickled':
    np.savez(path, **{'head/kernel': np.array([{'code': 'runs'}],
                                              dtype=object)})
  elif content == 'garbage':
    path.write_bytes(b'\x80not a checkpoint' * 10)
  else:
    with open(path, 'wb') as f:
      np.save(f, np.zeros(3))
  config = _plain_config(init_from=str(path))
  with pytest.raises(checkpointing.CheckpointError,
                     match='not a readable vit_jax-format .npz'):
    init_from.load(config, train.create_model(config))


def test_a_directory_without_config_json_is_refused(tmp_path):
  config = _plain_config(init_from=str(tmp_path))
  with pytest.raises(config_lib.ConfigError, match='has no config.json'):
    init_from.load(config, train.create_model(config))


def test_images_are_resized_to_the_model_input_size():
  config = _plain_config(model_input_size=64)
  config_lib.validate(config)
  images = jnp.zeros((2, 32, 32, 3), jnp.uint8)
  assert train.model_inputs(config, images).shape == (2, 64, 64, 3)
  config.model_input_size = 60
  with pytest.raises(config_lib.ConfigError, match='does not divide'):
    config_lib.validate(config)


def test_sgd_takes_a_momentum_step():
  config = _plain_config(**{'optimizer.name': 'sgd',
                            'optimizer.weight_decay': 0.0,
                            'optimizer.grad_clip_norm': 0.0})
  tx = train.create_optimizer(config, 0.1)
  params, grads = {'w': jnp.ones(2)}, {'w': jnp.array([1.0, -2.0])}
  updates, opt_state = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates['w'], [-0.1, 0.2])
  updates, _ = tx.update(grads, opt_state, params)  # Trace: g + 0.9 g.
  np.testing.assert_allclose(updates['w'], [-0.19, 0.38], rtol=1e-6)
