"""The process around a training run: how it stops, its exit status, and the
checks of what it runs on (devices, directories).
"""

import contextlib
import logging as std_logging
import os
import signal
import sys

from absl import logging
import jax
from jax.experimental import multihost_utils

from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import input_pipeline


class NonFiniteError(FloatingPointError):
  """A non-finite loss or gradient with `on_non_finite='stop'`."""


class Preempted(Exception):
  """SIGTERM arrived; the run saved a checkpoint at `step` and stopped."""

  def __init__(self, step, directory):
    super().__init__(
        f'Stopped by SIGTERM (a preemption notice) after step {step}; its '
        f'checkpoint is saved in {directory}. Run the same command again to '
        f'resume from step {step}.')
    self.step = step


# Mistakes in what the user gave (config, data, workdir, checkpoints): a
# message that says what to fix, not a traceback.
USER_ERRORS = (config_lib.ConfigError, input_pipeline.DataError,
               checkpointing.CheckpointError, NonFiniteError)


@contextlib.contextmanager
def exit_codes():
  """Ends the process with the status that a supervisor or `&&` reads.

  Preempted: 128 + SIGTERM, as a process that SIGTERM killed (stopped, not
  finished; a checkpoint is there to resume from). A mistake in what the
  user gave (USER_ERRORS): its message and 2.
  """
  try:
    yield
  except Preempted as e:
    logging.warning('%s', e)
    print(e, file=sys.stderr)
    sys.exit(128 + signal.SIGTERM)
  except USER_ERRORS as e:
    logging.error('%s: %s', type(e).__name__, e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


class PreemptionNotice:
  """Whether SIGTERM has arrived, at a step that every host agrees on.

  One process: a SIGTERM handler sets a flag that the loop reads after each
  step. Several: JAX's coordination service catches SIGTERM on any host and
  `reached_preemption_sync_point` names the same step on all of them, so that
  they save the same checkpoint together.
  """

  def __init__(self):
    self._received = False
    self._previous_handler = None
    if jax.process_count() == 1:
      self._previous_handler = signal.signal(signal.SIGTERM, self._receive)

  def close(self):
    if self._previous_handler is not None:
      signal.signal(signal.SIGTERM, self._previous_handler)

  def _receive(self, signum, frame):
    del signum, frame
    logging.warning('SIGTERM received: saving a checkpoint after this step.')
    self._received = True

  def reached(self, step):
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._received


def quiet_backend_probes():
  """Keeps out of the log jax's INFO about backends it probed and could not
  start, such as `Unable to initialize backend 'tpu'` on a machine without
  libtpu when JAX_PLATFORMS is unset; its warnings stay."""
  std_logging.getLogger('jax._src.xla_bridge').setLevel(std_logging.WARNING)


# JAX dispatches steps asynchronously and, until something waits for a
# result, queues them without bound: the loop ran 30-40 one-second steps ahead
# of the CPU between two logs, so a SIGTERM waited for all of them before its
# checkpoint (80 s on a shared core, benchmarks/steps_in_flight.py), past a
# cloud's 30-s notice, and progress reports counted unfinished steps. Two in
# flight keep the device as busy.
MAX_STEPS_IN_FLIGHT = 2


def bound_steps_in_flight(updates):
  """Waits until at most MAX_STEPS_IN_FLIGHT of `updates` (an output of each
  dispatched step, oldest first) are unfinished."""
  if len(updates) > MAX_STEPS_IN_FLIGHT:
    jax.block_until_ready(updates[-MAX_STEPS_IN_FLIGHT - 1])


def check_devices(config):
  """Refuses batch sizes that do not split over this run's devices."""
  for field in ('batch_size', 'eval_batch_size'):
    if config[field] % jax.device_count():
      raise config_lib.ConfigError(
          f'config.{field}={config[field]} does not divide evenly over '
          f'{jax.device_count()} devices; use a multiple of '
          f'{jax.device_count()}.')


def check_writable(directory, flag):
  """Creates `directory` if needed; a ConfigError naming `flag` if it cannot
  be written."""
  try:
    os.makedirs(directory, exist_ok=True)
    checkpointing.probe_writable(directory)
  except OSError as e:
    raise config_lib.ConfigError(
        f'{flag}={directory} cannot be written ({e.strerror}); pass a '
        f'directory you can write to.') from e


@contextlib.contextmanager
def writable_directory(directory, flag):
  """`check_writable`, undone if the block raises: the directories that it
  created are removed again while they are empty, so that a run refused for
  its data leaves no empty workdir behind. What was there stays."""
  created = []
  path = os.path.abspath(directory)
  while not os.path.exists(path):
    created.append(path)
    path = os.path.dirname(path)
  try:
    check_writable(directory, flag)
    yield
  except BaseException:
    for path in created:  # Innermost first.
      try:
        os.rmdir(path)
      except OSError:  # No longer empty, or another process's now.
        break
    raise
