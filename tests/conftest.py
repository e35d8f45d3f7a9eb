"""Shared test helpers."""

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest


def _share_compiled_programs():
  """One persistent XLA compilation cache for the whole test session.

  Most of the suite's time went to XLA compiling the same tiny programs
  again, in every test and in every process that a test starts. The pytest
  process, its xdist workers and their subprocesses inherit the environment,
  so all of them share the one new, empty directory that the first of them
  makes (and removes at exit). A cached program is the executable that
  compiling would give; an entry read half written is compiled again.
  A cache that the environment already names is used as it is.
  """
  if 'JAX_COMPILATION_CACHE_DIR' in os.environ:
    return
  cache = tempfile.mkdtemp(prefix='mixer_jax_tests_xla_cache_')
  atexit.register(shutil.rmtree, cache, ignore_errors=True)
  os.environ.update(JAX_COMPILATION_CACHE_DIR=cache,
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')


# Before anything imports jax, which reads these when it is imported.
_share_compiled_programs()

from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def process_env(*xla_flags):
  """The environment of a JAX process that a test starts (a run, a worker).

  On the CPU, and with LLVM's optimisations off: most of such a process's
  time goes to compiling programs that then run for milliseconds, and at
  -O0 LLVM compiles the same HLO, after the same XLA passes, with about 40%
  less CPU (tests/train_test.py's pmap processes: 46 s at the default level,
  27 s at 0, 2026-12-01, docs/BENCHMARKS.md). The processes' results are
  compared with each other, or within a tolerance. The tests' own processes
  keep the default: there the randaugment tests compare two programs pixel
  for pixel, and at -O0 a few pixels in 700 images rounded apart.
  """
  flags = ' '.join([os.environ.get('XLA_FLAGS', ''),
                    '--xla_backend_optimization_level=0', *xla_flags])
  return dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=flags.strip())

def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: whole training runs, most in processes of their own; '
      'python -m pytest -m "not slow" tests leaves them out.')


REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted((REPO / 'configs').glob('*.py'))
SHARED_TFDS = REPO.parent / 'shared' / 'data' / 'tfds'


def load_config(path, arg=None):
  return config_lib.load_config_file(path, arg)


@pytest.fixture
def shared_tfds_dir():
  if not (SHARED_TFDS / 'cifar10').is_dir():
    pytest.skip(f'no prepared CIFAR-10 at {SHARED_TFDS}')
  return str(SHARED_TFDS)


def load_seed_config(name):
  """configs/{name}.py: the seed's models and recipe (config_lib.seed_config)."""
  return load_config(REPO / 'configs' / f'{name}.py')


def tiny_config(**overrides):
  """The slides' hybrid on CIFAR-10 shrunk to a model that trains in
  seconds."""
  return _shrunk(load_config(REPO / 'configs' / 'slides_hybrid_cifar10.py'),
                 **overrides)


def tiny_seed_config(**overrides):
  """The seed's hybrid and recipe, shrunk like `tiny_config`: BatchNorm
  blocks after the embedding and after Mixer block 1, the seed's
  augmentations, a padded last batch."""
  return _shrunk(load_seed_config('hybrid_cifar10'), **overrides)


def _shrunk(config, **overrides):
  config.model.patches.size = (8, 8)
  config.model.hidden_dim = 16
  config.model.num_blocks = 2
  config.model.tokens_mlp_dim = 8
  config.model.channels_mlp_dim = 32
  config.batch_size = 16
  config.eval_batch_size = 32
  config.num_train_steps = 6
  config.log_every_steps = 2
  config.eval_every_steps = 3
  config.checkpoint_every_steps = 3
  config.optimizer.warmup_epochs = 0.0
  return override(config, **overrides)


def override(config, **overrides):
  """Sets dotted fields, e.g. override(c, **{'model.locality.type': 'none'})."""
  return config_lib.override(config, overrides)


def nan_for_white_images(normalize):
  """`train.model_inputs` that turns all-white images into NaNs: a batch of
  them makes a non-finite step."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  def poisoned(config, images):
    white = jnp.all(images == 255, axis=(-3, -2, -1), keepdims=True)
    return jnp.where(white, jnp.nan, normalize(config, images))
  return poisoned


@pytest.fixture
def mock_tfds(monkeypatch):
  """tfds.testing.mock_data, whose builders are never prepared: its patched
  download_and_prepare downloads nothing, so the host check is moot."""
  from mixer_jax import input_pipeline  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(input_pipeline, '_check_download_host', lambda _: None)
  return tfds.testing.mock_data
