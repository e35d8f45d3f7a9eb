"""The Mixer, the locality blocks and their parameter layout."""

import dataclasses

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_jax import config_lib
from mixer_jax import models
from conftest import CONFIG_FILES, REPO, load_config


def make_model(variant='nano', locality_type='none', num_classes=10,
               **locality):
  model_config = config_lib.model_config(variant, locality_type)
  model_config.locality.update(locality)
  return models.MlpMixer(num_classes=num_classes, **model_config)


def param_shapes(model, image_size):
  variables = jax.eval_shape(
      lambda: model.init(jax.random.PRNGKey(0),
                         jnp.zeros((1, image_size, image_size, 3)),
                         train=False))
  return flax.traverse_util.flatten_dict(variables['params'], sep='/')


def num_params(model, image_size):
  return sum(int(np.prod(s.shape))
             for s in param_shapes(model, image_size).values())


@pytest.mark.parametrize(
    'variant,image_size,num_classes,locality_type,expected', [
    ('B/16', 224, 1000, 'none', 59_880_472),
    ('B/32', 224, 1000, 'none', 60_293_428),
    ('L/16', 224, 1000, 'none', 208_196_168),
    ('nano', 32, 10, 'none', 1_132_170),
    ('nano', 32, 10, 'dwsep', 1_149_962),
])
def test_exact_parameter_counts(variant, image_size, num_classes,
                                locality_type, expected):
  model = make_model(variant, locality_type, num_classes)
  assert num_params(model, image_size) == expected


@pytest.mark.parametrize('kernel_size', [3, 5, 7])
def test_stem_adds_depthwise_plus_pointwise_parameters(kernel_size):
  c = 128
  baseline = num_params(make_model('nano'), 32)
  hybrid = num_params(make_model('nano', 'dwsep', kernel_size=kernel_size), 32)
  assert hybrid - baseline == kernel_size**2 * c + c + c * c + c


def test_avgpool_stem_has_no_parameters():
  assert (num_params(make_model('nano', 'avgpool'), 32) ==
          num_params(make_model('nano'), 32))


def test_parameter_tree_matches_vit_jax_layout():
  shapes = {k: v.shape for k, v in param_shapes(make_model('B/16', num_classes=1000), 224).items()}
  expected_block = {
      'LayerNorm_0/scale': (768,), 'LayerNorm_0/bias': (768,),
      'token_mixing/Dense_0/kernel': (196, 384),
      'token_mixing/Dense_0/bias': (384,),
      'token_mixing/Dense_1/kernel': (384, 196),
      'token_mixing/Dense_1/bias': (196,),
      'LayerNorm_1/scale': (768,), 'LayerNorm_1/bias': (768,),
      'channel_mixing/Dense_0/kernel': (768, 3072),
      'channel_mixing/Dense_0/bias': (3072,),
      'channel_mixing/Dense_1/kernel': (3072, 768),
      'channel_mixing/Dense_1/bias': (768,),
  }
  expected = {
      'stem/kernel': (16, 16, 3, 768), 'stem/bias': (768,),
      'pre_head_layer_norm/scale': (768,), 'pre_head_layer_norm/bias': (768,),
      'head/kernel': (768, 1000), 'head/bias': (1000,),
  }
  for i in range(12):
    expected.update({f'MixerBlock_{i}/{k}': v
                     for k, v in expected_block.items()})
  assert shapes == expected


def test_hybrid_stem_parameters_sit_under_their_own_names():
  shapes = param_shapes(make_model('nano', 'dwsep'), 32)
  stem = {k: v.shape for k, v in shapes.items() if k.startswith('locality_stem/')}
  assert stem == {
      'locality_stem/depthwise/kernel': (3, 3, 1, 128),
      'locality_stem/depthwise/bias': (128,),
      'locality_stem/pointwise/kernel': (1, 1, 128, 128),
      'locality_stem/pointwise/bias': (128,),
  }


def test_head_is_zero_initialised_and_blocks_use_tanh_gelu():
  model = make_model('nano')
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)),
                      train=False)['params']
  assert not np.any(params['head']['kernel'])
  x = jnp.linspace(-3, 3, 11)
  np.testing.assert_allclose(models.gelu(x),
                             jax.nn.gelu(x, approximate=True))
  assert not np.allclose(models.gelu(x), jax.nn.gelu(x, approximate=False))
  assert models.LAYER_NORM_EPSILON == 1e-6


@pytest.mark.parametrize('path', CONFIG_FILES, ids=lambda p: p.name)
def test_every_config_file_builds_a_model_with_the_right_output(path):
  config = load_config(path)
  config_lib.validate(config)
  model = models.MlpMixer(num_classes=config.num_classes, **config.model)
  images = jax.random.normal(jax.random.PRNGKey(0),
                             (2, config.image_size, config.image_size, 3))
  variables = model.init(jax.random.PRNGKey(1), images, train=False)
  logits = model.apply(variables, images, train=False)
  assert logits.shape == (2, config.num_classes)


@pytest.mark.parametrize('locality', [
    dict(locality_type='dwsep', kernel_size=5),
    dict(locality_type='dwsep', kernel_size=7, residual=True),
    dict(locality_type='dwsep', activation='gelu', norm='layernorm'),
    dict(locality_type='dwsep', activation='relu', placement='after'),
    dict(locality_type='pointwise', norm='batchnorm', activation='gelu'),
    dict(locality_type='depthwise', kernel_size=5, residual=True),
    dict(locality_type='avgpool'),
    dict(locality_type='avgpool', residual=True),
])
def test_locality_variants_keep_the_output_shape(locality):
  model = make_model('nano', **locality)
  images = jnp.ones((3, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(0), images, train=False)
  assert model.apply(variables, images, train=False).shape == (3, 10)


def test_identity_stem_reproduces_the_baseline():
  baseline, hybrid = make_model('nano'), make_model('nano', 'dwsep')
  images = jax.random.normal(jax.random.PRNGKey(0), (4, 32, 32, 3))
  params = hybrid.init(jax.random.PRNGKey(1), images, train=False)['params']
  # A non-zero head, so that the logits depend on everything before it.
  params['head']['kernel'] = jax.random.normal(jax.random.PRNGKey(2),
                                               params['head']['kernel'].shape)
  c = 128
  delta = np.zeros((3, 3, 1, c), np.float32)
  delta[1, 1] = 1.0
  params['locality_stem'] = {
      'depthwise': {'kernel': jnp.asarray(delta), 'bias': jnp.zeros(c)},
      'pointwise': {'kernel': jnp.eye(c)[None, None], 'bias': jnp.zeros(c)},
  }
  baseline_params = {k: v for k, v in params.items() if k != 'locality_stem'}
  hybrid_logits = hybrid.apply({'params': params}, images, train=False)
  baseline_logits = baseline.apply({'params': baseline_params}, images,
                                   train=False)
  np.testing.assert_allclose(hybrid_logits, baseline_logits, rtol=1e-5,
                             atol=1e-5)
  # And the stem really is in the path: a non-identity stem changes logits.
  params['locality_stem']['pointwise']['kernel'] *= 2.0
  assert not np.allclose(hybrid.apply({'params': params}, images, train=False),
                         baseline_logits, atol=1e-3)


@pytest.mark.parametrize('block_module,kernel_size', [
    (models.DwSepBlock, 3),
    (models.DwSepBlock, 5),
    (models.DepthwiseBlock, 3),
    (models.AvgPoolBlock, 3),
])
def test_locality_blocks_are_local(block_module, kernel_size):
  grid = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 16))
  block = block_module(kernel_size=kernel_size)
  variables = block.init(jax.random.PRNGKey(1), grid)
  row, col = 3, 4
  perturbed = grid.at[0, row, col].add(10.0)
  changed = np.any(
      np.abs(block.apply(variables, perturbed) - block.apply(variables, grid))
      > 1e-6, axis=-1)[0]
  r = kernel_size // 2
  expected = np.zeros((8, 8), bool)
  expected[row - r:row + r + 1, col - r:col + r + 1] = True
  assert changed.sum() == kernel_size**2  # The token and its neighbours...
  np.testing.assert_array_equal(changed, expected)  # ...and nothing else.


def test_each_locality_block_has_the_config_fields_of_its_type_only():
  assert set(models.LOCALITY_BLOCKS) == set(config_lib.LOCALITY_TYPES) - {
      'none'}
  for block_type, block in models.LOCALITY_BLOCKS.items():
    fields = {field.name for field in dataclasses.fields(block)}
    assert fields & set(config_lib.LOCALITY_DEFAULTS) == set(
        config_lib.LOCALITY_FIELDS[block_type]), block_type


def test_stochastic_depth_drops_whole_examples_and_only_in_training():
  block = models.MixerBlock(tokens_mlp_dim=8, channels_mlp_dim=16,
                            drop_path_rate=0.5)
  x = jax.random.normal(jax.random.PRNGKey(0), (256, 4, 8))
  variables = block.init(jax.random.PRNGKey(1), x)
  # Without the dropped branches the block is the identity on that example.
  train_out = block.apply(variables, x, train=True,
                          rngs={'dropout': jax.random.PRNGKey(2)})
  untouched = np.all(np.isclose(train_out, x), axis=(1, 2))
  # Both branches dropped with probability 1/4, example by example.
  assert 0.1 < untouched.mean() < 0.4
  eval_out = block.apply(variables, x, train=False)
  reference = models.MixerBlock(tokens_mlp_dim=8, channels_mlp_dim=16).apply(
      variables, x, train=False)
  np.testing.assert_allclose(eval_out, reference)


def test_stochastic_depth_grows_linearly_with_depth():
  model = make_model('nano').clone(stochastic_depth_rate=0.3, num_blocks=4)
  images = jnp.ones((2, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(0), images, train=False)
  rates = []

  def record_rate(next_fun, args, kwargs, context):
    if (isinstance(context.module, models.MixerBlock) and
        context.method_name == '__call__'):
      rates.append(context.module.drop_path_rate)
    return next_fun(*args, **kwargs)

  with flax.linen.intercept_methods(record_rate):
    model.apply(variables, images, train=True,
                rngs={'dropout': jax.random.PRNGKey(1)})
  np.testing.assert_allclose(rates, [0.0, 0.1, 0.2, 0.3])


def test_dropout_acts_in_training_only():
  model = make_model('nano').clone(dropout_rate=0.5)
  images = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(1), images, train=False)
  head = variables['params']['head']
  head['kernel'] = jax.random.normal(jax.random.PRNGKey(3),
                                     head['kernel'].shape)
  eval_logits = model.apply(variables, images, train=False)
  train_logits = model.apply(variables, images, train=True,
                             rngs={'dropout': jax.random.PRNGKey(2)})
  plain_logits = model.clone(dropout_rate=0.0).apply(variables, images,
                                                       train=False)
  np.testing.assert_allclose(eval_logits, plain_logits, rtol=1e-6)
  assert not np.allclose(train_logits, eval_logits)


def test_bfloat16_compute_keeps_float32_parameters_and_logits():
  model = make_model('nano', 'dwsep').clone(dtype=jnp.bfloat16)
  images = jnp.ones((2, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(0), images, train=False)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))
  assert model.apply(variables, images, train=False).dtype == jnp.float32


@pytest.mark.parametrize('variant,locality_type', [('nano', 'none'),
                                                   ('nano', 'dwsep'),
                                                   ('S/4', 'none'),
                                                   ('seed_hybrid', 'dwsep')])
def test_analytic_flops_match_xla_within_elementwise_work(variant,
                                                          locality_type):
  from mixer_jax import flops  # pylint: disable=g-import-not-at-top
  if variant == 'seed_hybrid':  # 5 blocks, BatchNorm, no conv biases.
    model_config = load_config(REPO / 'configs' /
                               'hybrid_cifar10.py').model
  else:
    model_config = config_lib.model_config(variant, locality_type)
  model = models.MlpMixer(num_classes=10, **model_config)
  images = jnp.zeros((4, 32, 32, 3))
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), images,
                                             train=False))
  compiled = jax.jit(lambda p, x: model.apply(p, x, train=False)).lower(
      params, images).compile()
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, list) else analysis
  xla = analysis['flops'] / 4
  analytic = flops.forward_flops(model_config, 32, 10)
  # XLA also counts norms, GELU and the like: a few percent more, never less.
  assert analytic <= xla <= 1.15 * analytic


def _seed_model(name, num_classes=10, **overrides):
  """`overrides`: dotted fields of `config.model`, e.g. locality.type."""
  config = load_config(REPO / 'configs' / f'{name}.py')
  config_lib.override(config.model, overrides)
  return models.MlpMixer(num_classes=num_classes, **config.model)


# The seed notebook's models, trainable parameters only (BatchNorm's running
# statistics are not parameters). Each block adds 9C + C^2 + 2C = 17,792.
@pytest.mark.parametrize('name,expected', [
    ('baseline_cifar10', 605_834),
    ('stem_cifar10', 623_626),
    ('hybrid_cifar10', 694_794),
    ('baseline_cifar100', 617_444),
    ('stem_cifar100', 635_236),
    ('hybrid_cifar100', 706_404),
])
def test_seed_models_have_the_seed_notebooks_parameter_counts(name, expected):
  num_classes = 100 if name.endswith('100') else 10
  assert num_params(_seed_model(name, num_classes), 32) == expected


def test_seed_hybrid_blocks_sit_after_the_embedding_and_every_second_block():
  variables = jax.eval_shape(lambda: _seed_model('hybrid_cifar10').init(
      jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), train=False))
  shapes = {k: v.shape for k, v in flax.traverse_util.flatten_dict(
      variables['params'], sep='/').items() if k.startswith('locality')}
  names = ['locality_stem'] + [f'locality_after_MixerBlock_{i}'
                               for i in (1, 3, 5, 7)]
  assert shapes == {f'{name}/{param}': shape for name in names
                    for param, shape in (
                        ('depthwise/kernel', (3, 3, 1, 128)),
                        ('pointwise/kernel', (1, 1, 128, 128)),
                        ('norm/scale', (128,)), ('norm/bias', (128,)))}
  stats = flax.traverse_util.flatten_dict(variables['batch_stats'], sep='/')
  assert sorted(stats) == sorted(f'{name}/norm/{s}' for name in names
                                 for s in ('mean', 'var'))


def test_seed_block_order_is_depthwise_pointwise_batchnorm_gelu():
  block = models.DwSepBlock(norm='batchnorm', activation='gelu',
                            placement='after', use_bias=False)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 16))
  variables = block.init(jax.random.PRNGKey(1), x)
  params = variables['params']
  y = jax.lax.conv_general_dilated(
      x, params['depthwise']['kernel'], (1, 1), 'SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=16)
  y = y @ params['pointwise']['kernel'][0, 0]
  y = (y - y.mean((0, 1, 2))) / jnp.sqrt(y.var((0, 1, 2)) + 1e-5)
  expected = jax.nn.gelu(y, approximate=True)
  got, _ = block.apply(variables, x, train=True, mutable=['batch_stats'])
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_pointwise_block_is_the_seed_block_without_the_depthwise_conv():
  seed = _seed_model('hybrid_cifar10')
  no_locality = _seed_model('hybrid_cifar10', **{
      'locality.type': 'pointwise', 'locality.placement': 'between'})
  with_conv, without_conv = (
      flax.traverse_util.flatten_dict(jax.eval_shape(
          lambda m=m: m.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)),
                             train=False))['params'], sep='/')
      for m in (seed, no_locality))
  assert sorted(without_conv) == sorted(
      k for k in with_conv if not k.endswith('depthwise/kernel'))
  assert num_params(seed, 32) - num_params(no_locality, 32) == 5 * 9 * 128


def _batch_norm(x, mask=None, **kwargs):
  norm = models.BatchNorm(**kwargs)
  variables = norm.init(jax.random.PRNGKey(0), x, train=False)
  y, updates = norm.apply(variables, x, train=True, mask=mask,
                          mutable=['batch_stats'])
  return norm, y, updates['batch_stats']


def test_batchnorm_trains_on_batch_statistics_and_evaluates_on_running_ones():
  x = 3.0 * jax.random.normal(jax.random.PRNGKey(0), (16, 4, 4, 8)) + 2.0
  norm, y, stats = _batch_norm(x)
  mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4,
                             atol=1e-4)
  n = 16 * 4 * 4
  # PyTorch's update: momentum 0.1 (flax's 0.9), unbiased running variance.
  np.testing.assert_allclose(stats['mean'], 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * var * n / (n - 1),
                             rtol=1e-5)
  params = {'scale': jnp.full((8,), 2.0), 'bias': jnp.full((8,), 0.5)}
  evaluated = norm.apply({'params': params, 'batch_stats': stats}, x,
                         train=False)
  np.testing.assert_allclose(
      evaluated, 2.0 * (x - stats['mean']) / np.sqrt(stats['var'] + 1e-5) +
      0.5, rtol=1e-4, atol=1e-4)


def test_batchnorm_statistics_ignore_masked_rows():
  x = jax.random.normal(jax.random.PRNGKey(0), (12, 4, 4, 8))
  padded = jnp.concatenate([x, jnp.full((4, 4, 4, 8), 1e6)])
  mask = jnp.arange(16) < 12
  _, y, stats = _batch_norm(padded, mask)
  _, y_real, stats_real = _batch_norm(x)
  np.testing.assert_allclose(y[:12], y_real, rtol=1e-5, atol=1e-5)
  for name in ('mean', 'var'):
    np.testing.assert_allclose(stats[name], stats_real[name], rtol=1e-5)


# A residual depthwise 3x3 conv inside every Mixer block (the seed grid's
# blockconv control).
_TOKEN_CONV = {'locality.type': 'depthwise', 'locality.residual': True,
               'locality_at.after_embedding': False,
               'locality_at.inside_blocks': True}


def test_a_depthwise_block_inside_every_mixer_block_is_a_residual_conv():
  baseline = _seed_model('baseline_cifar10')
  with_conv = _seed_model('baseline_cifar10', **_TOKEN_CONV)
  assert num_params(with_conv, 32) - num_params(baseline, 32) == 8 * (
      9 * 128 + 128)
  block = models.MixerBlock(8, 16, locality=dict(
      type='depthwise', kernel_size=3, residual=True, use_bias=True))
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 20, 4))
  variables = block.init(jax.random.PRNGKey(1), x, grid=(4, 5))
  assert variables['params']['token_conv']['kernel'].shape == (3, 3, 1, 4)
  # Zero conv weights: the block without it.
  zeroed = jax.tree.map(jnp.zeros_like, variables['params']['token_conv'])
  plain = models.MixerBlock(8, 16)
  np.testing.assert_allclose(
      block.apply({'params': {**variables['params'], 'token_conv': zeroed}},
                  x, grid=(4, 5)),
      plain.apply({'params': {k: v for k, v in variables['params'].items()
                              if k != 'token_conv'}}, x), rtol=1e-6)


def test_analytic_flops_count_every_locality_block():
  from mixer_jax import flops  # pylint: disable=g-import-not-at-top
  counts = {name: flops.forward_flops(
      load_config(REPO / 'configs' / f'{name}_cifar10.py').model, 32, 10)
            for name in ('baseline', 'stem', 'hybrid')}
  per_block = 2 * 64 * (9 * 128 + 128 * 128)  # 8x8 tokens, C = 128.
  assert counts['stem'] - counts['baseline'] == per_block
  assert counts['hybrid'] - counts['baseline'] == 5 * per_block


def _seed_hybrid_params(initialisers, **overrides):
  config = config_lib.seed_config('cifar10', 'hybrid')
  config_lib.override(config, {'model.initialisers': initialisers,
                               **overrides})
  model = models.MlpMixer(num_classes=10, **config.model)
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)),
                         train=False)
  return flax.traverse_util.flatten_dict(variables['params'], sep='/')


# fan_in of each layer of the seed Mixer (hidden 128, 64 tokens of 4x4x3).
_FAN_INS = {'stem': 48, 'token_mixing/Dense_0': 64,
            'token_mixing/Dense_1': 64, 'channel_mixing/Dense_0': 128,
            'channel_mixing/Dense_1': 256, 'depthwise': 9, 'pointwise': 128,
            'token_conv': 9, 'head': 128}


def test_pytorch_initialisers_draw_every_kernel_and_bias_as_torch_nn():
  # torch.nn's Linear and Conv2d: kernel and bias uniform in +-1/sqrt(fan_in).
  params = {**_seed_hybrid_params('pytorch', **{
      'model.locality.use_bias': True}), **_seed_hybrid_params('pytorch', **{
          'model.locality.type': 'depthwise', 'model.locality.residual': True,
          'model.locality.use_bias': True,
          'model.locality_at.every_k_blocks': 0,
          'model.locality_at.inside_blocks': True})}
  assert 'MixerBlock_7/token_conv/bias' in params
  checked = set()
  for name, value in params.items():
    parent = name.rsplit('/', 1)[0]
    layer = next((k for k in _FAN_INS
                  if parent == k or parent.endswith(f'/{k}')), None)
    if layer is None or name.endswith(('scale', 'norm/bias')):
      continue  # LayerNorm and BatchNorm start at 1 and 0 in both.
    bound = _FAN_INS[layer] ** -0.5
    value = np.asarray(value)
    assert np.abs(value).max() <= bound, name
    if value.size >= 64:  # Uniform: near the bound, spread as a uniform.
      assert np.abs(value).max() > 0.9 * bound, name
      assert np.std(value) == pytest.approx(bound / 3 ** 0.5, rel=0.2), name
    checked.add(name.rsplit('/', 1)[-1])
  assert checked == {'kernel', 'bias'}
  assert np.abs(params['head/kernel']).max() > 0  # Not zero, as torch's.


def test_initialisers_change_the_start_only():
  flax_params = _seed_hybrid_params('flax')
  pytorch_params = _seed_hybrid_params('pytorch')
  # The same tree, so checkpoints load either way; a resumed run ignores it.
  assert ({k: v.shape for k, v in flax_params.items()} ==
          {k: v.shape for k, v in pytorch_params.items()})
  assert not np.any(flax_params['head/kernel'])
  kernel = 'MixerBlock_0/token_mixing/Dense_0/kernel'
  # lecun-normal against a uniform with a third of its variance.
  assert np.std(np.asarray(flax_params[kernel])) == pytest.approx(
      3 ** 0.5 * np.std(np.asarray(pytorch_params[kernel])), rel=0.2)
  config = config_lib.seed_config('cifar10', 'hybrid')
  config.model.initialisers = 'torch'
  with pytest.raises(config_lib.ConfigError, match='model.initialisers'):
    config_lib.validate(config)
