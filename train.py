r"""Trains an MLP-Mixer; see README.md.

  python train.py --config=configs/hybrid_cifar10.py --workdir=/tmp/hybrid \
    --config.tfds_data_dir=../shared/data/tfds
"""

import sys

from mixer_jax import fast_malloc

# First: glibc reads its tunables when a process starts, and importing jax
# and TensorFlow takes seconds.
fast_malloc.restart_with_tunables()

# pylint: disable=g-import-not-at-top,wrong-import-position
import difflib

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import distributed
from mixer_jax import host
from mixer_jax import train
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Where checkpoints and TensorBoard logs '
                    'go; a run there resumes from its latest checkpoint.')
config_flags.DEFINE_config_file('config', None, 'A config file under configs/.',
                                lock_config=True)
flags.DEFINE_bool('distributed', False, 'Multi-host: let jax.distributed find '
                  'the coordinator and process id (TPU pods, SLURM).')
flags.DEFINE_string('coordinator_address', None, 'Multi-host: host:port of '
                    'process 0, on every host.')
flags.DEFINE_integer('num_processes', None, 'Multi-host: number of processes.')
flags.DEFINE_integer('process_id', None, 'Multi-host: this process, 0-based.')
flags.DEFINE_bool('log_config', False, 'Log the whole resolved config at '
                  'the start.')
flags.mark_flags_as_required(['config', 'workdir'])


def _root_cause(error):
  while error.__cause__ is not None or error.__context__ is not None:
    error = error.__cause__ or error.__context__
  return error


def _flag_error_message(error, argv):
  """What went wrong with --config and its overrides, and how to fix it."""
  cause = _root_cause(error)
  config_file = next((a.split('=', 1)[1] for a in argv
                      if a.startswith('--config=')), None)
  if isinstance(cause, config_lib.ConfigError):
    return str(cause)
  if isinstance(cause, OSError) and config_file:
    return (f'--config={config_file}: the file cannot be read. Pass a config '
            f'file such as configs/hybrid_cifar10.py.')
  if isinstance(cause, AttributeError) and 'get_config' in str(cause):
    return (f'--config={config_file}: the file defines no get_config(). A '
            f'config file defines get_config() returning an '
            f'ml_collections.ConfigDict; see configs/.')
  if isinstance(cause, (AttributeError, KeyError)):
    overrides = [a.split('=')[0] for a in argv if a.startswith('--config.')]
    return _unknown_field(config_file, overrides) or (
        f'an override names a field the config does not have ({cause}); '
        f'overrides given: {overrides}. The fields are in '
        f'mixer_jax/config_lib.py.')
  return str(error).split('\n')[0]


def _unknown_field(config_file, overrides):
  """The first override that names a field the config lacks, with the
  closest field there and all of them; None if none does."""
  path, _, variant = config_file.partition(':')
  config = config_lib.load_config_file(path, variant or None)
  for override in overrides:
    node, names = config, override[len('--config.'):].split('.')
    for depth, name in enumerate(names):
      if not isinstance(node, ml_collections.ConfigDict):
        break
      if name not in node:
        parent = '.'.join(['config', *names[:depth]])
        close = difflib.get_close_matches(name, list(node), n=1)
        guess = f'Did you mean `{close[0]}`? ' if close else ''
        return (f'{override}: {parent} has no field `{name}`. {guess}Its '
                f'fields: {", ".join(node)}.')
      node = node[name]
  return None


def parse_flags(argv):
  """absl's parsing, plus the config file's loading, with clear errors."""
  try:
    rest = FLAGS(argv)
    FLAGS.config.get('dataset')  # config_flags defers its errors to a read.
  except Exception as e:  # pylint: disable=broad-except
    print(f'error: {_flag_error_message(e, argv)}', file=sys.stderr)
    sys.exit(2)
  return rest


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  checkpointing.quiet_orbax_logs()
  host.quiet_backend_probes()
  try:
    distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address,
                           FLAGS.num_processes, FLAGS.process_id)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  if FLAGS.log_config:
    logging.info('Config:\n%s', FLAGS.config)
  with host.exit_codes():
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
