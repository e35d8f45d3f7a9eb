"""Training and evaluation: a pmapped step over every local device, on 1..N hosts.

The layout follows flax's ImageNet example: `create_train_state`,
`train_step`, `eval_step` and `train_and_evaluate(config, workdir)`.
"""

import functools
import math
import os
import time

from absl import logging
from clu import metric_writers
from clu import metrics
from clu import periodic_actions
import flax
from flax import jax_utils
from flax.training import train_state
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from mixer_jax import augment
from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import input_pipeline
from mixer_jax import models

AXIS = 'batch'


class NonFiniteError(FloatingPointError):
  """A non-finite loss or gradient with `on_non_finite='stop'`."""


@flax.struct.dataclass
class NonFiniteRecord:
  """Steps whose loss or gradient norm was not finite; their updates are dropped."""
  count: jnp.ndarray
  first_step: jnp.ndarray  # As logged: 1 for the first update. -1: none.
  first_loss: jnp.ndarray
  first_grad_norm: jnp.ndarray

  @classmethod
  def empty(cls):
    return cls(count=jnp.zeros((), jnp.int32),
               first_step=-jnp.ones((), jnp.int32),
               first_loss=jnp.zeros(()), first_grad_norm=jnp.zeros(()))


class TrainState(train_state.TrainState):
  non_finite: NonFiniteRecord


@flax.struct.dataclass
class TrainMetrics(metrics.Collection):
  loss: metrics.Average.from_output('loss')
  accuracy: metrics.Average.from_output('accuracy')
  grad_norm: metrics.Average.from_output('grad_norm')
  learning_rate: metrics.LastValue.from_output('learning_rate')


@flax.struct.dataclass
class EvalMetrics(metrics.Collection):
  loss: metrics.Average.from_output('loss')
  accuracy: metrics.Accuracy


def create_model(config):
  return models.MlpMixer(num_classes=config.num_classes,
                         dtype=jnp.dtype(config.compute_dtype), **config.model)


def learning_rate_schedule(config, steps_per_epoch, num_train_steps):
  warmup_steps = int(config.optimizer.warmup_epochs * steps_per_epoch)
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=config.optimizer.learning_rate,
      warmup_steps=min(warmup_steps, num_train_steps - 1),
      decay_steps=num_train_steps, end_value=0.0)


def _is_kernel(params):
  return jax.tree_util.tree_map_with_path(
      lambda path, _: path[-1].key == 'kernel', params)


def create_optimizer(config, schedule):
  """AdamW with decoupled weight decay on kernels only, after clipping."""
  opt = config.optimizer
  return optax.chain(
      optax.clip_by_global_norm(opt.grad_clip_norm),
      optax.adamw(schedule, b1=opt.b1, b2=opt.b2,
                  weight_decay=opt.weight_decay, mask=_is_kernel))


def create_train_state(config, model, tx, rng):
  shape = (1, config.image_size, config.image_size, 3)
  params = jax.jit(lambda r: model.init(r, jnp.zeros(shape), train=False))(
      rng)['params']
  return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                           non_finite=NonFiniteRecord.empty())


def _normalize(config, images):
  _, _, mean, std = config_lib.DATASETS[config.dataset]
  return augment.normalize(images, mean, std)


def _cross_entropy(logits, targets):
  return optax.softmax_cross_entropy(logits, targets)


def train_step(state, batch, rng, *, config, schedule):
  """One optimizer step on the global batch; run under pmap(axis_name=AXIS).

  The keys derive from (rng, step) and each example's global position, so the
  step is a pure function of its inputs whatever the device layout.
  """
  step_key = jax.random.fold_in(rng, state.step)
  augment_key, mix_key, dropout_key = jax.random.split(step_key, 3)
  per_device = batch['label'].shape[0]
  device = jax.lax.axis_index(AXIS)
  example_keys = jax.vmap(functools.partial(jax.random.fold_in, augment_key))(
      device * per_device + jnp.arange(per_device))
  images = augment.per_example(example_keys, batch['image'], config.augment)
  images = _normalize(config, images)
  targets = optax.smooth_labels(
      jax.nn.one_hot(batch['label'], config.num_classes),
      config.label_smoothing)
  images, targets = augment.mix(jax.random.fold_in(mix_key, device), images,
                                targets, config.augment.mixup_alpha,
                                config.augment.cutmix_alpha)

  def loss_fn(params):
    logits = state.apply_fn(
        {'params': params}, images, train=True,
        rngs={'dropout': jax.random.fold_in(dropout_key, device)})
    return _cross_entropy(logits, targets).mean(), logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  grads = jax.lax.pmean(grads, AXIS)
  loss = jax.lax.pmean(loss, AXIS)
  accuracy = jax.lax.pmean(
      jnp.mean(jnp.argmax(logits, -1) == batch['label']), AXIS)
  grad_norm = optax.tree.norm(grads)

  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updated = state.apply_gradients(grads=grads)
  # A non-finite step leaves parameters and optimizer state as they were, so
  # that no checkpoint can ever hold NaNs; the host stops or counts it.
  new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                           updated, state)
  record = state.non_finite
  first = record.first_step < 0
  record = jax.tree.map(
      lambda keep, now: jnp.where(~finite & first, now, keep), record,
      NonFiniteRecord(count=record.count, first_step=state.step + 1,
                      first_loss=loss, first_grad_norm=grad_norm))
  new_state = new_state.replace(
      step=state.step + 1,
      non_finite=record.replace(count=record.count + (~finite)))
  step_metrics = TrainMetrics.single_from_model_output(
      loss=loss, accuracy=accuracy, grad_norm=grad_norm,
      learning_rate=schedule(state.step))
  return new_state, step_metrics


def eval_step(state, batch, *, config):
  """EvalMetrics of the real (unmasked) examples, gathered over devices."""
  logits = state.apply_fn({'params': state.params},
                          _normalize(config, batch['image']), train=False)
  labels = batch['label']
  loss = _cross_entropy(logits, jax.nn.one_hot(labels, config.num_classes))
  return EvalMetrics.gather_from_model_output(
      axis_name=AXIS, loss=loss, logits=logits, labels=labels,
      mask=batch['mask'] > 0)


def evaluate(p_eval_step, state, split, batch_size):
  """EvalMetrics over every example of `split`, each counted once."""
  result = None
  for batch in input_pipeline.eval_batches(split, batch_size):
    update = jax_utils.unreplicate(p_eval_step(state, batch))
    result = update if result is None else result.merge(update)
  return result


def evaluate_splits(p_eval_step, state, splits, batch_size):
  """{'{split}_{metric}': value} over every split of {name: Split}."""
  return {f'{name}_{metric}': float(value)
          for name, split in splits.items()
          for metric, value in evaluate(p_eval_step, state, split,
                                        batch_size).compute().items()}


def check_non_finite(state, on_non_finite):
  """Raises NonFiniteError if a step was non-finite and the config says stop."""
  record = jax.device_get(jax_utils.unreplicate(state.non_finite))
  if on_non_finite == 'stop' and record.first_step >= 0:
    quantities = [name for name, value in (('loss', record.first_loss),
                                           ('gradient norm',
                                            record.first_grad_norm))
                  if not np.isfinite(value)]
    raise NonFiniteError(
        f'Non-finite {" and ".join(quantities)} at step '
        f'{int(record.first_step)} (loss={float(record.first_loss)}, '
        f'gradient norm={float(record.first_grad_norm)}). The update was '
        f'not applied and no checkpoint after it was written. Lower '
        f'config.optimizer.learning_rate, or set '
        f'config.on_non_finite=skip to skip such steps.')
  return int(record.count)


def _host_state(state):
  return jax.device_get(jax_utils.unreplicate(state))


def run_length(config, num_train_examples):
  """(steps_per_epoch, num_train_steps, eval_every, checkpoint_every)."""
  steps_per_epoch = num_train_examples // config.batch_size
  num_train_steps = (config.num_train_steps if config.num_train_steps != -1
                     else math.ceil(config.num_epochs * steps_per_epoch))
  every = lambda n: steps_per_epoch if n == -1 else n
  return (steps_per_epoch, num_train_steps, every(config.eval_every_steps),
          every(config.checkpoint_every_steps))


def check_run(config, workdir):
  """Refuses what config_lib.validate cannot know: devices and workdir."""
  for field in ('batch_size', 'eval_batch_size'):
    if config[field] % jax.device_count():
      raise config_lib.ConfigError(
          f'config.{field}={config[field]} does not divide evenly over '
          f'{jax.device_count()} devices; use a multiple of '
          f'{jax.device_count()}.')
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_probe_{jax.process_index()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise config_lib.ConfigError(
        f'--workdir={workdir} cannot be written ({e.strerror}); pass a '
        f'directory you can write to.') from e


def check_data(config, num_train_examples):
  if config.batch_size > num_train_examples:
    raise config_lib.ConfigError(
        f'config.batch_size={config.batch_size} is larger than the '
        f'{num_train_examples} training images; lower it or use more data.')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
  """Trains, evaluates and checkpoints; resumes from `workdir` if it can.

  Returns the final evaluation, {'{split}_{metric}': value} for every split
  of `config.eval_splits`.
  """
  config_lib.validate(config)
  check_run(config, workdir)
  train_split, eval_splits = input_pipeline.load(config)
  check_data(config, len(train_split))
  steps_per_epoch, num_train_steps, eval_every, checkpoint_every = run_length(
      config, len(train_split))

  schedule = learning_rate_schedule(config, steps_per_epoch, num_train_steps)
  model = create_model(config)
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  state = create_train_state(config, model, create_optimizer(config, schedule),
                             init_key)
  checkpoints = checkpointing.Checkpoints(workdir, config)
  state = checkpoints.restore_latest(state) or state
  start_step = int(state.step)

  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0)
  if start_step == 0:
    writer.write_hparams(dict(flax.traverse_util.flatten_dict(
        config.to_dict(), sep='.')))
  logging.info('%d training images; evaluation on %s; %d steps of %d '
               'images, %d steps per epoch.', len(train_split),
               ', '.join(f'{name} ({len(split)})'
                         for name, split in eval_splits.items()),
               num_train_steps, config.batch_size, steps_per_epoch)

  p_train_step = jax.pmap(
      functools.partial(train_step, config=config, schedule=schedule),
      axis_name=AXIS, donate_argnums=(0,))
  p_eval_step = jax.pmap(functools.partial(eval_step, config=config),
                         axis_name=AXIS)
  # On pmap's own mesh axis, as its outputs are: inputs sharded otherwise
  # would compile the step a second time.
  state = jax_utils.replicate(state, axis_name=AXIS)
  train_key = jax_utils.replicate(train_key, axis_name=AXIS)
  batches = jax_utils.prefetch_to_device(
      input_pipeline.train_batches(train_split, config.batch_size,
                                   config.seed, start_step), 2, axis_name=AXIS)
  report_progress = periodic_actions.ReportProgress(
      num_train_steps=num_train_steps, writer=writer)

  # Per-step metrics stay on the device until a log step: no host sync.
  metric_updates = []
  eval_metrics = None
  best_metric = f'{config.eval_splits[0]}_accuracy'
  log_start = (time.perf_counter(), start_step)
  try:
    for step in range(start_step + 1, num_train_steps + 1):
      state, update = p_train_step(state, next(batches), train_key)
      metric_updates.append(update)
      report_progress(step)
      last = step == num_train_steps

      if step % config.log_every_steps == 0 or last:
        skipped = check_non_finite(state, config.on_non_finite)
        seconds = time.perf_counter() - log_start[0]
        steps_done = step - log_start[1]
        train_metrics = functools.reduce(
            lambda a, b: a.merge(b), map(jax_utils.unreplicate,
                                         metric_updates))
        writer.write_scalars(step, {
            **{f'train_{k}': v for k, v in train_metrics.compute().items()},
            'steps_per_sec': steps_done / seconds,
            'images_per_sec': steps_done * config.batch_size / seconds,
            'skipped_steps': skipped,
        })
        metric_updates = []

      is_checkpoint = step % checkpoint_every == 0 or last
      is_eval = step % eval_every == 0 or last
      if is_checkpoint or is_eval:
        check_non_finite(state, config.on_non_finite)
        host_state = _host_state(state)
      # Saved before the eval, so that a kill during the eval loses nothing.
      if is_checkpoint:
        checkpoints.save(host_state, step)
      if is_eval:
        with report_progress.timed('eval'):
          eval_metrics = evaluate_splits(p_eval_step, state, eval_splits,
                                         config.eval_batch_size)
        writer.write_scalars(step, eval_metrics)
        logging.info('step %d: %s', step, ', '.join(
            f'{k} {v:.4f}' for k, v in eval_metrics.items()))
        checkpoints.save_if_best(host_state, step, eval_metrics[best_metric])
      # Start of the next interval: not counting eval and checkpoint time.
      if step % config.log_every_steps == 0:
        log_start = (time.perf_counter(), step)
  finally:
    checkpoints.wait_until_finished()
    checkpoints.close()
    writer.flush()
  if eval_metrics is None:  # Resumed at the end: evaluate what was restored.
    eval_metrics = evaluate_splits(p_eval_step, state, eval_splits,
                                   config.eval_batch_size)
  return eval_metrics
