r"""Trains an MLP-Mixer; see README.md.

  python train.py --config=configs/hybrid_cifar10.py --workdir=/tmp/hybrid \
    --config.tfds_data_dir=../shared/data/tfds
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from mixer_jax import train

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Where checkpoints and TensorBoard logs '
                    'go; a run there resumes from its latest checkpoint.')
config_flags.DEFINE_config_file('config', None, 'A config file under configs/.',
                                lock_config=True)
flags.mark_flags_as_required(['config', 'workdir'])


class _QuietOrbax(logging.logging.Filter):
  """Keeps orbax's per-save INFO chatter out of the training log."""

  def filter(self, record):
    return (record.levelno >= logging.logging.WARNING or
            '/orbax/' not in record.pathname)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(_QuietOrbax())
  logging.info('Config:\n%s', FLAGS.config)
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  app.run(main)
