"""A tiny training run on mock data, for tests that run it as a process.

  python tests/tiny_run.py WORKDIR [--kill_at=step:5|save:6|eval:2]

--kill_at SIGKILLs this process at that point of the run: while the step
after step N is in flight, right after the save of step N has started (its
files half written), or in the middle of the N-th evaluation.
"""

import os
import signal
import sys

from absl import app
from absl import flags
import tensorflow_datasets as tfds

sys.path.insert(0, os.path.dirname(__file__))
from conftest import tiny_config  # pylint: disable=g-import-not-at-top
from mixer_jax import checkpointing
from mixer_jax import distributed
from mixer_jax import input_pipeline
from mixer_jax import train

flags.DEFINE_string('kill_at', None, 'step:N, save:N or eval:N.')
flags.DEFINE_string('coordinator_address', None, 'Multi-process runs.')
flags.DEFINE_integer('num_processes', None, 'Multi-process runs.')
flags.DEFINE_integer('process_id', None, 'Multi-process runs.')
FLAGS = flags.FLAGS


def _die():
  os.kill(os.getpid(), signal.SIGKILL)


def _arm(kind, at):
  """Patches the run so that it kills itself at the given point."""
  if kind == 'step':
    batches = input_pipeline.train_batches

    def killing_batches(split, batch_size, seed, start_step=0):
      for step, batch in enumerate(
          batches(split, batch_size, seed, start_step), start_step):
        if step == at + 1:  # Step `at + 1` has been dispatched, not finished.
          _die()
        yield batch

    input_pipeline.train_batches = killing_batches
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
  config = tiny_config(num_train_steps=9, checkpoint_every_steps=2,
                       eval_every_steps=3, log_every_steps=1,
                       **{'augment.mixup_alpha': 0.2,
                          'model.stochastic_depth_rate': 0.1,
                          'model.dropout_rate': 0.1})
  if FLAGS.kill_at:
    kind, at = FLAGS.kill_at.split(':')
    _arm(kind, int(at))
  input_pipeline._check_download_host = lambda _: None  # Mock: no download.
  with tfds.testing.mock_data(num_examples=64):
    train.train_and_evaluate(config, workdir)


if __name__ == '__main__':
  app.run(main)
