"""Configs: command-line overrides and the checks that reject bad ones."""

import subprocess
import sys

import pytest

from mixer_jax import config_lib
from conftest import CONFIG_FILES, REPO, load_config, override


def test_the_experiment_configs_exist():
  assert {p.name for p in CONFIG_FILES} >= {
      f'{model}_{dataset}.py' for model in ('baseline', 'stem', 'hybrid')
      for dataset in ('cifar10', 'cifar100')} | {
          'nano_baseline_cifar10.py', 'slides_hybrid_cifar10.py'}


@pytest.mark.parametrize('path', CONFIG_FILES, ids=lambda p: p.name)
def test_configs_have_the_fields_others_rely_on(path):
  config = load_config(path)
  config_lib.validate(config)
  assert config.dataset in ('cifar10', 'cifar100')
  assert config.num_classes == {'cifar10': 10, 'cifar100': 100}[config.dataset]
  assert isinstance(config.seed, int)
  assert config.model.locality.type in ('none', 'dwsep')
  # A plain Mixer: the baselines, and vit_jax's for fine-tuning its own.
  plain = 'baseline' in path.name or path.name.startswith('finetune')
  assert plain == (config.model.locality.type == 'none')
  assert path.stem.split('_')[-1] == config.dataset
  assert 'python train.py --config=configs/' + path.name in load_doc(path)


def load_doc(path):
  return path.read_text().split('"""')[1]


def test_model_sizes_by_name():
  nano = config_lib.model_config('nano')
  assert (tuple(nano.patches.size), nano.hidden_dim, nano.num_blocks,
          nano.tokens_mlp_dim, nano.channels_mlp_dim) == ((4, 4), 128, 8, 64,
                                                          512)
  s4 = config_lib.model_config('S/4')
  assert (tuple(s4.patches.size), s4.hidden_dim, s4.num_blocks) == ((4, 4),
                                                                   512, 8)
  assert tuple(config_lib.model_config('L').patches.size) == (16, 16)


def test_overrides_from_the_command_line():
  script = (
      'from absl import app\n'
      'from ml_collections import config_flags\n'
      'CONFIG = config_flags.DEFINE_config_file("config")\n'
      'def main(_):\n'
      '  c = CONFIG.value\n'
      '  print(c.model.locality.kernel_size, c.model.locality.type,'
      ' c.tfds_data_dir, c.model.hidden_dim)\n'
      'app.run(main)\n')
  result = subprocess.run(
      [sys.executable, '-c', script,
       '--config=configs/slides_hybrid_cifar10.py:S/4',
       '--config.model.locality.kernel_size=5', '--config.tfds_data_dir=/data'],
      cwd=REPO, capture_output=True, text=True, check=True)
  assert result.stdout.split() == ['5', 'dwsep', '/data', '512']


def hybrid_config(**overrides):
  config = load_config(REPO / 'configs' / 'slides_hybrid_cifar10.py')
  return override(config, **overrides)


@pytest.mark.parametrize('overrides,message', [
    ({'model.patches.size': (5, 5)}, 'does not divide the image size 32'),
    ({'model.locality.kernel_size': 4}, 'kernel_size=4 must be a positive odd'),
    ({'model.locality.kernel_size': 0}, 'kernel_size=0 must be a positive odd'),
    ({'model.locality.kernel_size': -3},
     'kernel_size=-3 must be a positive odd'),
    ({'model.locality.type': 'conv'},
     "model.locality.type='conv' is not allowed"),
    ({'model.locality.activation': 'tanh'}, 'model.locality.activation'),
    ({'model.locality.placement': 'before'}, 'model.locality.placement'),
    ({'model.locality.norm': 'groupnorm'},
     "model.locality.norm='groupnorm' is not allowed; use one of ['none', "
     "'layernorm', 'batchnorm']"),
    ({'model.locality_at.every_k_blocks': 9},
     'every_k_blocks=9 must be an integer in [0, 8]'),
    ({'model.locality_at.every_k_blocks': -1},
     'every_k_blocks=-1 must be an integer in [0, 8]'),
    ({'model.locality_at.after_embedding': False}, 'no block is placed'),
    ({'model.locality.type': 'none', 'model.locality_at.inside_blocks': True},
     'locality_at.inside_blocks=True places a block, but '
     'config.model.locality.type is "none"'),
    ({'optimizer.schedule': 'cosine'},
     "optimizer.schedule='cosine' is not allowed; use one of "
     "['warmup_cosine', 'cosine_wave', 'epoch_cosine']"),
    ({'optimizer.weight_decay_on': 'biases'},
     "optimizer.weight_decay_on='biases' is not allowed; use one of "
     "['kernels', 'all']"),
    ({'optimizer.weight_decay': -0.1}, 'optimizer.weight_decay=-0.1 must be'),
    ({'optimizer.grad_clip_norm': -1.0}, 'optimizer.grad_clip_norm=-1.0'),
    ({'optimizer.schedule': 'cosine_wave', 'optimizer.cosine_wave_t_max': 0},
     'optimizer.cosine_wave_t_max=0 must be > 0'),
    ({'augment.rotate_degrees': -15.0},
     'augment.rotate_degrees=-15.0 must be in [0, 180]'),
    ({'augment.brightness': 1.5}, 'augment.brightness=1.5 must be in [0, 1]'),
    ({'augment.contrast': -0.1}, 'augment.contrast=-0.1 must be in [0, 1]'),
    ({'augment.saturation': 2.0}, 'augment.saturation=2.0 must be in [0, 1]'),
    ({'augment.hue': 0.6}, 'augment.hue=0.6 must be in [0, 0.5]'),
    ({'augment.erase_prob': 1.1}, 'augment.erase_prob=1.1 must be in [0, 1]'),
    ({'augment.erase_area': (0.5, 0.2)},
     'augment.erase_area=(0.5, 0.2) must be a pair (lo, hi) with 0 < lo <= '
     'hi <= 1'),
    ({'augment.erase_area': (0.0, 0.2)}, 'augment.erase_area=(0.0, 0.2)'),
    ({'augment.erase_ratio': (3.3, 0.3)}, 'augment.erase_ratio=(3.3, 0.3)'),
    ({'model.dropout_rate': 1.0}, 'model.dropout_rate=1.0 must be in [0, 1)'),
    ({'model.stochastic_depth_rate': 1.0}, 'stochastic_depth_rate=1.0'),
    ({'dataset': 'mnist'}, "dataset='mnist' is not allowed"),
    ({'dataset': 'imagenet2012'}, "dataset='imagenet2012' is not allowed"),
    ({'num_classes': 100}, 'cifar10 has 10 classes'),
    ({'train_fraction': 0.0}, 'train_fraction=0.0 must be in (0, 1]'),
    ({'train_fraction': 1.5}, 'train_fraction=1.5 must be in (0, 1]'),
    ({'batch_size': 0}, 'batch_size=0 must be > 0'),
    ({'batch_size': -8}, 'batch_size=-8 must be > 0'),
    ({'optimizer.learning_rate': 0.0}, 'learning_rate=0.0 must be > 0'),
    ({'num_epochs': -1.0}, 'num_epochs=-1.0 must be > 0'),
    ({'num_epochs': 0.0}, 'num_epochs=0.0 must be > 0'),
    ({'num_train_steps': 0}, 'num_train_steps=0 must be > 0'),
    ({'compute_dtype': 'float16'}, "compute_dtype='float16'"),
    ({'label_smoothing': 1.0}, 'label_smoothing=1.0'),
    ({'eval_splits': ()}, 'eval_splits is empty'),
    ({'eval_splits': ('test', 'val')}, "eval_splits='val' is not allowed"),
    ({'eval_splits': ('test', 'test')}, 'names a split twice'),
    ({'eval_splits': ('validation',)}, 'validation_size is 0'),
    ({'eval_splits': ('train_clean',), 'train_clean_size': 0},
     'train_clean_size=0 must be > 0'),
])
def test_inconsistent_configs_are_rejected_naming_the_field(overrides,
                                                            message):
  config = hybrid_config(**overrides)
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config)
  assert message in str(error.value)


@pytest.mark.parametrize('block_type,field,value', [
    ('avgpool', 'activation', 'gelu'), ('avgpool', 'norm', 'batchnorm'),
    ('avgpool', 'use_bias', False), ('avgpool', 'placement', 'after'),
    ('pointwise', 'kernel_size', 5), ('pointwise', 'placement', 'after'),
    ('depthwise', 'norm', 'layernorm'), ('none', 'residual', True),
])
def test_a_field_that_a_block_type_does_not_read_must_keep_its_default(
    block_type, field, value):
  config = hybrid_config(**{'model.locality.type': block_type,
                            f'model.locality.{field}': value})
  with pytest.raises(config_lib.ConfigError,
                     match=f'locality.{field}=.* does nothing for type '
                     f"'{block_type}'"):
    config_lib.validate(config)
  for other in config_lib.LOCALITY_TYPES:  # A type that reads it takes it.
    if field in config_lib.LOCALITY_FIELDS[other]:
      config_lib.validate(override(config, **{'model.locality.type': other}))


@pytest.mark.parametrize('variant,message', [
    ('XL', "Unknown model size 'XL'"),
    ('S/x', 'must be a positive integer'),
])
def test_unknown_model_sizes_are_rejected(variant, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    load_config(REPO / 'configs' / 'nano_baseline_cifar10.py', variant)


def test_the_seed_configs_hold_the_seed_notebooks_recipe():
  hybrid = load_config(REPO / 'configs' / 'hybrid_cifar10.py')
  assert (hybrid.model.hidden_dim, hybrid.model.num_blocks,
          hybrid.model.tokens_mlp_dim, hybrid.model.channels_mlp_dim,
          tuple(hybrid.model.patches.size)) == (128, 8, 64, 256, (4, 4))
  assert hybrid.model.dropout_rate == 0.15
  assert dict(hybrid.model.locality) == {
      'type': 'dwsep', 'kernel_size': 3, 'residual': False,
      'activation': 'gelu', 'norm': 'batchnorm', 'placement': 'after',
      'use_bias': False}
  assert dict(hybrid.model.locality_at) == {
      'after_embedding': True, 'every_k_blocks': 2, 'inside_blocks': False}
  optimizer = hybrid.optimizer
  assert (optimizer.learning_rate, optimizer.weight_decay,
          optimizer.weight_decay_on, optimizer.b1, optimizer.b2,
          optimizer.grad_clip_norm, optimizer.schedule,
          optimizer.cosine_wave_t_max) == (3e-3, 5e-4, 'all', 0.9, 0.999, 0.0,
                                           'cosine_wave', 30)
  assert (hybrid.batch_size, hybrid.num_epochs, hybrid.keep_partial_batch,
          hybrid.label_smoothing) == (128, 30.0, True, 0.0)
  augment = hybrid.augment
  assert (augment.crop_padding, augment.flip, augment.rotate_degrees,
          augment.brightness, augment.contrast, augment.saturation,
          augment.hue, augment.erase_prob, tuple(augment.erase_area),
          tuple(augment.erase_ratio), augment.mixup_alpha,
          augment.randaugment_layers) == (4, True, 15.0, 0.1, 0.1, 0.1, 0.02,
                                          0.1, (0.02, 0.33), (0.3, 3.3), 0.0,
                                          0)
  # The three seed models differ in where the block goes, and only there.
  for name, every in (('baseline', 0), ('stem', 0), ('hybrid', 2)):
    config = load_config(REPO / 'configs' / f'{name}_cifar10.py')
    assert config.model.locality_at.every_k_blocks == every
    assert config.model.locality.type == ('none' if name == 'baseline'
                                          else 'dwsep')
    for field in ('optimizer', 'augment', 'batch_size', 'num_epochs'):
      assert config[field] == hybrid[field], (name, field)


def test_an_unknown_seed_model_is_rejected():
  with pytest.raises(config_lib.ConfigError, match="Unknown seed model 'big'"):
    config_lib.seed_config('cifar10', 'big')
