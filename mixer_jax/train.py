"""Training and evaluation: a pmapped step over every local device, on 1..N hosts.

The layout follows flax's ImageNet example: `create_train_state`,
`train_step`, `eval_step` and `train_and_evaluate(config, workdir)`.
"""

import functools
import math
import os
import time
from typing import Any

from absl import logging
from clu import metric_writers
from clu import metrics
from clu import periodic_actions
import flax
from flax import jax_utils
from flax.training import train_state
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from mixer_jax import augment
from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import fast_malloc
from mixer_jax import host
from mixer_jax import init_from
from mixer_jax import input_pipeline
from mixer_jax import models
from mixer_jax import run_config

AXIS = 'batch'


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
  batch_stats: Any  # BatchNorm's running statistics; {} for models without.
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
                         dtype=jnp.dtype(config.compute_dtype),
                         batch_norm_axis_name=AXIS, **config.model)


def _half_cosine(peak, fraction):
  return peak * 0.5 * (1 + jnp.cos(jnp.pi * fraction))


def learning_rate_schedule(config, steps_per_epoch, num_train_steps):
  """The learning rate at step t (0 for the first update), by its name."""
  opt = config.optimizer
  if opt.schedule == 'cosine_wave':
    # Its period is 2 t_max steps; the phase is taken in integers, so that
    # float32 keeps the seed's learning rate exact late in long runs.
    period = 2 * opt.cosine_wave_t_max
    return lambda step: _half_cosine(opt.learning_rate,
                                     (step % period) / opt.cosine_wave_t_max)
  if opt.schedule == 'epoch_cosine':
    num_epochs = num_train_steps / steps_per_epoch
    return lambda step: _half_cosine(
        opt.learning_rate, (step // steps_per_epoch) / num_epochs)
  warmup_steps = int(opt.warmup_epochs * steps_per_epoch)
  if warmup_steps > num_train_steps:
    # A run shorter than its warmup would never decay: it warms up for a
    # tenth of its steps instead. A run exactly as long as its warmup keeps
    # it, as the 5-epoch runs of grids/small_data.py were trained.
    warmup_steps = num_train_steps // 10
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=opt.learning_rate,
      warmup_steps=min(warmup_steps, num_train_steps - 1),
      decay_steps=num_train_steps, end_value=0.0)


def _is_kernel(params):
  return jax.tree_util.tree_map_with_path(
      lambda path, _: path[-1].key == 'kernel', params)


def create_optimizer(config, schedule):
  """AdamW (or SGD with momentum) with decoupled weight decay, after
  clipping by global norm."""
  opt = config.optimizer
  mask = _is_kernel if opt.weight_decay_on == 'kernels' else None
  if opt.name == 'sgd':
    update = optax.chain(optax.add_decayed_weights(opt.weight_decay, mask),
                         optax.sgd(schedule, momentum=opt.momentum))
  else:
    update = optax.adamw(schedule, b1=opt.b1, b2=opt.b2,
                         weight_decay=opt.weight_decay, mask=mask)
  if not opt.grad_clip_norm:
    return update
  return optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), update)


def create_train_state(config, model, tx, rng):
  shape = (1, config.model_input_size, config.model_input_size, 3)
  variables = jax.jit(lambda r: model.init(r, jnp.zeros(shape), train=False))(
      rng)
  return TrainState.create(apply_fn=model.apply, params=variables['params'],
                           batch_stats=variables.get('batch_stats', {}),
                           tx=tx, non_finite=NonFiniteRecord.empty())


def train_state_template(config):
  """A train state of `config`'s structure and shapes, for a checkpoint to
  be restored into; its values are fresh."""
  return create_train_state(config, create_model(config),
                            create_optimizer(config, lambda step: 0.0),
                            jax.random.PRNGKey(0))


def model_inputs(config, images):
  """uint8 images as the model takes them: float32, normalised, at
  config.model_input_size."""
  images = augment.normalize(images, *config_lib.normalization_stats(config))
  return augment.resize(images, config.model_input_size)


def _cross_entropy(logits, targets):
  return optax.softmax_cross_entropy(logits, targets)


def _is_schedule_state(node):
  return isinstance(node, optax.ScaleByScheduleState)


def _with_schedule_counts(opt_state, counted):
  """`opt_state` with the learning-rate schedule's step count of `counted`."""
  return jax.tree.map(
      lambda kept, new: new if _is_schedule_state(kept) else kept,
      opt_state, counted, is_leaf=_is_schedule_state)


def train_step(state, batch, rng, *, config, schedule):
  """One optimizer step on the global batch; run under pmap(axis_name=AXIS).

  The augmentation keys derive from (rng, step) and each example's global
  position, so augmentation is the same whatever the device layout; dropout,
  stochastic depth and mixup draw per device, so with those on, a run is
  reproducible on the same device layout only.
  """
  step_key = jax.random.fold_in(rng, state.step)
  augment_key, mix_key, dropout_key = jax.random.split(step_key, 3)
  per_device = batch['label'].shape[0]
  device = jax.lax.axis_index(AXIS)
  example_keys = jax.vmap(functools.partial(jax.random.fold_in, augment_key))(
      device * per_device + jnp.arange(per_device))
  images = augment.per_example(example_keys, batch['image'], config.augment)
  images = augment.erase(example_keys, model_inputs(config, images),
                         config.augment)
  targets = optax.smooth_labels(
      jax.nn.one_hot(batch['label'], config.num_classes),
      config.label_smoothing)
  images, targets = augment.mix(jax.random.fold_in(mix_key, device), images,
                                targets, config.augment.mixup_alpha,
                                config.augment.cutmix_alpha)

  # Padding rows of a partial batch (mask 0) count nowhere: each device's
  # loss is its share of the mean over the global batch's real examples.
  mask = batch['mask']
  num_real = jax.lax.psum(jnp.sum(mask), AXIS)

  def loss_fn(params):
    logits, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, images,
        train=True, mask=mask, mutable=['batch_stats'],
        rngs={'dropout': jax.random.fold_in(dropout_key, device)})
    loss = jnp.sum(_cross_entropy(logits, targets) * mask) / num_real
    return loss, (logits, updates.get('batch_stats', {}))

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  grads = jax.lax.psum(grads, AXIS)
  loss = jax.lax.psum(loss, AXIS)
  accuracy = jax.lax.psum(
      jnp.sum((jnp.argmax(logits, -1) == batch['label']) * mask),
      AXIS) / num_real
  grad_norm = optax.tree.norm(grads)

  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updated = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  # A non-finite step leaves parameters and optimizer state as they were, so
  # that no checkpoint can ever hold NaNs; the host stops or counts it. Only
  # the schedule's step count moves on: the rate stays the one of the
  # global step, as logged, after skipped steps.
  new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                           updated, state)
  new_state = new_state.replace(opt_state=_with_schedule_counts(
      new_state.opt_state, updated.opt_state))
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


def eval_step(state, batch, metrics, *, config):
  """`metrics` merged with the EvalMetrics of this device's real examples.

  No collective: XLA:CPU may start the device parts of independent programs
  in any order, and with several collective programs in flight one device's
  part waits for a peer that is queued behind another program (a rendezvous
  deadlock, docs/RELIABILITY.md). Carrying `metrics` from step to step orders
  the steps as the train state orders training steps; `evaluate` reduces
  over devices and hosts once, at the end.
  """
  logits = state.apply_fn(
      {'params': state.params, 'batch_stats': state.batch_stats},
      model_inputs(config, batch['image']), train=False)
  labels = batch['label']
  loss = _cross_entropy(logits, jax.nn.one_hot(labels, config.num_classes))
  return metrics.merge(EvalMetrics.single_from_model_output(
      loss=loss, logits=logits, labels=labels, mask=batch['mask'] > 0))


def evaluate(p_eval_step, state, split, batch_size):
  """EvalMetrics over every example of `split`, each counted once."""
  metrics = jax_utils.replicate(EvalMetrics.empty(), axis_name=AXIS)
  for batch in input_pipeline.eval_batches(split, batch_size):
    metrics = p_eval_step(state, batch, metrics)
  metrics = jax.device_get(metrics)  # Leading axis: this host's devices.
  if jax.process_count() > 1:
    metrics = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]),
                           multihost_utils.process_allgather(metrics))
  return metrics.reduce()


def evaluate_splits(p_eval_step, state, splits, batch_size):
  """{'{split}_{metric}': value} over every split of {name: Split}."""
  return {f'{name}_{metric}': float(value)
          for name, split in splits.items()
          for metric, value in evaluate(p_eval_step, state, split,
                                        batch_size).compute().items()}


def check_non_finite(state, on_non_finite):
  """Raises host.NonFiniteError if a step was non-finite and the config says stop."""
  record = jax.device_get(jax_utils.unreplicate(state.non_finite))
  if on_non_finite == 'stop' and record.first_step >= 0:
    quantities = [name for name, value in (('loss', record.first_loss),
                                           ('gradient norm',
                                            record.first_grad_norm))
                  if not np.isfinite(value)]
    raise host.NonFiniteError(
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
  steps_per_epoch = input_pipeline.num_steps_per_epoch(
      num_train_examples, config.batch_size, config.keep_partial_batch)
  num_train_steps = (config.num_train_steps if config.num_train_steps != -1
                     else math.ceil(config.num_epochs * steps_per_epoch))
  every = lambda n: steps_per_epoch if n == -1 else n
  return (steps_per_epoch, num_train_steps, every(config.eval_every_steps),
          every(config.checkpoint_every_steps))


def _describe_run(config, model, state, num_train_examples, eval_splits,
                  num_train_steps, steps_per_epoch):
  """What trains on what, in one line."""
  shape = (1, config.model_input_size, config.model_input_size, 3)
  _, captured = jax.eval_shape(lambda: model.apply(
      {'params': state.params, 'batch_stats': state.batch_stats},
      jnp.zeros(shape), train=False, capture_intermediates=True,
      mutable=['intermediates']))
  locality = [name for name in captured['intermediates']
              if name.startswith('locality_')]
  num_params = sum(x.size for x in jax.tree.leaves(state.params))
  logging.info(
      '%s (%s), %s parameters; %s: %s training images, %s steps of %d (%d an '
      'epoch); evaluated on %s.', config.model.model_name,
      'locality blocks: ' + ', '.join(locality) if locality
      else 'no locality blocks', f'{num_params:,}', config.dataset,
      f'{num_train_examples:,}', f'{num_train_steps:,}', config.batch_size,
      steps_per_epoch, ', '.join(f'{name} ({len(split):,})'
                                 for name, split in eval_splits.items()))


def _create_writer(workdir, config, start_step):
  """Metrics to the log and, from process 0, to TensorBoard; the config as
  TensorBoard hparams only, where it does not flood the console."""
  if jax.process_index() > 0:
    return metric_writers.create_default_writer(just_logging=True)
  summary = metric_writers.SummaryWriter(workdir)
  if start_step == 0:
    summary.write_hparams(dict(flax.traverse_util.flatten_dict(
        config.to_dict(), sep='.')))
  return metric_writers.AsyncMultiWriter([metric_writers.LoggingWriter(),
                                          summary])


def _log_summary(config, checkpoints, eval_metrics, step, workdir):
  split = config.eval_splits[0]
  best_step, best = checkpoints.best_accuracy()
  logging.info(
      'Done, step %d: %s_accuracy %.4f; best %.4f at step %s. Latest '
      'checkpoint: %s/%d; best model: %s/%s; TensorBoard logs: %s.', step,
      split, eval_metrics[f'{split}_accuracy'], best, best_step,
      checkpoints.latest.directory, step, checkpoints.best.directory,
      best_step, os.path.abspath(workdir))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
  """Trains, evaluates and checkpoints; resumes from `workdir` if it can.

  Returns the final evaluation, {'{split}_{metric}': value} for every split
  of `config.eval_splits`; of a finished run, without training again.
  """
  config_lib.validate(config)
  host.check_devices(config)
  with host.writable_directory(workdir, '--workdir'):
    # Only for a run that starts: a resumed run continues its own checkpoints.
    pretrained = (None if checkpointing.has_checkpoints(workdir) else
                  init_from.load(config, create_model(config)))
    train_split, eval_splits = input_pipeline.load(config)
    input_pipeline.check_data(config, len(train_split))
  run_config.save(config, workdir)
  fast_malloc.warn_without_tunables(jax.default_backend())
  steps_per_epoch, num_train_steps, eval_every, checkpoint_every = run_length(
      config, len(train_split))

  schedule = learning_rate_schedule(config, steps_per_epoch, num_train_steps)
  model = create_model(config)
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  state = create_train_state(config, model, create_optimizer(config, schedule),
                             init_key)
  checkpoints = checkpointing.Checkpoints(workdir, config)
  state = checkpoints.restore_latest(state) or init_from.apply(state,
                                                               pretrained)
  start_step = int(state.step)
  _describe_run(config, model, state, len(train_split), eval_splits,
                num_train_steps, steps_per_epoch)

  p_eval_step = jax.pmap(functools.partial(eval_step, config=config),
                         axis_name=AXIS)
  # On pmap's own mesh axis, as its outputs are: inputs sharded otherwise
  # would compile the step a second time.
  state = jax_utils.replicate(state, axis_name=AXIS)
  if start_step >= num_train_steps:
    logging.info('This run finished at step %d: nothing to train. Its '
                 'results are in %s; evaluating its final checkpoint again '
                 'for the result.', start_step, os.path.abspath(workdir))
    eval_metrics = evaluate_splits(p_eval_step, state, eval_splits,
                                   config.eval_batch_size)
    _log_summary(config, checkpoints, eval_metrics, start_step, workdir)
    checkpoints.close()
    return eval_metrics
  logging.info('Writing to %s: checkpoints in checkpoints/ and best/, '
               'TensorBoard logs (tensorboard --logdir=%s).%s',
               os.path.abspath(workdir), workdir,
               f' Resuming from the checkpoint at step {start_step}.'
               if start_step else '')

  writer = _create_writer(workdir, config, start_step)
  p_train_step = jax.pmap(
      functools.partial(train_step, config=config, schedule=schedule),
      axis_name=AXIS, donate_argnums=(0,))
  train_key = jax_utils.replicate(train_key, axis_name=AXIS)
  batches = jax_utils.prefetch_to_device(
      input_pipeline.train_batches(train_split, config.batch_size,
                                   config.seed, start_step,
                                   config.keep_partial_batch), 2,
      axis_name=AXIS)
  report_progress = periodic_actions.ReportProgress(
      num_train_steps=num_train_steps, writer=writer)

  # Per-step metrics stay on the device until a log step: no host sync.
  metric_updates = []
  best_metric = f'{config.eval_splits[0]}_accuracy'
  log_start = (time.perf_counter(), start_step)
  preemption = host.PreemptionNotice()
  try:
    for step in range(start_step + 1, num_train_steps + 1):
      state, update = p_train_step(state, next(batches), train_key)
      metric_updates.append(update)
      host.bound_steps_in_flight(metric_updates)
      report_progress(step)
      last = step == num_train_steps

      if step % config.log_every_steps == 0 or last:
        skipped = check_non_finite(state, config.on_non_finite)
        seconds = time.perf_counter() - log_start[0]
        train_metrics = functools.reduce(
            lambda a, b: a.merge(b), map(jax_utils.unreplicate,
                                         metric_updates))
        # steps_per_sec is ReportProgress's, over its last minute, all of it.
        writer.write_scalars(step, {
            **{f'train_{k}': v for k, v in train_metrics.compute().items()},
            'images_per_sec': ((step - log_start[1]) * config.batch_size /
                               seconds),
            'skipped_steps': skipped,
        })
        metric_updates = []

      preempted = preemption.reached(step)
      is_checkpoint = step % checkpoint_every == 0 or last or preempted
      is_eval = (step % eval_every == 0 or last) and not preempted
      if is_checkpoint or is_eval:
        check_non_finite(state, config.on_non_finite)
        host_state = _host_state(state)
      # Saved before the eval, so that a kill during the eval loses nothing.
      if is_checkpoint:
        checkpoints.save(host_state, step)
      if preempted:
        checkpoints.wait_until_finished()
        raise host.Preempted(step, checkpoints.latest.directory)
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
    checkpoints.wait_until_finished()
    _log_summary(config, checkpoints, eval_metrics, num_train_steps, workdir)
  finally:
    preemption.close()
    checkpoints.wait_until_finished()
    checkpoints.close()
    writer.flush()
  return eval_metrics
