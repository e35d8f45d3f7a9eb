"""Shared test helpers."""

import importlib.util
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted((REPO / 'configs').glob('*.py'))
SHARED_TFDS = REPO.parent / 'shared' / 'data' / 'tfds'


def load_config(path, arg=None):
  """Loads `get_config` from a config file, as config_flags does."""
  spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config() if arg is None else module.get_config(arg)


@pytest.fixture
def shared_tfds_dir():
  if not (SHARED_TFDS / 'cifar10').is_dir():
    pytest.skip(f'no prepared CIFAR-10 at {SHARED_TFDS}')
  return str(SHARED_TFDS)
