"""The sweep's status: each run's step, from its workdir or its archive."""

import json

from absl import app
import pytest

from mixer_jax import config_lib
from mixer_jax import input_pipeline
from mixer_jax.experiments import archive as run_archive
from mixer_jax.experiments import status
from mixer_jax.experiments import sweep
from conftest import REPO

RUNS = ('finished', 'archive_ahead', 'workdir_ahead', 'not_started',
        'with_validation')


def _grid_file(tmp_path):
  """Five runs of the seed's baseline, 30 epochs: four on 10% of CIFAR-10,
  one on all of it less 5,000 held out for validation."""
  config = str(REPO / 'configs' / 'baseline_cifar10.py')
  runs = [{'name': name, 'config': config,
           'overrides': {'train_fraction': 0.1}} for name in RUNS[:-1]]
  runs.append({'name': RUNS[-1], 'config': config,
               'overrides': {'validation_size': 5000}})
  grid_file = tmp_path / 'grid.py'
  grid_file.write_text(f'def get_grid():\n  return {runs!r}\n')
  return grid_file


def _checkpoint(workdir, step):
  (workdir / 'checkpoints' / str(step)).mkdir(parents=True)


def test_each_run_is_as_far_as_its_workdir_or_archive_and_as_long_as_training(
    tmp_path, shared_tfds_dir):
  root, archive = tmp_path / 'runs', tmp_path / 'archive'
  (root / 'finished').mkdir(parents=True)
  (root / 'finished' / 'result.json').write_text(json.dumps({}))
  _checkpoint(root / 'archive_ahead', 300)
  elsewhere = tmp_path / 'elsewhere'
  _checkpoint(elsewhere, 500)
  for name in ('archive_ahead', 'workdir_ahead'):
    run_archive.save(str(elsewhere), str(archive), name)
  _checkpoint(root / 'workdir_ahead', 700)

  statuses = status.grid_status(
      _grid_file(tmp_path), str(root), str(archive),
      {'tfds_data_dir': shared_tfds_dir})
  # 5,000 images, 40 batches of 128 an epoch; 45,000, 352 (the last partial).
  assert [(s.name, s.finished, s.step, s.num_train_steps, s.steps_left)
          for s in statuses] == [
              ('finished', True, 0, 1200, 0),
              ('archive_ahead', False, 500, 1200, 700),
              ('workdir_ahead', False, 700, 1200, 500),
              ('not_started', False, 0, 1200, 1200),
              ('with_validation', False, 0, 10_560, 10_560)]
  # Without the archive, only the workdirs count.
  assert [s.step for s in status.grid_status(
      _grid_file(tmp_path), str(root), None,
      {'tfds_data_dir': shared_tfds_dir})][1:3] == [300, 700]

  lines = status.describe(statuses, str(archive)).splitlines()
  assert lines[0] == '1 of 5 runs finished.'
  assert lines[1].split() == ['unfinished', 'run', 'step', 'left', 'left',
                              'up', 'to', 'it']
  assert [line.split() for line in lines[2:-1]] == [
      ['archive_ahead', '500', 'of', '1,200', '700', '700'],
      ['workdir_ahead', '700', 'of', '1,200', '500', '1,200'],
      ['not_started', '0', 'of', '1,200', '1,200', '2,400'],
      ['with_validation', '0', 'of', '10,560', '10,560', '12,960']]
  assert lines[-1] == (f'12,960 steps left in 4 runs, 2 of them started '
                       f'(newest of workdirs and {archive}).')


def test_set_items_are_read_as_json_where_they_parse_and_refused_without_equals():
  assert sweep.parse_overrides(['tfds_data_dir=../d', 'seed=3',
                                'eval_splits=["test"]', 'note=a=b']) == {
                                    'tfds_data_dir': '../d', 'seed': 3,
                                    'eval_splits': ['test'], 'note': 'a=b'}
  with pytest.raises(app.UsageError, match='--set=seed is not FIELD=VALUE'):
    sweep.parse_overrides(['seed'])


def test_a_grid_entry_with_a_bad_setting_is_named_before_any_data_is_read(
    tmp_path):
  grid_file = tmp_path / 'grid.py'
  grid_file.write_text(
      'def get_grid():\n'
      f'  return [{{"name": "r", "config": "{REPO}/configs/baseline_cifar10.py",'
      ' "overrides": {"train_fraction": 2.0}}]\n')
  with pytest.raises(config_lib.ConfigError, match='train_fraction'):
    status.grid_status(grid_file, str(tmp_path / 'runs'), None,
                       {'tfds_data_dir': str(tmp_path / 'no_data')})


def test_a_validation_hold_out_that_leaves_no_training_data_is_refused(
    tmp_path, shared_tfds_dir):
  grid_file = tmp_path / 'grid.py'
  grid_file.write_text(
      'def get_grid():\n'
      f'  return [{{"name": "r", "config": "{REPO}/configs/baseline_cifar10.py",'
      ' "overrides": {"validation_size": 50000}}]\n')
  with pytest.raises(input_pipeline.DataError,
                     match='validation_size=50000 leaves no training data'):
    status.grid_status(grid_file, str(tmp_path / 'runs'), None,
                       {'tfds_data_dir': shared_tfds_dir})
