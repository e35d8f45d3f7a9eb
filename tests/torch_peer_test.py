"""The PyTorch peer in benchmarks/ is the same model as mixer_jax's."""

import functools
import importlib.util
import math

import jax
import jax.numpy as jnp
import pytest

from conftest import REPO
from mixer_jax import config_lib
from mixer_jax import train

torch = pytest.importorskip('torch')

# benchmarks/ is a folder of scripts, not a package.
_SPEC = importlib.util.spec_from_file_location(
    'torch_peer', REPO / 'benchmarks' / 'torch_peer.py')
torch_peer = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(torch_peer)

MODELS = [('nano', 'baseline'), ('nano', 'stem'), ('seed', 'baseline'),
          ('seed', 'hybrid')]


def jax_config(model, blocks):
  if model == 'seed':
    return config_lib.seed_config('cifar10', blocks)
  locality_type = {'baseline': 'none', 'stem': 'dwsep'}[blocks]
  return config_lib.get_config('cifar10', model, locality_type)


@functools.lru_cache(maxsize=None)
def jax_params(model, blocks):
  """The JAX model's parameter shapes, by module name."""
  jax_model = train.create_model(jax_config(model, blocks))
  variables = jax.eval_shape(lambda: jax_model.init(
      {'params': jax.random.PRNGKey(0), 'dropout': jax.random.PRNGKey(1)},
      jnp.zeros((2, 32, 32, 3)), train=False))
  return variables['params']


def jax_num_params(model, blocks):
  return sum(x.size for x in jax.tree.leaves(jax_params(model, blocks)))


def random_batch(batch_size):
  return (torch.randn(batch_size, 3, 32, 32),
          torch.randint(10, (batch_size,)))


@pytest.mark.parametrize('model,blocks', MODELS)
def test_parameter_counts_match_the_jax_model(model, blocks):
  assert torch_peer.num_params(torch_peer.build_model(model, blocks)) == (
      jax_num_params(model, blocks))


@pytest.mark.parametrize('model,blocks', MODELS)
def test_output_shape(model, blocks):
  logits = torch_peer.build_model(model, blocks)(random_batch(4)[0])
  assert logits.shape == (4, 10)


@pytest.mark.parametrize('model,blocks', MODELS)
def test_locality_blocks_sit_where_the_jax_models_are(model, blocks):
  torch_names = {
      name for name, layer in torch_peer.build_model(
          model, blocks).blocks.named_children()
      if isinstance(layer, torch_peer.LocalityBlock)}
  assert torch_names == {name for name in jax_params(model, blocks)
                         if name.startswith('locality')}


@pytest.mark.parametrize('blocks,expected', [('baseline', 0), ('hybrid', 5)])
def test_the_seed_models_have_one_batchnorm_per_locality_block(blocks,
                                                               expected):
  torch_model = torch_peer.build_model('seed', blocks)
  assert sum(isinstance(m, torch.nn.BatchNorm2d)
             for m in torch_model.modules()) == expected
  assert sum('norm' in params for name, params in jax_params(
      'seed', blocks).items() if name.startswith('locality')) == expected


def test_training_steps_update_every_parameter_and_batchnorm_statistic():
  torch.manual_seed(0)
  model = torch_peer.build_model('seed', 'hybrid')
  optimizer = torch_peer.make_optimizer(model)
  images, labels = random_batch(8)
  params = {n: p.detach().clone() for n, p in model.named_parameters()}
  stats = {n: b.clone() for n, b in model.named_buffers()}
  # Running mean, variance and batch count of each of the 5 BatchNorms.
  assert len(stats) == 15
  torch_peer.train_step(model, optimizer, images, labels)
  assert {n for n, b in model.named_buffers()
          if not torch.equal(b, stats[n])} == set(stats)
  # The zero head blocks gradients to the body on the first step (the
  # BatchNorm biases, zero, would not move); the second reaches everything.
  torch_peer.train_step(model, optimizer, images, labels)
  assert {n for n, p in model.named_parameters()
          if not torch.equal(p, params[n])} == set(params)


def test_a_bf16_autocast_step_gives_float32s_logits_to_bf16_precision():
  logits = {}
  for autocast in (False, True):
    torch.manual_seed(0)
    # PyTorch's head: a zero head's logits are 0 in any precision.
    model = torch_peer.build_model('seed', 'hybrid', zero_head=False)
    model.head.register_forward_hook(
        lambda module, inputs, output, autocast=autocast: logits.update(
            {autocast: output.detach()}))
    loss = torch_peer.train_step(model, torch_peer.make_optimizer(model),
                                 *random_batch(8), autocast=autocast)
    assert math.isfinite(loss.item())
  assert [logits[a].dtype for a in (False, True)] == [torch.float32,
                                                      torch.bfloat16]
  # bf16 keeps 3 significant digits: a body that went wrong in bf16 moves
  # the logits by about their spread (std ~0.08 here); rounding, by ~0.006.
  float32 = logits[False]
  torch.testing.assert_close(logits[True].float(), float32, rtol=0,
                             atol=0.25 * float32.std().item())


@pytest.mark.parametrize('precision', ['float32', 'bf16_autocast'])
def test_images_per_second_reports_a_row(precision):
  row = torch_peer.images_per_second('seed', 'hybrid', 2, precision=precision,
                                     steps=2, warmup=1, threads=1)
  assert row['images_per_sec'] > 0
  assert row['median_step_s'] == pytest.approx(2 / row['images_per_sec'])
  expected = {'model': 'seed_hybrid', 'batch': 2, 'precision': precision,
              'threads': 1, 'num_params': jax_num_params('seed', 'hybrid'),
              'error': None}
  assert {key: row[key] for key in expected} == expected

def test_images_per_second_rejects_an_unknown_precision():
  with pytest.raises(ValueError, match='float16'):
    torch_peer.images_per_second('nano', 'baseline', 2, precision='float16')
