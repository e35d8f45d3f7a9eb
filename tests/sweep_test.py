"""The sweep runner: a grid into one directory, finished runs skipped."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from unittest.mock import ANY

import pytest

from mixer_jax import config_lib
from mixer_jax import host
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax.experiments import archive as run_archive
from mixer_jax.experiments.report import grid_spec
from mixer_jax.experiments.report import groups
from mixer_jax.experiments.report import stats
from mixer_jax.experiments.report import summaries
from mixer_jax.experiments.report import tables
from mixer_jax.experiments import sweep
from conftest import REPO

# Whole training runs, most in processes of their own: python -m pytest -m slow.
pytestmark = pytest.mark.slow

TINY = {'model.patches.size': (8, 8), 'model.hidden_dim': 16,
        'model.num_blocks': 1, 'model.tokens_mlp_dim': 8,
        'model.channels_mlp_dim': 16, 'batch_size': 8, 'eval_batch_size': 16,
        'num_train_steps': 2, 'log_every_steps': 1,
        'eval_splits': ('test', 'train_clean'), 'train_clean_size': 8}
REPORT = {'title': 'Tiny', 'markdown': 'TINY.md', 'results_dir': 'tiny',
          'root': 'runs', 'baseline': 'baseline_cifar10',
          'hybrid': 'hybrid_cifar10'}


# The nano Mixer under this project's recipe, named as grids/small_data.py
# names it.
NANO_BASELINE = ('baseline_cifar10',
                 str(REPO / 'configs' / 'nano_baseline_cifar10.py'))
SLIDES_HYBRID = ('hybrid_cifar10',
                 str(REPO / 'configs' / 'slides_hybrid_cifar10.py'))


def _baseline_grid(tmp_path, overrides=TINY, seeds=(0,)):
  """A grid file of the baseline config at half of train, one run a seed."""
  grid_file = tmp_path / 'grid.py'
  grid_file.write_text(
      'from mixer_jax.experiments import sweep\n'
      'def get_grid():\n'
      f'  return sweep.grid([{NANO_BASELINE!r}]'
      f', {list(seeds)!r}, [0.5], {overrides!r})\n')
  return grid_file

def test_committed_grid_is_complete_and_paired():
  runs = config_lib.load_python_file(REPO / 'grids' / 'small_data.py'
                                     ).get_grid()
  names = [r['name'] for r in runs]
  assert len(names) == len(set(names)) == 27
  paired = [r for r in runs if r['overrides']['train_fraction'] == 0.1 and
            r['name'].startswith(('baseline_cifar10_frac',
                                  'hybrid_cifar10_frac'))]
  assert sorted(r['overrides']['seed'] for r in paired) == [0, 0, 1, 1, 2, 2]
  residual = [r for r in runs
              if r['name'].startswith('hybrid_cifar10_residual')]
  assert sorted((r['overrides']['train_fraction'], r['overrides']['seed'])
                for r in residual) == [(0.05, 0), (0.05, 1), (0.1, 0), (0.1, 1),
                                       (0.1, 2)]
  assert all(r['overrides']['subset_seed'] == r['overrides']['seed']
             for r in runs)


@pytest.mark.parametrize('config_file,trainable', [
    ('baseline_cifar10.py', 605_834),
    ('hybrid_cifar10.py', 694_794),  # + 5 x 2 x 128 BatchNorm statistics
])
def test_a_runs_parameter_count_leaves_out_batchnorm_statistics(
    config_file, trainable):
  config = config_lib.load_config_file(str(REPO / 'configs' / config_file))
  assert sweep.num_params(config) == trainable


def test_sweep_runs_each_run_once_and_skips_finished_ones(
    tmp_path, mock_tfds, monkeypatch):
  grid_file = tmp_path / 'grid.py'
  grid_file.write_text(
      'from mixer_jax.experiments import sweep\n'
      f'REPORT = {REPORT!r}\n'
      'def get_grid():\n'
      f'  return sweep.grid([{NANO_BASELINE!r}, {SLIDES_HYBRID!r}], [0, 1],'
      f' [0.5], '
      f'{TINY!r})\n')
  with mock_tfds(num_examples=40):
    results = sweep.run_all(str(grid_file), str(tmp_path / 'runs'))
  assert [r['name'] for r in results] == [
      'baseline_cifar10_frac0.5_seed0', 'hybrid_cifar10_frac0.5_seed0',
      'baseline_cifar10_frac0.5_seed1', 'hybrid_cifar10_frac0.5_seed1']
  assert all((tmp_path / 'runs' / r['name'] / 'result.json').exists()
             for r in results)

  def must_not_train(*args, **kwargs):
    raise AssertionError('a finished run was trained again')

  monkeypatch.setattr(train, 'train_and_evaluate', must_not_train)
  assert sweep.run_all(str(grid_file), str(tmp_path / 'runs')) == json.loads(
      json.dumps(results))

  # The report reads the same directory.
  runs = summaries.load_runs(tmp_path / 'runs')
  spec, _ = grid_spec.load_grid(grid_file)
  table = tables.results_table(groups.Results.from_runs(runs, spec)
                               ).splitlines()
  assert len(table) == 4
  baseline, hybrid = ([c.strip() for c in row.split('|')[1:-1]]
                      for row in table[2:])
  assert baseline[:4] == ['baseline_cifar10', '0.5', '2 steps', '2']
  assert hybrid[:4] == ['hybrid_cifar10', '0.5', '2 steps', '2']
  c = 16  # The stem's parameters, over the baseline's.
  assert (int(hybrid[4].replace(',', '')) - int(baseline[4].replace(',', ''))
          == 9 * c + c + c * c + c)
  gap = [r['eval']['train_clean_accuracy'] - r['eval']['test_accuracy']
         for r in runs if r['model'] == 'hybrid_cifar10']
  assert hybrid[9] == stats.mean_std(gap)
  assert hybrid[10] == stats.mean_std(
      [r['scalars']['train_loss'][-1][1] for r in runs
       if r['model'] == 'hybrid_cifar10'], scale=1, digits=3)
  assert hybrid[11].endswith('n=2') and hybrid[12] == baseline[11] == ''

  # The CLI writes a summary, and the summary alone regenerates the results.
  grid_arg = f'--grid={grid_file}'
  _report_cli(f'--root={tmp_path / "runs"}', grid_arg, f'--out={tmp_path}')
  results = (tmp_path / 'TINY.md').read_text()
  assert 'CIFAR-10 (JPEG copy)' in results and table[2] in results
  assert '4 of\n  4 runs of the grid are done' in results
  assert 'hybrid_cifar10 − baseline_cifar10' in results
  assert 'n=2 paired seeds' in results
  assert (tmp_path / 'tiny' / 'loss_curves.png').stat().st_size > 0
  assert (tmp_path / 'tiny' / 'accuracy_vs_fraction.png').stat().st_size > 0
  (tmp_path / 'again').mkdir()
  _report_cli(f'--summary={tmp_path / "tiny" / "runs.json"}', grid_arg,
              f'--out={tmp_path / "again"}')
  assert (tmp_path / 'again' / 'TINY.md').read_text() == results

  # A page takes only its own grid's runs from a directory that holds others.
  baseline_grid = tmp_path / 'baseline_only.py'
  baseline_grid.write_text(
      grid_file.read_text().replace(f', {SLIDES_HYBRID!r}', ''))
  _report_cli(f'--root={tmp_path / "runs"}', f'--grid={baseline_grid}',
              f'--out={tmp_path / "one"}')
  summary = json.loads((tmp_path / 'one' / 'tiny' / 'runs.json').read_text())
  assert [r['name'] for r in summary] == ['baseline_cifar10_frac0.5_seed0',
                                          'baseline_cifar10_frac0.5_seed1']


def test_a_run_claimed_by_another_sweep_process_is_left_to_it(
    tmp_path, mock_tfds):
  grid_file = _baseline_grid(tmp_path, seeds=[0, 1])
  claimed = tmp_path / 'runs' / 'baseline_cifar10_frac0.5_seed0'
  claimed.mkdir(parents=True)
  # Another process's claim: a lock on a separate open file description.
  with open(claimed / 'claim.lock', 'a') as other_worker:
    fcntl.flock(other_worker, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with mock_tfds(num_examples=40):
      results = sweep.run_all(str(grid_file), str(tmp_path / 'runs'))
    assert [r['name'] for r in results] == ['baseline_cifar10_frac0.5_seed1']
    assert not (claimed / 'result.json').exists()
  # Released (as when that process exits), the run is trained by the next pass.
  with mock_tfds(num_examples=40):
    results = sweep.run_all(str(grid_file), str(tmp_path / 'runs'))
  assert [r['name'] for r in results] == ['baseline_cifar10_frac0.5_seed0',
                                          'baseline_cifar10_frac0.5_seed1']
  assert (claimed / 'result.json').exists()


def _report_cli(*args):
  subprocess.run([sys.executable, '-m', 'mixer_jax.experiments.report', *args],
                 cwd=REPO, check=True, capture_output=True)


def test_a_preempted_run_moves_to_a_new_machine_through_the_archive(
    tmp_path, mock_tfds, monkeypatch):
  grid_file = _baseline_grid(tmp_path, {**TINY, 'num_train_steps': 7})
  archive = tmp_path / 'archive'
  name = 'baseline_cifar10_frac0.5_seed0'
  with mock_tfds(num_examples=40):
    uninterrupted = sweep.run_all(str(grid_file), str(tmp_path / 'machine0'))

  batches = input_pipeline.train_batches

  def sigterm_before_the_end(split, batch_size, seed, start_step=0, *args):
    for step, batch in enumerate(
        batches(split, batch_size, seed, start_step, *args), start_step):
      if step == 4:
        os.kill(os.getpid(), signal.SIGTERM)
      yield batch

  with monkeypatch.context() as patch, mock_tfds(num_examples=40), (
      pytest.raises(host.Preempted)):
    patch.setattr(input_pipeline, 'train_batches', sigterm_before_the_end)
    patch.setattr(sweep, '_machine', lambda: 'machine1')
    sweep.run_all(str(grid_file), str(tmp_path / 'machine1'), archive=archive)
  workdir = tmp_path / 'machine1' / name
  saved = _steps(workdir / 'checkpoints')
  assert len(saved) > 1 and max(saved) < 7
  with tarfile.open(archive / f'{name}.tar.gz') as tar:
    packed = tar.getnames()
    manifest = json.load(tar.extractfile('ARCHIVED.json'))
  assert manifest['finished'] is False and manifest['step'] == max(saved)
  assert 'config.json' in packed  # What evaluate and predict read.
  # Only the newest latest and best checkpoints travel.
  assert {'/'.join(p.split('/')[:2]) for p in packed
          if p.startswith(('checkpoints/', 'best/'))} == {
              f'checkpoints/{max(saved)}',
              f'best/{max(_steps(workdir / "best"))}'}
  first_logs = {p.name for p in workdir.glob('events.out.tfevents.*')}
  shutil.rmtree(tmp_path / 'machine1')  # The machine is gone.

  with monkeypatch.context() as patch, mock_tfds(num_examples=40):
    patch.setattr(sweep, '_machine', lambda: 'machine2')
    resumed = sweep.run_all(str(grid_file), str(tmp_path / 'machine2'),
                            archive=archive)
  assert resumed[0]['eval'] == uninterrupted[0]['eval']  # Bit for bit.
  # Its record says which steps each machine computed.
  assert [(s['step'], s['machine']) for s in resumed[0]['starts']] == [
      (0, 'machine1'), (max(saved), 'machine2')]
  # Resumed, not trained again: the first machine's logs came along.
  assert first_logs < {p.name for p in (tmp_path / 'machine2' / name).glob(
      'events.out.tfevents.*')}
  with tarfile.open(archive / f'{name}.tar.gz') as tar:
    packed = tar.getnames()
  assert {'result.json', 'config.json'} <= set(packed)
  assert not any(p.startswith(('checkpoints', 'best')) for p in packed)

  def must_not_train(*args, **kwargs):
    raise AssertionError('a finished run was trained again')

  monkeypatch.setattr(train, 'train_and_evaluate', must_not_train)
  assert sweep.run_all(str(grid_file), str(tmp_path / 'machine3'),
                       archive=archive) == json.loads(json.dumps(resumed))
  # Its curves span both machines, each step once.
  loss_steps = [step for step, _ in summaries.logged_scalars(
      tmp_path / 'machine3' / name)['train_loss']]
  assert loss_steps == list(range(1, 8))


def test_an_unwritable_archive_stops_the_sweep_before_any_training(
    tmp_path, monkeypatch):
  def must_not_train(*args, **kwargs):
    raise AssertionError('trained with an archive it cannot write')

  monkeypatch.setattr(train, 'train_and_evaluate', must_not_train)
  grid_file = _baseline_grid(tmp_path)
  (tmp_path / 'a_file').write_text('')
  with pytest.raises(config_lib.ConfigError,
                     match='--archive=.*cannot be written'):
    sweep.run_all(str(grid_file), str(tmp_path / 'runs'),
                  archive=str(tmp_path / 'a_file' / 'archive'))


def test_two_workers_pass_the_archive_check_at_once(tmp_path, monkeypatch):
  # The README starts both workers together on one --archive. Here the other
  # worker's whole check falls between this one's write and its cleanup, as
  # it did on 2026-11-30, when a shared probe name stopped worker 0.
  archive = str(tmp_path / 'archive')
  remove = os.remove
  other_worker_checked = []

  def remove_after_the_other_worker_checks(name):
    if not other_worker_checked:
      other_worker_checked.append(True)
      host.check_writable(archive, '--archive')
    remove(name)

  monkeypatch.setattr(os, 'remove', remove_after_the_other_worker_checks)
  host.check_writable(archive, '--archive')
  assert other_worker_checked
  assert os.listdir(archive) == []  # No probe left behind.


def test_an_archive_is_not_unpacked_over_a_workdir_with_state(
    tmp_path, caplog):
  workdir = tmp_path / 'run'
  (workdir / 'checkpoints' / '8').mkdir(parents=True)
  (workdir / 'events.out.tfevents.1').write_text('eight steps')
  run_archive.save(str(workdir), str(tmp_path / 'archive'), 'run')
  (workdir / 'checkpoints' / '12').mkdir()
  (workdir / 'events.out.tfevents.1').write_text('twelve steps')
  assert run_archive.restore(str(tmp_path / 'archive'), 'run',
                             str(workdir)) is None
  assert (workdir / 'events.out.tfevents.1').read_text() == 'twelve steps'
  assert 'older than the archive' not in caplog.text
  # Older local state is kept too, but said.
  older = tmp_path / 'older'
  (older / 'checkpoints' / '4').mkdir(parents=True)
  assert run_archive.restore(str(tmp_path / 'archive'), 'run',
                             str(older)) is None
  assert 'older than the archive' in caplog.text
  assert not (older / 'events.out.tfevents.1').exists()
  assert run_archive.restore(str(tmp_path / 'archive'), 'run',
                             str(tmp_path / 'new')) == {
                                 'finished': False, 'step': 8,
                                 'archived': ANY}
  assert (tmp_path / 'new' / 'events.out.tfevents.1').read_text() == (
      'eight steps')
  assert not (tmp_path / 'new' / 'ARCHIVED.json').exists()


def _steps(checkpoint_dir):
  return [int(p.name) for p in checkpoint_dir.iterdir() if p.name.isdigit()]


def _archived_step(archive, name):
  with tarfile.open(run_archive.path(archive, name)) as tar:
    return json.load(tar.extractfile('ARCHIVED.json'))['step']


def _wait_for(condition, seconds=30):
  deadline = time.monotonic() + seconds
  while not condition():
    assert time.monotonic() < deadline, 'waited in vain'
    time.sleep(0.01)


def test_a_training_run_is_archived_again_at_each_newer_checkpoint(tmp_path):
  workdir, archive = tmp_path / 'run', str(tmp_path / 'archive')
  (workdir / 'events.out.tfevents.1').parent.mkdir()
  (workdir / 'events.out.tfevents.1').write_text('logs')
  with run_archive.refreshing(str(workdir), archive, 'run', 0.01):
    time.sleep(0.1)  # No checkpoint yet: nothing to resume from, no archive.
    assert not os.path.exists(run_archive.path(archive, 'run'))
    (workdir / 'checkpoints' / '100').mkdir(parents=True)
    _wait_for(lambda: os.path.exists(run_archive.path(archive, 'run')))
    assert _archived_step(archive, 'run') == 100
    (workdir / 'checkpoints' / '200').mkdir()
    _wait_for(lambda: _archived_step(archive, 'run') == 200)
  packed_at = os.stat(run_archive.path(archive, 'run')).st_mtime_ns
  time.sleep(0.1)  # Stopped with the block.
  assert os.stat(run_archive.path(archive, 'run')).st_mtime_ns == packed_at


def test_a_failed_refresh_keeps_the_last_archive_and_tries_again(
    tmp_path, monkeypatch, caplog):
  workdir, archive = tmp_path / 'run', str(tmp_path / 'archive')
  (workdir / 'checkpoints' / '100').mkdir(parents=True)
  run_archive.save(str(workdir), archive, 'run')
  (workdir / 'checkpoints' / '200').mkdir()
  add = tarfile.TarFile.add
  failures = []

  def vanishing_twice(self, name, *args, **kwargs):
    if len(failures) < 2:  # As a replaced best checkpoint that orbax removed.
      failures.append(name)
      raise FileNotFoundError(name)
    return add(self, name, *args, **kwargs)

  monkeypatch.setattr(tarfile.TarFile, 'add', vanishing_twice)
  with pytest.raises(FileNotFoundError):
    run_archive.save(str(workdir), archive, 'run')
  assert os.listdir(archive) == ['run.tar.gz']  # No half-written file left.
  assert _archived_step(archive, 'run') == 100
  with run_archive.refreshing(str(workdir), archive, 'run', 0.01):
    _wait_for(lambda: _archived_step(archive, 'run') == 200)
  assert len(failures) == 2 and 'refreshing its archive failed' in caplog.text


def test_the_sweep_refreshes_the_archive_of_the_run_it_trains(
    tmp_path, monkeypatch):
  grid_file = _baseline_grid(tmp_path)
  archive = str(tmp_path / 'archive')
  name = 'baseline_cifar10_frac0.5_seed0'
  while_training = []

  def train_until_archived(run, workdir, common_overrides):
    os.makedirs(os.path.join(workdir, 'checkpoints', '100'))
    _wait_for(lambda: os.path.exists(run_archive.path(archive, name)))
    while_training.append(_archived_step(archive, name))
    return {'name': run['name']}

  monkeypatch.setattr(sweep, '_train', train_until_archived)
  sweep.run_all(str(grid_file), str(tmp_path / 'runs'), archive=archive,
                archive_every_minutes=0.01 / 60)
  assert while_training == [100]
  with tarfile.open(run_archive.path(archive, name)) as tar:
    assert 'result.json' in tar.getnames()  # The finished run's came last.
  with pytest.raises(config_lib.ConfigError,
                     match='--archive_every_minutes=-1 is negative'):
    sweep.run_all(str(grid_file), str(tmp_path / 'runs'), archive=archive,
                  archive_every_minutes=-1)


def test_a_grid_model_may_be_named_apart_from_its_config_file():
  runs = sweep.grid([('seed_hybrid_cifar10', 'configs/hybrid_cifar10.py'),
                     'configs/stem_cifar10.py'], [1], [0.1], suffix='_x')
  assert [(r['name'], r['config']) for r in runs] == [
      ('seed_hybrid_cifar10_x_frac0.1_seed1', 'configs/hybrid_cifar10.py'),
      ('stem_cifar10_x_frac0.1_seed1', 'configs/stem_cifar10.py')]
