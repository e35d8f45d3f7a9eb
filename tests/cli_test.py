"""`train.py` refuses bad input with a message and exit code 2, no traceback.

Every case fails before anything is compiled (and most before data loads).
Each case here takes a way of its own through the command line: absl's
parsing, the config file's loading, an override, or a check of the run. The
checks' other messages are tested in-process (config_test.py), where one
costs milliseconds, not the 8 s of CPU that a process takes to start.
"""

import os
import subprocess
import sys

import pytest

from conftest import REPO, SHARED_TFDS

# Whole training runs, most in processes of their own: python -m pytest -m slow.
pytestmark = pytest.mark.slow

HYBRID = '--config=configs/hybrid_cifar10.py'


def _train_py(tmp_path, *args, env=None):
  command = [sys.executable, 'train.py', f'--workdir={tmp_path / "run"}',
             *args]
  return subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                        timeout=300,
                        env=dict(os.environ, JAX_PLATFORMS='cpu', **(env or {})))


def _assert_refused(result, *fragments):
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr, result.stderr[-2000:]
  error = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert error, result.stderr[-2000:]
  for fragment in fragments:
    assert fragment in error[-1]


@pytest.mark.parametrize('args,fragments', [
    # The file cannot be read; it names no such model size.
    pytest.param(['--config=configs/missing.py'],
                 ['configs/missing.py', 'cannot be read'], id='missing_file'),
    pytest.param(['--config=configs/hybrid_cifar10.py:XL'],
                 ["Unknown model size 'XL'"], id='unknown_model_size'),
    # An override: of no field; of a value absl cannot parse.
    pytest.param([HYBRID, '--config.no_such_field=3'], ['no_such_field'],
                 id='unknown_field'),
    pytest.param([HYBRID, '--config.batch_size=abc'],
                 ['--config.batch_size=abc'], id='unparsable_value'),
    # Values that parse but that the run's checks refuse: a negative number,
    # which a parser can take for a flag, and a nested tuple.
    pytest.param([HYBRID, '--config.batch_size=-8'],
                 ['config.batch_size=-8 must be > 0'], id='negative_value'),
    pytest.param([HYBRID, '--config.model.patches.size=(5, 5)'],
                 ['patches.size=(5, 5) does not divide the image size 32'],
                 id='patches_not_dividing_the_image'),
])
def test_bad_config_is_refused(tmp_path, args, fragments):
  _assert_refused(_train_py(tmp_path, *args), *fragments)


def test_config_file_without_get_config_is_refused(tmp_path):
  config_file = tmp_path / 'empty_config.py'
  config_file.write_text('LEARNING_RATE = 1e-3\n')
  _assert_refused(_train_py(tmp_path, f'--config={config_file}'),
                  'defines no get_config()')


def test_batch_that_does_not_divide_over_the_devices_is_refused(tmp_path):
  result = _train_py(
      tmp_path, HYBRID, '--config.batch_size=129',
      env={'XLA_FLAGS': '--xla_force_host_platform_device_count=2'})
  _assert_refused(result, 'batch_size=129 does not divide evenly over 2')


def test_unwritable_workdir_is_refused(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('')
  result = subprocess.run(
      [sys.executable, 'train.py', HYBRID, f'--workdir={blocker}/run'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  _assert_refused(result, f'--workdir={blocker}/run cannot be written')


def test_batch_larger_than_the_training_subset_is_refused(tmp_path,
                                                          shared_tfds_dir):
  result = _train_py(tmp_path, HYBRID,
                     f'--config.tfds_data_dir={shared_tfds_dir}',
                     '--config.train_count=100')
  _assert_refused(result, 'batch_size=128 is larger than the 100 training')


def test_corrupted_tfds_files_are_reported(tmp_path):
  prepared = tmp_path / 'tfds' / 'cifar10' / '3.0.2'
  prepared.mkdir(parents=True)
  source = SHARED_TFDS / 'cifar10' / '3.0.2'
  if not source.is_dir():
    pytest.skip('needs the metadata of the shared CIFAR-10 copy')
  for path in source.iterdir():
    data = path.read_bytes()
    # Same names, same metadata; the record shards are garbage.
    prepared.joinpath(path.name).write_bytes(
        b'\x07' * 4096 if 'tfrecord' in path.name else data)
  result = _train_py(tmp_path, HYBRID,
                     f'--config.tfds_data_dir={tmp_path / "tfds"}')
  _assert_refused(result, 'The files may be damaged', str(prepared.parent))


def test_a_misspelt_override_gets_the_closest_field(tmp_path):
  result = _train_py(tmp_path, HYBRID, '--config.model.locality.knel_size=3')
  _assert_refused(result, '--config.model.locality.knel_size: '
                  'config.model.locality has no field `knel_size`. Did you '
                  'mean `kernel_size`? Its fields: activation, kernel_size, ')
