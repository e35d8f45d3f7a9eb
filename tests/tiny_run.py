"""A tiny training run on mock data, for tests that run it as a process.

  python tests/tiny_run.py WORKDIR [--kill_at=step:5|save:6|eval:2]
      [--sigterm_at=N] [--readonly_after_save=N]

The model is the seed's hybrid shrunk (BatchNorm blocks, the seed's
augmentations, 3 steps an epoch, the last 16 real images of 24).
--kill_at SIGKILLs this process at that point of the run: while the step
after step N is in flight, right after the save of step N has started (its
files half written), or in the middle of the N-th evaluation.
--sigterm_at sends it SIGTERM while the step after step N is in flight.
--readonly_after_save makes the checkpoint directory unwritable, even for
root, once the save of step N is complete.
"""

import os
import signal
import subprocess
import sys

from absl import app
from absl import flags
import tensorflow_datasets as tfds

sys.path.insert(0, os.path.dirname(__file__))
from conftest import tiny_seed_config  # pylint: disable=g-import-not-at-top
from mixer_jax import checkpointing
from mixer_jax import distributed
from mixer_jax import host
from mixer_jax import input_pipeline
from mixer_jax import train

flags.DEFINE_string('kill_at', None, 'step:N, save:N or eval:N.')
flags.DEFINE_integer('sigterm_at', None, 'SIGTERM during step N + 1.')
flags.DEFINE_integer('readonly_after_save', None, 'Unwritable checkpoints '
                     'after the save of step N.')
flags.DEFINE_string('coordinator_address', None, 'Multi-process runs.')
flags.DEFINE_integer('num_processes', None, 'Multi-process runs.')
flags.DEFINE_integer('process_id', None, 'Multi-process runs.')
FLAGS = flags.FLAGS


def _die():
  os.kill(os.getpid(), signal.SIGKILL)


def _signal_during_step(at, send):
  """Calls `send` once step `at + 1` has been dispatched, not finished."""
  batches = input_pipeline.train_batches

  def signalling_batches(split, batch_size, seed, start_step=0, *args):
    for step, batch in enumerate(
        batches(split, batch_size, seed, start_step, *args), start_step):
      if step == at + 1:
        send()
      yield batch

  input_pipeline.train_batches = signalling_batches


def _unwritable_after_save(at):
  save = checkpointing.Checkpoints.save

  def save_then_lock(self, state, step):
    save(self, state, step)
    if step == at:
      self.wait_until_finished()
      directory = str(self.latest.directory)
      os.chmod(directory, 0o555)
      if os.geteuid() == 0:  # Root ignores permission bits, not this.
        subprocess.run(['chattr', '+i', directory], check=True)

  checkpointing.Checkpoints.save = save_then_lock


def _arm(kind, at):
  """Patches the run so that it kills itself at the given point."""
  if kind == 'step':
    _signal_during_step(at, _die)
  elif kind == 'save':
    save = checkpointing.Checkpoints.save

    def killing_save(self, state, step):
      save(self, state, step)
      if step == at:
        _die()

    checkpointing.Checkpoints.save = killing_save
  elif kind == 'eval':
    eval_batches = input_pipeline.eval_batches
    calls = []

    def killing_eval_batches(split, batch_size):
      calls.append(1)
      for i, batch in enumerate(eval_batches(split, batch_size)):
        if len(calls) == at and i == 1:
          _die()
        yield batch

    input_pipeline.eval_batches = killing_eval_batches


def main(argv):
  workdir = argv[1]
  distributed.initialize(False, FLAGS.coordinator_address,
                         FLAGS.num_processes, FLAGS.process_id)
  config = tiny_seed_config(num_train_steps=9, checkpoint_every_steps=2,
                            eval_every_steps=3, log_every_steps=1,
                            batch_size=24,
                            **{'augment.mixup_alpha': 0.2,
                               'model.stochastic_depth_rate': 0.1})
  if FLAGS.kill_at:
    kind, at = FLAGS.kill_at.split(':')
    _arm(kind, int(at))
  if FLAGS.sigterm_at is not None:
    _signal_during_step(FLAGS.sigterm_at,
                        lambda: os.kill(os.getpid(), signal.SIGTERM))
  if FLAGS.readonly_after_save is not None:
    _unwritable_after_save(FLAGS.readonly_after_save)
  input_pipeline._check_download_host = lambda _: None  # Mock: no download.
  with tfds.testing.mock_data(num_examples=64):
    with host.exit_codes():
      train.train_and_evaluate(config, workdir)


if __name__ == '__main__':
  app.run(main)
