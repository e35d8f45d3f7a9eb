"""The training system: one real step, whole tiny runs, resume, eval counts."""

import functools
import json
import logging
import os
import subprocess
import sys

from clu import periodic_actions
import flax
from flax import jax_utils
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mixer_jax import host
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax import trained
from mixer_jax.experiments.report import summaries
from conftest import (REPO, load_config, load_seed_config, nan_for_white_images,
                      override, process_env, tiny_config, tiny_seed_config)


def _setup(config, num_train_examples=64):
  schedule = train.learning_rate_schedule(
      config, num_train_examples // config.batch_size, config.num_train_steps)
  model = train.create_model(config)
  state = train.create_train_state(config, model,
                                   train.create_optimizer(config, schedule),
                                   jax.random.PRNGKey(0))
  p_step = jax.pmap(functools.partial(train.train_step, config=config,
                                      schedule=schedule), axis_name=train.AXIS)
  return state, p_step


def _random_split(n, seed=0):
  rng = np.random.default_rng(seed)
  return input_pipeline.Split(
      rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
      rng.integers(0, 10, (n,), dtype=np.int32))


def test_one_real_train_step():
  config = tiny_config()
  state, p_step = _setup(config)
  batches = input_pipeline.train_batches(_random_split(64), 16, seed=0)
  key = jax_utils.replicate(jax.random.PRNGKey(1))
  new_state, metrics = p_step(jax_utils.replicate(state), next(batches), key)
  summary = jax_utils.unreplicate(metrics).compute()
  # The zero-initialised head predicts uniformly at first...
  np.testing.assert_allclose(summary['loss'], np.log(10), rtol=1e-5)
  # ...so only the head has gradients; a second step reaches every parameter.
  new_state, metrics = p_step(new_state, next(batches), key)
  new_state = jax_utils.unreplicate(new_state)
  assert int(new_state.step) == 2
  assert np.isfinite(jax_utils.unreplicate(metrics).compute()['loss'])
  changed = jax.tree.map(lambda a, b: not np.array_equal(a, b),
                         state.params, new_state.params)
  assert all(jax.tree.leaves(changed))
  assert int(new_state.non_finite.count) == 0


@pytest.mark.parametrize('decay_on', ['kernels', 'all'])
def test_weight_decay_reaches_exactly_the_parameters_it_is_set_on(decay_on):
  # The seed's hybrid holds every kind of parameter: kernels, biases,
  # LayerNorm and BatchNorm scales and biases, the head.
  config = tiny_seed_config(**{'optimizer.weight_decay': 0.5,
                               'optimizer.weight_decay_on': decay_on})
  state, _ = _setup(config)
  # Non-zero everywhere: the init's biases and head are zero.
  params = jax.tree.map(lambda p: p + 0.5, state.params)
  flat_params = flax.traverse_util.flatten_dict(params, sep='/')
  assert all(np.all(p != 0) for p in flat_params.values())
  assert {name.split('/')[-2] for name in flat_params} >= {
      'LayerNorm_0', 'norm', 'head', 'stem', 'Dense_0'}
  # Zero gradients leave only the decay in the update. optax counts steps
  # in its own state: three real updates first, for step 3's rate.
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  opt_state = state.tx.init(params)
  for _ in range(3):
    _, opt_state = state.tx.update(zero_grads, opt_state, params)
  updates, _ = state.tx.update(zero_grads, opt_state, params)
  rate = _seed_rate(3 / 30)
  for name, update in flax.traverse_util.flatten_dict(updates,
                                                      sep='/').items():
    decays = decay_on == 'all' or name.endswith('kernel')
    np.testing.assert_allclose(
        update, -rate * 0.5 * flat_params[name] if decays else 0.0,
        rtol=1e-5, err_msg=name)


def _train(config, workdir):
  return train.train_and_evaluate(config, str(workdir))


@pytest.mark.slow
def test_tiny_run_on_mock_data_writes_logs_and_checkpoints(tmp_path, mock_tfds):
  config = tiny_config()
  with mock_tfds(num_examples=70):
    result = _train(config, tmp_path)
  assert sorted(result) == ['test_accuracy', 'test_loss']
  assert 0.0 <= result['test_accuracy'] <= 1.0
  assert np.isfinite(result['test_loss'])
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(tmp_path))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['3', '6']
  assert os.listdir(tmp_path / 'best')


@pytest.mark.slow
def test_a_relative_workdir_gets_its_checkpoints(tmp_path, mock_tfds,
                                                 monkeypatch):
  monkeypatch.chdir(tmp_path)
  with mock_tfds(num_examples=70):
    _train(tiny_config(), 'relative/workdir')
  workdir = tmp_path / 'relative' / 'workdir'
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['3', '6']
  assert os.listdir(workdir / 'best')


@pytest.mark.slow
def test_a_run_at_another_input_size_trains_the_model_of_that_size(
    tmp_path, mock_tfds):
  # 48x48 inputs in patches of 8: 36 tokens, not the 16 of 32x32 images.
  config = tiny_config(model_input_size=48, num_train_steps=2,
                       eval_every_steps=2, checkpoint_every_steps=2)
  with mock_tfds(num_examples=40):
    result = _train(config, tmp_path)
  assert np.isfinite(result['test_loss'])
  _, variables = trained.best_variables(str(tmp_path), config)
  token_mixing = variables['params']['MixerBlock_0']['token_mixing']
  assert token_mixing['Dense_0']['kernel'].shape[0] == 36


@pytest.mark.slow
def test_cifar100_config_trains_on_mock_data(tmp_path, mock_tfds):
  config = tiny_config()
  config.dataset, config.num_classes = 'cifar100', 100
  with mock_tfds(num_examples=40):
    result = _train(config, tmp_path)
  assert np.isfinite(result['test_loss'])
  _, variables = trained.best_variables(str(tmp_path), config)
  assert variables['params']['head']['kernel'].shape[-1] == 100


def test_a_validation_hold_out_as_large_as_train_is_refused_by_load(
    mock_tfds):
  config = tiny_config(validation_size=40, eval_splits=('validation',))
  with mock_tfds(num_examples=40):
    with pytest.raises(input_pipeline.DataError,
                       match='validation_size=40 leaves no training data out '
                       'of 40 images; hold out fewer'):
      input_pipeline.load(config)


@pytest.mark.slow
def test_tiny_run_on_the_shared_cifar10_copy_evaluates_all_10000(
    tmp_path, shared_tfds_dir):
  config = tiny_config(tfds_data_dir=shared_tfds_dir, train_count=320,
                       num_train_steps=4, eval_every_steps=4,
                       eval_batch_size=384)  # 10,000 = 26 * 384 + 16.
  evaluated = []
  original = train.evaluate

  def recording_evaluate(*args):
    metrics = original(*args)
    evaluated.append(int(metrics.accuracy.count))
    return metrics

  train.evaluate = recording_evaluate
  try:
    _train(config, tmp_path)
  finally:
    train.evaluate = original
  assert evaluated == [10_000]


@pytest.mark.slow
def test_eval_splits_on_the_shared_copy_are_disjoint_and_sized_as_asked(
    shared_tfds_dir):
  config = tiny_config(tfds_data_dir=shared_tfds_dir, train_fraction=0.1,
                       validation_size=5000, train_clean_size=2000,
                       eval_splits=('validation', 'test', 'train_clean'))
  train_split, evals = input_pipeline.load(config)
  assert list(evals) == ['validation', 'test', 'train_clean']
  # A fraction of the whole split, drawn from what validation leaves.
  assert len(train_split) == 5000 == input_pipeline.num_train_examples(config)
  assert np.all(np.bincount(train_split.labels) == 500)
  assert len(evals['validation']) == 5000 and len(evals['test']) == 10_000
  np.testing.assert_array_equal(evals['train_clean'].images,
                                train_split.images[:2000])
  train_rows = {row.tobytes() for row in train_split.images}
  assert not any(row.tobytes() in train_rows
                 for row in evals['validation'].images)


@pytest.mark.slow
def test_every_eval_split_is_logged_and_the_first_picks_the_best(
    tmp_path, mock_tfds, monkeypatch):
  config = tiny_config(validation_size=16, train_clean_size=8,
                       eval_splits=('validation', 'test', 'train_clean'))
  chosen_on = []
  original = train.checkpointing.Checkpoints.save_if_best

  def recording_save_if_best(self, state, step, accuracy):
    chosen_on.append(accuracy)
    return original(self, state, step, accuracy)

  monkeypatch.setattr(train.checkpointing.Checkpoints, 'save_if_best',
                      recording_save_if_best)
  with mock_tfds(num_examples=70):
    result = _train(config, tmp_path)
  assert sorted(result) == sorted(f'{split}_{metric}' for split in (
      'validation', 'test', 'train_clean') for metric in ('accuracy', 'loss'))
  assert chosen_on[-1] == result['validation_accuracy']
  logged = summaries.logged_scalars(tmp_path)
  for split in ('validation', 'test', 'train_clean'):
    assert logged[f'{split}_accuracy'][-1] == (6, result[f'{split}_accuracy'])


def test_evaluation_counts_every_example_once():
  config = tiny_config()
  state, _ = _setup(config)
  split = _random_split(37)
  p_eval = jax.pmap(functools.partial(train.eval_step, config=config),
                    axis_name=train.AXIS)
  metrics = train.evaluate(p_eval, jax_utils.replicate(state), split, 8)
  assert int(metrics.accuracy.count) == 37
  logits = state.apply_fn({'params': state.params},
                          train.model_inputs(config, split.images), train=False)
  np.testing.assert_allclose(
      metrics.compute()['accuracy'],
      np.mean(np.argmax(logits, -1) == split.labels), rtol=1e-6)


class _Interrupted(Exception):
  pass


@pytest.mark.slow
def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(
    tmp_path, monkeypatch, mock_tfds):
  config = tiny_config(num_train_steps=8, checkpoint_every_steps=3,
                       eval_every_steps=8)
  with mock_tfds(num_examples=64):
    uninterrupted = _train(config, tmp_path / 'straight')
    original = input_pipeline.train_batches

    def dies_after_five(*args, **kwargs):
      for i, batch in enumerate(original(*args, **kwargs)):
        if i == 5:
          raise _Interrupted()
        yield batch

    monkeypatch.setattr(input_pipeline, 'train_batches', dies_after_five)
    with pytest.raises(_Interrupted):
      _train(config, tmp_path / 'resumed')
    assert sorted(os.listdir(tmp_path / 'resumed' / 'checkpoints')) == ['3']
    # A restart from step 0 would give the same result: the data must go on
    # from the checkpoint's step.
    data_starts = []

    def recording_start(split, batch_size, seed, start_step=0, *args):
      data_starts.append(start_step)
      return original(split, batch_size, seed, start_step, *args)

    monkeypatch.setattr(input_pipeline, 'train_batches', recording_start)
    resumed = _train(config, tmp_path / 'resumed')
  assert data_starts == [3]
  assert resumed == uninterrupted
  assert sorted(os.listdir(tmp_path / 'resumed' / 'checkpoints')) == [
      '3', '6', '8']


def test_offline_without_data_says_where_it_looked(tmp_path, monkeypatch):
  def no_network(*args, **kwargs):
    raise OSError('no network in tests')

  monkeypatch.setattr(input_pipeline.socket, 'getaddrinfo', no_network)
  config = tiny_config(tfds_data_dir=str(tmp_path))
  with pytest.raises(input_pipeline.DataError) as error:
    input_pipeline.load(config)
  message = str(error.value)
  assert str(tmp_path) in message and '--config.tfds_data_dir' in message


_DEVICE_RUN = r'''
import functools, json, sys
sys.path.insert(0, "tests")
import jax, numpy as np
from flax import jax_utils
from mixer_jax import host, input_pipeline, train
from conftest import tiny_seed_config
# The seed's hybrid shrunk: BatchNorm blocks, and 3 steps an epoch whose last
# batch has 12 real images of 24 (on 8 devices, 4 devices hold none). No
# dropout: its masks are drawn per device, not per example.
config = tiny_seed_config(batch_size=24, **{"model.dropout_rate": 0.0})
split = input_pipeline.Split(
    np.random.default_rng(0).integers(0, 256, (60, 32, 32, 3), dtype=np.uint8),
    np.random.default_rng(1).integers(0, 10, (60,), dtype=np.int32))
schedule = train.learning_rate_schedule(config, 3, 6)
state = train.create_train_state(
    config, train.create_model(config), train.create_optimizer(config, schedule),
    jax.random.PRNGKey(0))
p_step = jax.pmap(functools.partial(train.train_step, config=config,
                                    schedule=schedule), axis_name=train.AXIS)
state = jax_utils.replicate(state)
key = jax_utils.replicate(jax.random.PRNGKey(1))
losses = []
batches = input_pipeline.train_batches(split, 24, seed=0,
                                      keep_partial_batch=True)
for _, batch in zip(range(4), batches):
  state, metrics = p_step(state, batch, key)
  losses.append(float(jax_utils.unreplicate(metrics).compute()["loss"]))
state = jax.device_get(jax_utils.unreplicate(state))
try:
  host.check_devices(tiny_seed_config(batch_size=12))
  refusal = None
except train.config_lib.ConfigError as e:
  refusal = str(e)
print(json.dumps({"devices": jax.device_count(), "losses": losses,
                  "refusal": refusal,
                  "params": [np.asarray(p).ravel()[:50].tolist()
                             for p in jax.tree.leaves(state.params)],
                  "batch_stats": [np.asarray(s).tolist()
                                  for s in jax.tree.leaves(state.batch_stats)]}))
'''


def _run_on_devices(counts):
  """{count: what _DEVICE_RUN printed} for a process of each device count.

  The processes run side by side: each spends most of its time compiling,
  on one core, and a core left idle by the other tests takes one of them.
  """
  processes = {count: subprocess.Popen(
      [sys.executable, '-c', _DEVICE_RUN], cwd=REPO,
      env=process_env(f'--xla_force_host_platform_device_count={count}'),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for count in counts}
  runs = {}
  try:
    for count, process in processes.items():
      out, err = process.communicate(timeout=600)
      assert process.returncode == 0, (count, err[-3000:])
      runs[count] = json.loads(out.strip().splitlines()[-1])
  finally:
    for process in processes.values():
      process.kill()
  return runs


@pytest.mark.slow
def test_pmap_over_2_and_8_devices_matches_1_device():
  runs = _run_on_devices((1, 2, 8))
  assert [runs[c]['devices'] for c in (1, 2, 8)] == [1, 2, 8]
  assert len(runs[1]['batch_stats']) == 2 * 2  # Mean and var of 2 blocks.
  for count in (2, 8):
    np.testing.assert_allclose(runs[count]['losses'], runs[1]['losses'],
                               rtol=1e-5)
    for got, want in zip(runs[count]['batch_stats'], runs[1]['batch_stats']):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(runs[count]['params'], runs[1]['params']):
      # Adam magnifies float noise in near-zero gradients: ~1e-6 here, far
      # below the ~1e-3 that one step of another batch would move them.
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  assert runs[1]['losses'][0] != runs[1]['losses'][-1]  # It trained.
  # A global batch of 12 splits over 1 and 2 devices, not over 8.
  assert [runs[c]['refusal'] for c in (1, 2)] == [None, None]
  assert 'batch_size=12 does not divide evenly over 8 devices' in (
      runs[8]['refusal'])


@pytest.mark.slow
def test_the_loop_runs_at_most_two_steps_ahead_of_the_device(
    tmp_path, mock_tfds, monkeypatch):
  # Each step is made slow on the device (a chain of matmuls that its step
  # counter depends on) and its dispatch stays fast: unbounded, the loop
  # would queue most of the 12 steps before the final log syncs it.
  def slow_train_step(state, batch, rng, **kwargs):
    x = jax.lax.fori_loop(
        0, 100, lambda _, x: jnp.tanh(x @ x), jnp.full((256, 256), 0.01))
    never = (x.sum() > 1e30).astype(state.step.dtype)  # |tanh| <= 1
    return train_step(state.replace(step=state.step + never), batch, rng,
                      **kwargs)

  def recording_pmap(fun, **kwargs):
    compiled = pmap(fun, **kwargs)
    if fun.func is not slow_train_step:
      return compiled

    def step(*args):
      new_state, update = compiled(*args)
      updates.append(update)
      return new_state, update
    return step

  def recorded_report(self, step, **kwargs):
    in_flight.append(sum(not jax.tree.leaves(u)[0].is_ready()
                         for u in updates))
    return report_progress(self, step, **kwargs)

  train_step, pmap = train.train_step, jax.pmap
  report_progress = periodic_actions.ReportProgress.__call__
  updates, in_flight = [], []
  monkeypatch.setattr(train, 'train_step', slow_train_step)
  monkeypatch.setattr(jax, 'pmap', recording_pmap)
  monkeypatch.setattr(periodic_actions.ReportProgress, '__call__',
                      recorded_report)
  config = tiny_config(num_train_steps=12, log_every_steps=100,
                       eval_every_steps=100, checkpoint_every_steps=100)
  with mock_tfds(num_examples=70):
    _train(config, tmp_path)
  assert len(in_flight) == 12
  assert max(in_flight) <= host.MAX_STEPS_IN_FLIGHT, in_flight


@pytest.mark.slow
def test_no_recompilation_after_the_first_step(tmp_path, mock_tfds):
  compiled = []

  class Recorder(logging.Handler):

    def emit(self, record):
      if record.getMessage().startswith('Compiling '):
        compiled.append(record.getMessage())

  recorder = Recorder()
  jax_logger = logging.getLogger('jax')
  jax_logger.addHandler(recorder)
  # 9 steps with log, eval (a padded last batch) and checkpoint steps among
  # them; the train and eval steps must each compile exactly once. pmap's
  # compiled functions go by one name, so they are told apart by their batch.
  config = tiny_config(num_train_steps=9, eval_every_steps=3, log_every_steps=2,
                       batch_size=16, eval_batch_size=48)
  try:
    with jax.log_compiles(), mock_tfds(num_examples=70):
      _train(config, tmp_path)
  finally:
    jax_logger.removeHandler(recorder)
  train_batch, eval_batch = 'uint8[1,16,32,32,3]', 'uint8[1,48,32,32,3]'
  assert sum(train_batch in m for m in compiled) == 1, compiled
  assert sum(eval_batch in m for m in compiled) == 1, compiled


def _full_cifar10_schedule(name, **overrides):
  """configs/{name}.py on all of CIFAR-10's train: (config, schedule,
  steps_per_epoch, num_train_steps)."""
  config = override(load_seed_config(name), **overrides)
  steps_per_epoch, num_train_steps, _, _ = train.run_length(config, 50_000)
  return (config, train.learning_rate_schedule(config, steps_per_epoch,
                                               num_train_steps),
          steps_per_epoch, num_train_steps)


def _seed_rate(fraction):
  """The seed's cosine, at `fraction` of its half period."""
  return 3e-3 * (1 + np.cos(np.pi * fraction)) / 2


def test_the_schedule_as_run_is_the_per_step_cosine_wave():
  _, schedule, _, _ = _full_cifar10_schedule('hybrid_cifar10')
  for step in (0, 30, 60, 61):
    np.testing.assert_allclose(
        schedule(step), 3e-3 * (1 + np.cos(np.pi * step / 30)) / 2,
        rtol=1e-6, atol=1e-12)
  np.testing.assert_allclose([schedule(0), schedule(30), schedule(60)],
                             [3e-3, 0.0, 3e-3], atol=1e-12)


@pytest.mark.parametrize('fraction,keep,steps,final_near_zero', [
    # The seed kept the partial batch: 391 steps an epoch at full data.
    (1.0, True, 30 * 391, True),
    (1.0, False, 30 * 390, False),
    (0.1, True, 30 * 40, False),
    (0.1, False, 30 * 39, True),
])
def test_the_final_steps_learning_rate_is_the_seeds(fraction, keep, steps,
                                                    final_near_zero):
  examples = round(fraction * 50_000)
  config = override(load_seed_config('hybrid_cifar10'),
                    keep_partial_batch=keep)
  steps_per_epoch, num_train_steps, eval_every, _ = train.run_length(
      config, examples)
  assert num_train_steps == steps and eval_every == steps_per_epoch
  schedule = train.learning_rate_schedule(config, steps_per_epoch,
                                          num_train_steps)
  # PyTorch steps the scheduler after each iteration: the last of
  # `steps` iterations ran at CosineAnnealingLR's lr after steps - 1 steps.
  final = float(schedule(num_train_steps - 1))
  np.testing.assert_allclose(
      final, 3e-3 * (1 + np.cos(np.pi * (steps - 1) / 30)) / 2, rtol=1e-5)
  assert (final < 1e-5) == final_near_zero


def test_the_intended_schedule_is_a_cosine_stepped_once_per_epoch():
  _, schedule, steps_per_epoch, num_train_steps = _full_cifar10_schedule(
      'hybrid_cifar10', **{'optimizer.schedule': 'epoch_cosine'})
  assert steps_per_epoch == 391 and num_train_steps == 30 * 391
  for epoch in (0, 1, 15, 29):
    for step in (epoch * 391, epoch * 391 + 390):
      np.testing.assert_allclose(
          schedule(step), 3e-3 * (1 + np.cos(np.pi * epoch / 30)) / 2,
          rtol=1e-5)


def _applied_rates(config, schedule, num_steps):
  """The learning rate of each of create_optimizer's first `num_steps`
  updates: a constant unit gradient, which Adam normalises to 1, at zero
  parameters, which leave weight decay nothing to add, so that each update
  is minus its rate."""
  tx = train.create_optimizer(config, schedule)
  params = {'dense': {'kernel': jnp.zeros(()), 'bias': jnp.zeros(())}}
  grads = jax.tree.map(jnp.ones_like, params)

  def step(opt_state, _):
    updates, opt_state = tx.update(grads, opt_state, params)
    return opt_state, -updates['dense']['kernel']

  return np.asarray(jax.lax.scan(step, tx.init(params), length=num_steps)[1])


@pytest.mark.parametrize('name,overrides,pinned', [
    # The seed as run: a 60-step wave that goes on past T_max = 30.
    ('hybrid_cifar10', {}, {
        0: 3e-3, 15: 1.5e-3, 30: 0.0, 45: 1.5e-3, 60: 3e-3,
        61: _seed_rate(1 / 30), 100: _seed_rate(40 / 30),
        11_729: _seed_rate(11_729 / 30)}),
    # As the seed meant it: once per epoch of 391 steps, for 30 epochs.
    ('hybrid_cifar10', {'optimizer.schedule': 'epoch_cosine'}, {
        0: 3e-3, 390: 3e-3, 391: _seed_rate(1 / 30), 15 * 391: 1.5e-3,
        11_729: _seed_rate(29 / 30)}),
    # mixer_jax's: 5 epochs of linear warmup to 1e-3, then a cosine to 0 at
    # the end of 100 epochs of 390 steps.
    ('slides_hybrid_cifar10', {}, {
        0: 0.0, 975: 5e-4, 1950: 1e-3, 20_475: 5e-4, 38_999: 0.0}),
], ids=['cosine_wave', 'epoch_cosine', 'warmup_cosine'])
def test_the_optimizer_applies_the_logged_schedule(name, overrides, pinned):
  config, schedule, _, num_train_steps = _full_cifar10_schedule(name,
                                                                **overrides)
  applied = _applied_rates(config, schedule, num_train_steps)
  for step, rate in pinned.items():
    np.testing.assert_allclose(applied[step], rate, rtol=1e-4, atol=1e-10,
                               err_msg=f'step {step}')
  # train_step logs schedule(step).
  np.testing.assert_allclose(applied, schedule(np.arange(num_train_steps)),
                             rtol=1e-4, atol=1e-10)


def test_skipped_steps_leave_the_applied_rate_the_global_steps(monkeypatch):
  monkeypatch.setattr(train, 'model_inputs',
                      nan_for_white_images(train.model_inputs))
  # A wave of period 8, so that the rate after 2 skipped steps is half the
  # first step's; no weight decay, so that Adam's first update of each
  # parameter with a gradient is exactly the rate, either way. No padded
  # crops, which would put black into white images.
  config = tiny_config(on_non_finite='skip', **{
      'optimizer.schedule': 'cosine_wave', 'optimizer.cosine_wave_t_max': 4,
      'optimizer.weight_decay': 0.0, 'augment.crop_padding': 0})
  state, p_step = _setup(config)
  batch = next(input_pipeline.train_batches(_random_split(64), 16, seed=0))
  white = dict(batch, image=np.full_like(batch['image'], 255))
  key = jax_utils.replicate(jax.random.PRNGKey(1))
  state = jax_utils.replicate(state)
  for _ in range(2):
    state, _ = p_step(state, white, key)
  new_state, metrics = p_step(state, batch, key)
  state, new_state = map(jax_utils.unreplicate, (state, new_state))
  assert int(new_state.step) == 3 and int(new_state.non_finite.count) == 2
  # The zero head's first step moves its bias by the rate, one way or other.
  applied = np.abs(new_state.params['head']['bias'] -
                   state.params['head']['bias'])
  np.testing.assert_allclose(applied, 1e-3 / 2, rtol=1e-4)
  logged = jax_utils.unreplicate(metrics).compute()['learning_rate']
  np.testing.assert_allclose(applied, logged, rtol=1e-4)


def test_a_kept_partial_batch_is_padded_and_masked():
  split = _random_split(40)
  batches = input_pipeline.train_batches(split, 16, seed=0,
                                         keep_partial_batch=True)
  epoch = [next(batches) for _ in range(3)]
  masks = [b['mask'].ravel() for b in epoch]
  assert [int(m.sum()) for m in masks] == [16, 16, 8]
  assert all(b['image'].shape == (1, 16, 32, 32, 3) for b in epoch)
  # Every example exactly once among the real rows of the epoch.
  seen = np.concatenate([b['label'].ravel()[m > 0] for b, m in
                         zip(epoch, masks)])
  assert sorted(seen) == sorted(split.labels)
  # The next epoch starts at step 3, and resuming there gives the same batch.
  resumed = next(input_pipeline.train_batches(split, 16, seed=0, start_step=3,
                                              keep_partial_batch=True))
  np.testing.assert_array_equal(next(batches)['image'], resumed['image'])


def test_padded_rows_change_neither_the_loss_nor_the_update():
  config = tiny_seed_config(**{'augment.erase_prob': 0.0})
  state, p_step = _setup(config)
  split = _random_split(12)
  key = jax_utils.replicate(jax.random.PRNGKey(1))
  padded = next(input_pipeline.train_batches(split, 16, seed=0,
                                             keep_partial_batch=True))
  garbage = dict(padded, image=np.where(padded['mask'][..., None, None, None],
                                        padded['image'], 255).astype(np.uint8),
                 label=np.where(padded['mask'] > 0, padded['label'], 3))
  results = [p_step(jax_utils.replicate(state), batch, key)
             for batch in (padded, garbage)]
  (state_a, metrics_a), (state_b, metrics_b) = [
      jax.device_get(jax_utils.unreplicate(r)) for r in results]
  assert metrics_a.compute() == metrics_b.compute()
  for a, b in zip(jax.tree.leaves((state_a.params, state_a.batch_stats)),
                  jax.tree.leaves((state_b.params, state_b.batch_stats))):
    np.testing.assert_array_equal(a, b)




def _logged(caplog):
  return [r.getMessage() for r in caplog.records]


def _event_steps(workdir):
  """{tag: [step of each write]} from every event file, hparams included."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  accumulator = event_accumulator.EventAccumulator(
      str(workdir), size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return {tag: [e.step for e in accumulator.Tensors(tag)]
          for tag in accumulator.Tags()['tensors']}


@pytest.mark.slow
def test_a_run_says_what_it_trains_and_where_then_how_it_ended(
    tmp_path, mock_tfds, caplog):
  caplog.set_level(logging.INFO)
  with mock_tfds(num_examples=70):
    result = _train(tiny_config(), tmp_path)
  logged = _logged(caplog)
  assert any(m.startswith('Mixer-nano_4 (locality blocks: locality_stem), ')
             and ' parameters; cifar10: 70 training images, 6 steps of 16 '
             '(4 an epoch); evaluated on test (70).' in m for m in logged)
  assert f'Writing to {tmp_path}: checkpoints in checkpoints/ and best/' in (
      '\n'.join(logged))
  summary = [m for m in logged if m.startswith('Done, step 6: ')]
  assert len(summary) == 1
  assert f'test_accuracy {result["test_accuracy"]:.4f}; best ' in summary[0]
  assert f'Latest checkpoint: {tmp_path}/checkpoints/6; best model: ' in (
      summary[0])
  # The config goes to TensorBoard, not to the console.
  assert not any('Hyperparameters' in m for m in logged)
  steps = _event_steps(tmp_path)
  assert any(tag.startswith('_hparams_') for tag in steps)
  # One writer a tag: no step is written twice.
  assert steps['steps_per_sec'] and steps['images_per_sec']
  for tag, written in steps.items():
    assert len(written) == len(set(written)), (tag, written)


@pytest.mark.slow
def test_a_finished_run_run_again_says_so_and_writes_no_new_logs(
    tmp_path, mock_tfds, caplog):
  config = tiny_config()
  with mock_tfds(num_examples=70):
    result = _train(config, tmp_path)
    event_files = sorted(os.listdir(tmp_path))
    caplog.clear()
    caplog.set_level(logging.INFO)
    again = _train(config, tmp_path)
  assert again == result  # The sweep records it.
  assert sorted(os.listdir(tmp_path)) == event_files
  logged = '\n'.join(_logged(caplog))
  assert (f'This run finished at step 6: nothing to train. Its results are '
          f'in {tmp_path}') in logged
  assert 'Resuming' not in logged
  assert 'Done, step 6: ' in logged


def test_a_run_refused_for_its_data_leaves_no_workdir_behind(tmp_path,
                                                             monkeypatch):
  def no_network(*args, **kwargs):
    raise OSError('no network in tests')

  monkeypatch.setattr(input_pipeline.socket, 'getaddrinfo', no_network)
  config = tiny_config(tfds_data_dir=str(tmp_path / 'no_data'))
  with pytest.raises(input_pipeline.DataError):
    _train(config, tmp_path / 'new' / 'run')
  assert not (tmp_path / 'new').exists()
  # A directory that was there stays, with what the user put in it.
  (tmp_path / 'mine').mkdir()
  (tmp_path / 'mine' / 'notes.txt').write_text('keep')
  with pytest.raises(input_pipeline.DataError):
    _train(config, tmp_path / 'mine')
  assert os.listdir(tmp_path / 'mine') == ['notes.txt']


@pytest.mark.parametrize('num_train_steps', [10, 60, 389])
def test_a_run_shorter_than_its_warmup_warms_up_for_a_tenth_then_decays(
    num_train_steps):
  # 5 warmup epochs of 390.
  config = load_config(REPO / 'configs' / 'nano_baseline_cifar10.py')
  schedule = train.learning_rate_schedule(config, 390, num_train_steps)
  rates = np.array([schedule(step) for step in range(num_train_steps)])
  peak = config.optimizer.learning_rate
  assert np.argmax(rates) == num_train_steps // 10
  np.testing.assert_allclose(rates.max(), peak, rtol=1e-6)
  assert rates[-1] < 0.1 * peak


def test_every_grid_runs_schedule_is_unchanged():
  """The grids ran with warmup min(configured, steps - 1)."""
  from grid_golden_test import grid_runs  # pylint: disable=g-import-not-at-top
  checked = 0
  for name, config in grid_runs().items():
    if config.optimizer.schedule != 'warmup_cosine':
      continue
    train_images = 50_000 - config.validation_size
    if config.train_count or config.train_fraction < 1:
      train_images = config.train_count or round(config.train_fraction *
                                                 train_images)
    steps_per_epoch, num_train_steps, _, _ = train.run_length(config,
                                                              train_images)
    warmup = min(int(config.optimizer.warmup_epochs * steps_per_epoch),
                 num_train_steps - 1)
    ran = optax.warmup_cosine_decay_schedule(
        0.0, config.optimizer.learning_rate, warmup, num_train_steps)
    schedule = train.learning_rate_schedule(config, steps_per_epoch,
                                            num_train_steps)
    for step in (0, 1, warmup // 2, warmup, num_train_steps // 2,
                 num_train_steps - 1):
      assert schedule(step) == ran(step), (name, step)
    checked += 1
  assert checked >= 30
