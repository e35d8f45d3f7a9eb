"""Kills, restarts, non-finite values, damaged checkpoints and bad input."""

import os
import pathlib
import pickle
import re
import shutil
import signal
import subprocess
import sys

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import fast_malloc
from mixer_jax import host
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax.experiments.report import summaries
from conftest import (REPO, nan_for_white_images, process_env, tiny_config,
                      tiny_seed_config)

# Whole training runs, most in processes of their own: python -m pytest -m slow.
pytestmark = pytest.mark.slow

TINY_RUN = str(REPO / 'tests' / 'tiny_run.py')
FINAL_STEP = 9


def _tiny_run(workdir, kill_at=None, *flags, timeout=None, tunables=None):
  """tests/tiny_run.py, with GLIBC_TUNABLES=`tunables` or without any."""
  command = [sys.executable, TINY_RUN, str(workdir), *flags]
  if kill_at:
    command.append(f'--kill_at={kill_at}')
  env = process_env()
  env.pop('GLIBC_TUNABLES', None)
  if tunables:
    env['GLIBC_TUNABLES'] = tunables
  return subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                        env=env, timeout=timeout)


def _flat(tree):
  return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in
          jax.tree_util.tree_flatten_with_path(tree)[0]}


def _saved(workdir, step):
  """A saved train state as a flat {path: array}, straight from orbax."""
  manager = ocp.CheckpointManager(os.path.join(workdir, 'checkpoints'))
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore()))['state']
  manager.close()
  return _flat(restored)


def _assert_bitwise_equal(a, b):
  assert a.keys() == b.keys()
  for key in a:
    assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('uninterrupted')
  result = _tiny_run(workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def _logged_metrics(workdir):
  """{tag: [(step, value), ...]} from the TensorBoard logs, less the timings."""
  return {tag: values
          for tag, values in summaries.logged_scalars(workdir).items()
          if not tag.endswith(('_per_sec', 'uptime')) and 'timing' not in tag}


def test_same_config_and_seed_give_identical_runs(uninterrupted, tmp_path):
  # With the malloc tunables that the entry points restart with, and
  # without: they change where buffers live, not what is computed.
  result = _tiny_run(tmp_path, tunables=fast_malloc.MALLOC_TUNABLES)
  assert result.returncode == 0, result.stderr[-3000:]
  _assert_bitwise_equal(_saved(tmp_path, FINAL_STEP),
                        _saved(uninterrupted, FINAL_STEP))
  metrics = _logged_metrics(tmp_path)
  assert FINAL_STEP in dict(metrics['test_accuracy'])
  assert 1 in dict(metrics['train_loss'])
  assert metrics == _logged_metrics(uninterrupted)


# Saves are asynchronous: a kill soon after one started may leave it
# incomplete, and the restart then takes the one before.
@pytest.mark.parametrize('kill_at,resumes_from', [
    ('step:4', {2, 4}),  # Inside step 5.
    ('save:6', {2, 4}),  # During the save of step 6: that one is incomplete.
    ('eval:2', {4, 6}),  # During the eval at step 6, after its save began.
])
def test_sigkill_then_restart_matches_an_uninterrupted_run_bit_for_bit(
    uninterrupted, tmp_path, kill_at, resumes_from):
  killed = _tiny_run(tmp_path, kill_at)
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  restarted = _tiny_run(tmp_path)
  assert restarted.returncode == 0, restarted.stderr[-3000:]
  resumed = re.findall(r'Resuming from the checkpoint at step (\d+)',
                       restarted.stderr)
  assert len(resumed) == 1 and int(resumed[0]) in resumes_from
  _assert_bitwise_equal(_saved(tmp_path, FINAL_STEP),
                        _saved(uninterrupted, FINAL_STEP))


def _damage(checkpoint_dir):
  for path in checkpoint_dir.rglob('*'):
    if path.is_file() and 'state' in path.parts and path.stat().st_size > 0:
      path.write_bytes(b'\0' * 7)  # Truncated and zeroed.


def test_damaged_latest_checkpoint_is_reported_and_the_previous_used(
    uninterrupted, tmp_path):
  shutil.copytree(uninterrupted, tmp_path, dirs_exist_ok=True)
  _damage(tmp_path / 'checkpoints' / str(FINAL_STEP))
  restarted = _tiny_run(tmp_path)
  assert restarted.returncode == 0, restarted.stderr[-3000:]
  assert f'Checkpoint at step {FINAL_STEP}' in restarted.stderr
  assert 'is damaged' in restarted.stderr
  assert 'Resuming from the checkpoint at step 8' in restarted.stderr
  assert [p.name.split('.')[0] for p in
          (tmp_path / 'damaged_checkpoints').iterdir()] == [str(FINAL_STEP)]
  _assert_bitwise_equal(_saved(tmp_path, FINAL_STEP),
                        _saved(uninterrupted, FINAL_STEP))


def test_when_every_checkpoint_is_damaged_all_are_kept_and_it_starts_afresh(
    uninterrupted, tmp_path):
  shutil.copytree(uninterrupted, tmp_path, dirs_exist_ok=True)
  steps = sorted(p.name for p in (tmp_path / 'checkpoints').iterdir())
  for step in steps:
    _damage(tmp_path / 'checkpoints' / step)
  restarted = _tiny_run(tmp_path)
  assert restarted.returncode == 0, restarted.stderr[-3000:]
  assert (f'Every checkpoint in {tmp_path / "checkpoints"} was damaged' in
          restarted.stderr)
  assert 'Starting afresh from step 0' in restarted.stderr
  assert 'Resuming from' not in restarted.stderr
  assert sorted(p.name.split('.')[0] for p in
                (tmp_path / 'damaged_checkpoints').iterdir()) == steps
  _assert_bitwise_equal(_saved(tmp_path, FINAL_STEP),
                        _saved(uninterrupted, FINAL_STEP))


def test_sigterm_saves_the_current_step_and_resumes_from_exactly_it(
    uninterrupted, tmp_path):
  stopped = _tiny_run(tmp_path, None, '--sigterm_at=4')
  assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
  # SIGTERM came while step 5 was in flight: step 5 is saved, off-schedule.
  assert ('Stopped by SIGTERM (a preemption notice) after step 5; its '
          f'checkpoint is saved in {tmp_path / "checkpoints"}. Run the same '
          'command again to resume from step 5.') in stopped.stderr
  assert sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir()) == [
      2, 4, 5]
  restarted = _tiny_run(tmp_path)
  assert restarted.returncode == 0, restarted.stderr[-3000:]
  assert re.findall(r'Resuming from the checkpoint at step (\d+)',
                    restarted.stderr) == ['5']
  _assert_bitwise_equal(_saved(tmp_path, FINAL_STEP),
                        _saved(uninterrupted, FINAL_STEP))


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which('chattr'),
                    reason='root ignores permissions, and chattr is missing')
def test_a_save_that_cannot_be_written_stops_naming_the_directory(
    uninterrupted, tmp_path):
  directory = tmp_path / 'checkpoints'
  try:
    # An orbax save that fails to create its directory leaves threads that
    # hold the process for 300 s at exit; the run must not get that far.
    failed = _tiny_run(tmp_path, None, '--readonly_after_save=4', timeout=240)
  finally:
    if os.geteuid() == 0:
      subprocess.run(['chattr', '-i', str(directory)], check=False)
    os.chmod(directory, 0o755)
  assert failed.returncode == 2, failed.stderr[-3000:]
  assert f'error: Could not write a checkpoint to {directory} (' in (
      failed.stderr)
  assert 'The checkpoints already there are intact' in failed.stderr
  assert sorted(int(p.name) for p in directory.iterdir()) == [2, 4]
  assert _saved(tmp_path, 4)  # Intact: it restores.
  restarted = _tiny_run(tmp_path)
  assert restarted.returncode == 0, restarted.stderr[-3000:]
  assert 'Resuming from the checkpoint at step 4' in restarted.stderr
  _assert_bitwise_equal(_saved(tmp_path, FINAL_STEP),
                        _saved(uninterrupted, FINAL_STEP))


def _train_py_on_devices(workdir, devices, tfds_dir):
  """train.py on `devices` simulated CPU devices, a tiny model, periodic
  saves and two evaluations of the whole 10,000-image test split in 100
  batches each."""
  flags = {'config.tfds_data_dir': tfds_dir, 'config.train_count': 320,
           'config.model.hidden_dim': 16, 'config.model.num_blocks': 2,
           'config.model.tokens_mlp_dim': 8,
           'config.model.channels_mlp_dim': 32, 'config.batch_size': 32,
           'config.num_train_steps': 8, 'config.eval_every_steps': 4,
           'config.checkpoint_every_steps': 2, 'config.log_every_steps': 2,
           'config.eval_batch_size': 100}
  command = [sys.executable, 'train.py',
             '--config=configs/slides_hybrid_cifar10.py',
             f'--workdir={workdir}'] + [f'--{k}={v}' for k, v in flags.items()]
  # At XLA's default level, not process_env's: the 20,000 images it
  # evaluates ran slower at -O0 than its programs compiled faster (the test
  # took 79 s against 64 s in CI, 2026-12-01).
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
  return subprocess.run(command, cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=600)


def test_a_multi_device_run_with_periodic_saves_evaluates_to_the_end(
    tmp_path, shared_tfds_dir):
  # 2 devices, where the rendezvous timeout was found; multihost_test.py
  # saves and evaluates over 4 (mock data, shorter evaluations).
  result = _train_py_on_devices(tmp_path, 2, shared_tfds_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert re.findall(r'step (\d+): test_loss', result.stderr) == ['4', '8']
  assert sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir()) == [
      4, 6, 8]


def _train_state(config, seed=0):
  return train.create_train_state(
      config, train.create_model(config),
      train.create_optimizer(config, lambda _: 1e-3), jax.random.PRNGKey(seed))


def test_checkpoint_of_another_model_is_refused_and_kept(uninterrupted,
                                                         tmp_path):
  shutil.copytree(uninterrupted, tmp_path, dirs_exist_ok=True)
  before = sorted(p.name for p in (tmp_path / 'checkpoints').iterdir())
  config = tiny_config(num_train_steps=12, **{'model.hidden_dim': 32})
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  template = _train_state(config)
  with pytest.raises(checkpointing.CheckpointError,
                     match='holds checkpoints of another model'):
    checkpoints.restore_latest(template)
  checkpoints.close()
  assert sorted(p.name for p in (tmp_path / 'checkpoints').iterdir()) == before


def test_a_checkpoint_resumes_under_other_initialisers(uninterrupted,
                                                       tmp_path):
  # They only say how a run starts; checkpoints from before the field existed
  # (the seed grid's archive) resume too.
  shutil.copytree(uninterrupted, tmp_path, dirs_exist_ok=True)
  made_with = tiny_seed_config().model.initialisers
  other = next(i for i in config_lib.INITIALISERS if i != made_with)
  config = tiny_seed_config(num_train_steps=12, batch_size=24,
                            **{'model.initialisers': other})
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  template = _train_state(config)
  restored = checkpoints.restore_latest(template)
  checkpoints.close()
  assert int(restored.step) == FINAL_STEP


def test_the_best_checkpoint_holds_the_best_steps_model_variables(tmp_path):
  config = tiny_seed_config()
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  states = {step: _train_state(config, seed=step) for step in (1, 2, 3)}
  for step, accuracy in ((1, 0.4), (2, 0.6), (3, 0.5)):
    checkpoints.save_if_best(states[step], step, accuracy)
  checkpoints.wait_until_finished()
  step, variables = checkpoints.restore_best()
  checkpoints.close()
  assert step == 2
  # Without the optimizer's moments: the best model is for evaluation.
  assert sorted(variables) == ['batch_stats', 'params']
  assert variables['batch_stats']
  _assert_bitwise_equal(_flat(variables), _flat(
      {'params': states[2].params, 'batch_stats': states[2].batch_stats}))


def test_a_best_checkpoint_of_another_model_is_refused(tmp_path):
  config = tiny_seed_config()
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  checkpoints.save_if_best(_train_state(config), 1, 0.5)
  checkpoints.close()
  other = checkpointing.Checkpoints(
      str(tmp_path), tiny_seed_config(**{'model.hidden_dim': 32}))
  with pytest.raises(checkpointing.CheckpointError,
                     match='holds a checkpoint of another model'):
    other.restore_best()
  other.close()


def _fingerprint_before_2026_12_06(config, stem_type='dwsep'):
  """What checkpoints recorded then for `tiny_seed_config`'s model: one
  `stem` for the block and its placement, and `token_conv_kernel_size`."""
  model = {k: v for k, v in checkpointing._model_fingerprint(config)['model']
           .items() if k not in ('locality', 'locality_at')}
  model['stem'] = dict(type=stem_type, kernel_size=3, residual=False,
                       activation='gelu', norm='batchnorm', placement='after',
                       use_bias=False, after_embedding=True,
                       interleave_every=2)
  model['token_conv_kernel_size'] = 0
  return {'num_classes': config.num_classes, 'model': model}


def _save_with_fingerprint(workdir, config, fingerprint, monkeypatch):
  with monkeypatch.context() as patch:
    patch.setattr(checkpointing, '_model_fingerprint', lambda _: fingerprint)
    checkpoints = checkpointing.Checkpoints(str(workdir), config)
  state = _train_state(config)
  checkpoints.save(state, 1)
  checkpoints.save_if_best(state, 1, 0.5)
  checkpoints.close()
  return state


def test_checkpoints_of_runs_begun_before_the_locality_config_split_resume(
    tmp_path, monkeypatch):
  config = tiny_seed_config()
  assert config.model.locality_at.every_k_blocks == 2  # As the old form says.
  state = _save_with_fingerprint(
      tmp_path, config, _fingerprint_before_2026_12_06(config), monkeypatch)
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  restored = checkpoints.restore_latest(_train_state(config, seed=1))
  step, variables = checkpoints.restore_best()
  checkpoints.close()
  _assert_bitwise_equal(_flat(restored.params), _flat(state.params))
  assert step == 1
  _assert_bitwise_equal(_flat(variables['params']), _flat(state.params))


def test_checkpoints_of_another_model_in_the_old_form_are_refused(
    tmp_path, monkeypatch):
  config = tiny_seed_config()
  _save_with_fingerprint(
      tmp_path, config,
      _fingerprint_before_2026_12_06(config, stem_type='pointwise'),
      monkeypatch)
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  with pytest.raises(checkpointing.CheckpointError,
                     match='another model .*locality pointwise'):
    checkpoints.restore_latest(_train_state(config))
  with pytest.raises(checkpointing.CheckpointError,
                     match='another model .*locality pointwise'):
    checkpoints.restore_best()
  checkpoints.close()


def test_a_best_checkpoint_of_the_old_format_gets_a_way_to_read_it(tmp_path):
  # Before 2026-11-30 the best checkpoint held the whole train state.
  config = tiny_seed_config()
  old = ocp.CheckpointManager(
      tmp_path / 'best', options=ocp.CheckpointManagerOptions(
          best_fn=lambda m: m['accuracy'], best_mode='max', create=True))
  old.save(1, args=ocp.args.Composite(
      state=ocp.args.StandardSave(
          flax.serialization.to_state_dict(_train_state(config))),
      model=ocp.args.JsonSave(checkpointing._model_fingerprint(config))),
           metrics={'accuracy': 0.5})
  old.close()
  checkpoints = checkpointing.Checkpoints(str(tmp_path), config)
  with pytest.raises(checkpointing.CheckpointError,
                     match='format before 2026-11-30.*"state" item'):
    checkpoints.restore_best()
  checkpoints.close()


def test_checkpoints_hold_no_pickles(uninterrupted, monkeypatch):
  for path in pathlib.Path(uninterrupted).rglob('*'):
    if path.is_file():
      assert not path.read_bytes()[:2].startswith(b'\x80'), path

  def refuse(*args, **kwargs):
    raise AssertionError('a checkpoint restore unpickled something')

  monkeypatch.setattr(pickle, 'load', refuse)
  monkeypatch.setattr(pickle, 'loads', refuse)
  assert _saved(uninterrupted, FINAL_STEP)


def _poisoned_batches(original, poisoned_step):
  def batches(split, batch_size, seed, start_step=0, *args):
    for step, batch in enumerate(
        original(split, batch_size, seed, start_step, *args), start_step):
      if step == poisoned_step:
        batch = dict(batch, image=np.full_like(batch['image'], 255))
      yield batch
  return batches


@pytest.fixture
def poisoned_at_step_5(monkeypatch):
  """The 5th batch (index 4) is all white, which normalises to NaN."""
  monkeypatch.setattr(train, 'model_inputs',
                      nan_for_white_images(train.model_inputs))
  monkeypatch.setattr(input_pipeline, 'train_batches',
                      _poisoned_batches(input_pipeline.train_batches, 4))


def test_non_finite_loss_stops_naming_the_step_and_keeps_good_checkpoints(
    tmp_path, mock_tfds, poisoned_at_step_5):
  config = tiny_config(num_train_steps=8, log_every_steps=4,
                       checkpoint_every_steps=2, eval_every_steps=100,
                       **{'augment.crop_padding': 0})
  with mock_tfds(num_examples=64):
    with pytest.raises(host.NonFiniteError,
                       match=r'Non-finite loss and gradient norm at step 5'):
      train.train_and_evaluate(config, str(tmp_path))
  # Step 5 was poisoned: the checkpoint of step 4 holds the state before it,
  # and none was written after it.
  assert sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir()) == [
      2, 4]
  for step in (2, 4):
    assert all(np.all(np.isfinite(a)) for a in _saved(tmp_path, step).values()
               if a.dtype.kind == 'f' and a.ndim)


def test_non_finite_steps_can_be_skipped_and_counted(tmp_path, mock_tfds,
                                                     poisoned_at_step_5):
  config = tiny_config(num_train_steps=8, on_non_finite='skip',
                       **{'augment.crop_padding': 0})
  with mock_tfds(num_examples=64):
    result = train.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(result['test_loss'])
  state = _saved(tmp_path, 8)
  assert state["['non_finite']['count']"] == 1
  assert state["['non_finite']['first_step']"] == 5
  assert all(np.all(np.isfinite(a)) for k, a in state.items()
             if a.dtype.kind == 'f' and 'non_finite' not in k)
