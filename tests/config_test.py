"""Configs: command-line overrides and the checks that reject bad ones."""

import subprocess
import sys

import pytest

from mixer_jax import config_lib
from conftest import CONFIG_FILES, REPO, load_config, override


def test_the_four_experiment_configs_exist():
  assert {p.name for p in CONFIG_FILES} >= {
      'baseline_cifar10.py', 'hybrid_cifar10.py', 'baseline_cifar100.py',
      'hybrid_cifar100.py'}


@pytest.mark.parametrize('path', CONFIG_FILES, ids=lambda p: p.name)
def test_configs_have_the_fields_others_rely_on(path):
  config = load_config(path)
  config_lib.validate(config)
  assert config.dataset in ('cifar10', 'cifar100')
  assert config.num_classes == {'cifar10': 10, 'cifar100': 100}[config.dataset]
  assert isinstance(config.seed, int)
  assert config.model.stem.type in ('none', 'dwsep')
  assert ('hybrid' in path.name) == (config.model.stem.type == 'dwsep')
  assert path.stem.split('_')[1] == config.dataset
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
      '  print(c.model.stem.kernel_size, c.model.stem.type, c.tfds_data_dir,'
      ' c.model.hidden_dim)\n'
      'app.run(main)\n')
  result = subprocess.run(
      [sys.executable, '-c', script,
       '--config=configs/hybrid_cifar10.py:S/4',
       '--config.model.stem.kernel_size=5', '--config.tfds_data_dir=/data'],
      cwd=REPO, capture_output=True, text=True, check=True)
  assert result.stdout.split() == ['5', 'dwsep', '/data', '512']


def hybrid_config(**overrides):
  config = load_config(REPO / 'configs' / 'hybrid_cifar10.py')
  return override(config, **overrides)


@pytest.mark.parametrize('overrides,message', [
    ({'model.patches.size': (5, 5)}, 'does not divide the image size 32'),
    ({'model.stem.kernel_size': 4}, 'kernel_size=4 must be a positive odd'),
    ({'model.stem.kernel_size': 0}, 'kernel_size=0 must be a positive odd'),
    ({'model.stem.kernel_size': -3}, 'kernel_size=-3 must be a positive odd'),
    ({'model.stem.type': 'conv'}, "model.stem.type='conv' is not allowed"),
    ({'model.stem.activation': 'tanh'}, 'model.stem.activation'),
    ({'model.stem.placement': 'before'}, 'model.stem.placement'),
    ({'model.stochastic_depth_rate': 1.0}, 'stochastic_depth_rate=1.0'),
    ({'dataset': 'mnist'}, "dataset='mnist' is not allowed"),
    ({'num_classes': 100}, 'cifar10 has 10 classes'),
    ({'train_fraction': 0.0}, 'train_fraction=0.0 must be in (0, 1]'),
    ({'train_fraction': 1.5}, 'train_fraction=1.5 must be in (0, 1]'),
    ({'batch_size': 0}, 'batch_size=0 must be > 0'),
    ({'optimizer.learning_rate': 0.0}, 'learning_rate=0.0 must be > 0'),
    ({'num_epochs': -1.0}, 'num_epochs=-1.0 must be > 0'),
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


def test_avgpool_rejects_dwsep_only_options():
  config = hybrid_config(**{'model.stem.type': 'avgpool',
                            'model.stem.activation': 'gelu'})
  with pytest.raises(config_lib.ConfigError, match='dwsep stem only'):
    config_lib.validate(config)


@pytest.mark.parametrize('variant,message', [
    ('XL', "Unknown model size 'XL'"),
    ('S/x', 'must be a positive integer'),
])
def test_unknown_model_sizes_are_rejected(variant, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    load_config(REPO / 'configs' / 'baseline_cifar10.py', variant)
