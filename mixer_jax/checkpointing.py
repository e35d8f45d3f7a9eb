"""Orbax checkpoints: the last N train states, plus the best model by accuracy.

The latest checkpoints hold the whole train state, to resume from; the best
one holds only what evaluation needs, the model's variables (parameters and
BatchNorm's statistics): a third of the size, without the optimizer's moments.

Checkpoints hold arrays and JSON only (no pickled code). Each one records the
model config it was made with, so that a workdir of another model is refused
instead of being partly restored or overwritten.
"""

import contextlib
import json
import os
import tempfile
import time

from absl import logging
import flax
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

from mixer_jax import config_lib


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be used; the message says what to do."""


# Regularisation that a resumed run may change without changing the model,
# and how its parameters started, which a resumed run no longer uses.
_NOT_FINGERPRINTED = ('dropout_rate', 'stochastic_depth_rate', 'initialisers')


def _model_fingerprint(config):
  model = {k: v for k, v in config.model.to_dict().items()
           if k not in _NOT_FINGERPRINTED}
  # Through JSON, so that tuples compare equal to what JSON gives back.
  return json.loads(json.dumps({'num_classes': config.num_classes,
                                'model': model}))


def _upgraded(fingerprint):
  """A saved fingerprint in today's form of `config.model`, so that runs
  checkpointed before it changed (config_lib.upgrade_model_config) resume."""
  return {**fingerprint,
          'model': config_lib.upgrade_model_config(fingerprint['model'])}


class _QuietOrbax(logging.logging.Filter):

  def filter(self, record):
    return (record.levelno >= logging.logging.WARNING or
            '/orbax/' not in record.pathname)


def quiet_orbax_logs():
  """Keeps orbax's per-save INFO chatter out of the absl log."""
  logging.get_absl_handler().addFilter(_QuietOrbax())


class Checkpoints:
  """Saves and restores host-side (unreplicated) train states in `workdir`,
  and the best model's variables."""

  def __init__(self, workdir, config):
    workdir = os.path.abspath(workdir)  # orbax's async writes need it.
    self._fingerprint = _model_fingerprint(config)
    self._damaged_dir = os.path.join(workdir, 'damaged_checkpoints')
    self.latest = ocp.CheckpointManager(
        os.path.join(workdir, 'checkpoints'),
        options=ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints,
                                             create=True))
    self.best = ocp.CheckpointManager(
        os.path.join(workdir, 'best'),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, best_fn=lambda m: m['accuracy'],
            best_mode='max'))

  def save(self, state, step):
    with self._writing(self.latest):
      self._await_other_saves(self.latest)
      self.latest.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
          model=ocp.args.JsonSave(self._fingerprint)))

  def save_if_best(self, state, step, accuracy):
    with self._writing(self.best):
      self._await_other_saves(self.best)
      variables = {'params': state.params, 'batch_stats': state.batch_stats}
      self.best.save(step, args=ocp.args.Composite(
          variables=ocp.args.StandardSave(variables),
          model=ocp.args.JsonSave(self._fingerprint)),
                     metrics={'accuracy': float(accuracy)})

  def restore_best(self):
    """(step, variables for `model.apply`) of the best checkpoint, or None."""
    step = self.best.best_step()
    if step is None:
      return None
    if not os.path.isdir(os.path.join(self.best.directory, str(step),
                                      'variables')):
      raise CheckpointError(
          f'The best checkpoint in {self.best.directory} (step {step}) is in '
          f'the format before 2026-11-30, the whole train state; restore its '
          f'"state" item with orbax, and take "params" and "batch_stats".')
    saved_model = _upgraded(self.best.restore(step, args=ocp.args.Composite(
        model=ocp.args.JsonRestore()))['model'])
    if saved_model != self._fingerprint:
      raise CheckpointError(
          f'{self.best.directory} holds a checkpoint of another model '
          f'({_describe(saved_model)}); this config is for '
          f'{_describe(self._fingerprint)}. Use the config that trained it.')
    return step, self.best.restore(step, args=ocp.args.Composite(
        variables=ocp.args.StandardRestore()))['variables']

  def best_accuracy(self):
    """(step, accuracy) of the best checkpoint; (None, nan) before one."""
    step = self.best.best_step()
    if step is None:
      return None, float('nan')
    return step, self.best.metrics(step)['accuracy']

  def _await_other_saves(self, manager):
    """Lets the other manager's save finish before `manager` starts one.

    In a multi-process run each orbax manager meets the other processes at
    barriers named the same for every manager, from the main thread and from
    its background finalize thread. Two managers saving at once can enter
    the same barrier twice from one process, which fails the save on one
    process and leaves the others waiting at the next barrier. The wait
    costs nothing in practice: the latest checkpoint is written while the
    evaluation runs, before the best one is saved.
    """
    for other in (self.latest, self.best):
      if other is not manager:
        other.wait_until_finished()

  @contextlib.contextmanager
  def _writing(self, manager):
    """A failed write, this one or an earlier one that failed in the
    background, becomes a CheckpointError naming the directory.

    The directory is probed first: an orbax save that cannot create its
    directory leaves threads that hold the process for minutes at exit.
    """
    try:
      probe_writable(manager.directory)
      yield
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(
          f'Could not write a checkpoint to {manager.directory} '
          f'({type(e).__name__}: {e}). The checkpoints already there are '
          f'intact. Make that directory writable (permissions, free space), '
          f'then run the same command again: it resumes from the latest '
          f'of them.') from e

  def restore_latest(self, template):
    """The newest intact checkpoint restored into `template`, or None.

    A damaged checkpoint is reported, set aside and skipped for the one
    before; with none intact the run starts afresh.
    """
    steps = sorted(self.latest.all_steps(), reverse=True)
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                          flax.serialization.to_state_dict(template))
    for step in steps:
      saved_model = self._restore_model(step)
      if saved_model != self._fingerprint:
        raise CheckpointError(
            f'{self.latest.directory} holds checkpoints of another model '
            f'({_describe(saved_model)}); this run is configured for '
            f'{_describe(self._fingerprint)}. Use a new --workdir, or the '
            f'config that made those checkpoints.')
      try:
        restored = self.latest.restore(
            step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target)))
      except Exception as e:  # pylint: disable=broad-except
        logging.error('Checkpoint at step %d in %s is damaged (%s: %s); '
                      'moved to %s, trying the one before.', step,
                      self.latest.directory, type(e).__name__, e,
                      self._damaged_dir)
        self._set_aside(step)
        continue
      return flax.serialization.from_state_dict(template, restored['state'])
    if steps:
      logging.error('Every checkpoint in %s was damaged (steps %s); they are '
                    'kept in %s. Starting afresh from step 0.',
                    self.latest.directory, steps, self._damaged_dir)
    return None

  def _set_aside(self, step):
    """Moves a damaged checkpoint out of the way, keeping it for inspection."""
    if jax.process_index() == 0:
      os.makedirs(self._damaged_dir, exist_ok=True)
      os.replace(os.path.join(self.latest.directory, str(step)),
                 os.path.join(self._damaged_dir, f'{step}.{time.time():.0f}'))
    multihost_utils.sync_global_devices(f'checkpoint {step} set aside')
    self.latest.reload()

  def _restore_model(self, step):
    try:
      saved_model = self.latest.restore(
          step, args=ocp.args.Composite(model=ocp.args.JsonRestore()))['model']
    except Exception:  # pylint: disable=broad-except
      return self._fingerprint  # Damaged: the state restore reports it.
    return _upgraded(saved_model)

  def wait_until_finished(self):
    for manager in (self.latest, self.best):
      with self._writing(manager):
        manager.wait_until_finished()

  def close(self):
    self.latest.close()
    self.best.close()


def has_checkpoints(workdir, subdirectory='checkpoints'):
  """Whether `workdir` holds a checkpoint (intact or not) in `subdirectory`:
  'checkpoints' for train states to resume from, 'best' for the best model."""
  directory = os.path.join(workdir, subdirectory)
  return os.path.isdir(directory) and any(
      name.isdigit() for name in os.listdir(directory))


def probe_writable(directory):
  """Raises OSError unless a file can be created in `directory`.

  The probe's name is unique: processes that share the directory (two sweep
  workers and their --archive, hosts and their workdir) probe it at once.
  """
  handle, probe = tempfile.mkstemp(prefix='.write_probe_', dir=directory)
  try:
    os.write(handle, b'ok')
  finally:
    os.close(handle)
    os.remove(probe)


def _describe(fingerprint):
  model = fingerprint['model']
  return (f"{model.get('model_name')}, locality {model['locality']['type']}, "
          f"{fingerprint['num_classes']} classes")
