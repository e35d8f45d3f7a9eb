r"""Runs a named grid of training runs into one directory, one workdir a run.

  python -m mixer_jax.experiments.sweep --grid=grids/small_data.py \
    --root=runs/small_data --set=tfds_data_dir=../shared/data/tfds

A grid file defines `get_grid()` returning a list of runs, each a dict with a
unique `name`, a `config` file and its `overrides` (dotted field -> value);
`grid()` builds the usual configs x seeds x fractions product. Stopped and
started again, the sweep skips finished runs (those with a `result.json`) and
resumes unfinished ones from their checkpoints.

Several sweep processes can share one `--root`, e.g. one per core or one per
machine on a shared filesystem with POSIX locks: each claims a run with an
exclusive `flock` on `<workdir>/claim.lock` and skips runs claimed by another.
The kernel drops the lock when its process exits, crash included, so a stopped
worker never leaves a run blocked. On a 2-core CPU:

  taskset -c 0 python -m mixer_jax.experiments.sweep --grid=... --root=... &
  taskset -c 1 python -m mixer_jax.experiments.sweep --grid=... --root=... &

With `--archive=DIR` the grid also outlives the machine (archive.py): a
run is packed into DIR when it finishes or is preempted, and every
`--archive_every_minutes` while it trains (at its newest checkpoint), and
unpacked from DIR before it trains in an empty workdir. To stop workers
without losing their progress, send them SIGTERM (each saves a checkpoint at
its step and archives it), then commit DIR.
"""

from mixer_jax import fast_malloc

if __name__ == '__main__':  # Before jax: glibc reads tunables at the start.
  fast_malloc.restart_with_tunables()

# pylint: disable=g-import-not-at-top,wrong-import-position
import contextlib
import datetime
import fcntl
import itertools
import json
import os
import platform

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mixer_jax import checkpointing
from mixer_jax import config_lib
from mixer_jax import flops
from mixer_jax import host
from mixer_jax import train
from mixer_jax.experiments import archive as run_archive
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS


def grid(models, seeds, train_fractions, overrides=None, suffix=''):
  """Every model x seed x fraction. Seed `s` fixes both the training subset
  and the data order, so runs of two models with one seed are paired.

  A model is a config file, named after it, or a (name, config file) pair:
  run names outlive renamed config files. Ordered fraction, seed, model: a
  sweep stopped early leaves complete pairs.
  """
  runs = []
  for fraction, seed, model in itertools.product(
      train_fractions, seeds, models):
    model_name, config_file = (
        model if isinstance(model, tuple) else
        (os.path.basename(model)[:-3], model))
    name = f'{model_name}{suffix}_frac{fraction:g}_seed{seed}'
    runs.append({'name': name, 'config': config_file, 'overrides': {
        'seed': seed, 'subset_seed': seed, 'train_fraction': fraction,
        **(overrides or {})}})
  return runs


def _load_grid(path):
  runs = config_lib.load_python_file(path).get_grid()
  names = [r['name'] for r in runs]
  if len(set(names)) != len(names):
    raise config_lib.ConfigError(f'{path}: run names must be unique.')
  return runs


def run_all(grid_file, root, common_overrides=None, archive=None,
            archive_every_minutes=15.0):
  """Trains every unfinished, unclaimed run; returns the finished runs' results.

  Runs that another sweep process is training are skipped and left out. With
  `archive`, runs are unpacked from it and packed into it (archive.py):
  when they end, and every `archive_every_minutes` while they train (0: only
  when they end).
  """
  results = []
  if archive_every_minutes < 0:
    raise config_lib.ConfigError(
        f'--archive_every_minutes={archive_every_minutes} is negative; pass '
        f'the minutes between archives of a training run, or 0 to archive '
        f'runs only when they finish or are preempted.')
  if archive:  # Written when a run ends: checked before any training.
    host.check_writable(archive, '--archive')
  for run in _load_grid(grid_file):
    workdir = os.path.join(root, run['name'])
    result_file = os.path.join(workdir, 'result.json')
    with _claim(workdir) as claimed:
      if claimed and archive:
        run_archive.restore(archive, run['name'], workdir)
      if os.path.exists(result_file):
        logging.info('%s: finished, skipped.', run['name'])
        with open(result_file) as f:
          results.append(json.load(f))
      elif not claimed:
        logging.info('%s: claimed by another sweep process, skipped.',
                     run['name'])
      else:
        try:
          with _refreshing(archive, run['name'], workdir,
                           60 * archive_every_minutes):
            results.append(_train(run, workdir, common_overrides))
        except host.Preempted:
          _archive(archive, run['name'], workdir)
          raise
        with open(result_file + '.tmp', 'w') as f:
          json.dump(results[-1], f, indent=1)
        os.replace(result_file + '.tmp', result_file)  # Finished = complete.
        _archive(archive, run['name'], workdir)
  return results


def _archive(archive, name, workdir):
  if archive and jax.process_index() == 0:
    run_archive.save(workdir, archive, name)


def _refreshing(archive, name, workdir, seconds):
  if archive and seconds and jax.process_index() == 0:
    return run_archive.refreshing(workdir, archive, name, seconds)
  return contextlib.nullcontext()


@contextlib.contextmanager
def _claim(workdir):
  """Yields whether this process holds the run's lock, until the block ends."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'claim.lock'), 'a') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      yield False
      return
    try:
      yield True
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def run_config(run, common_overrides=None):
  """The config that `run` trains with: its file, its overrides, then the
  sweep's --set."""
  config = config_lib.load_config_file(run['config'])
  return config_lib.override(config, {**run['overrides'],
                                      **(common_overrides or {})})


def _train(run, workdir, common_overrides):
  config = run_config(run, common_overrides)
  logging.info('%s: training in %s.', run['name'], workdir)
  run_archive.record_start(workdir, _machine())
  metrics = train.train_and_evaluate(config, workdir)
  return {'name': run['name'], 'config': run['config'],
          'overrides': run['overrides'], 'eval': metrics,
          'num_params': num_params(config),
          'gflops': flops.forward_flops(config.model, config.model_input_size,
                                        config.num_classes) / 1e9,
          'finished': datetime.date.today().isoformat(),
          'machine': _machine(), 'starts': run_archive.starts(workdir)}


def num_params(config):
  """Trainable parameters: BatchNorm's running statistics are not counted."""
  shapes = jax.eval_shape(lambda: train.create_model(config).init(
      jax.random.PRNGKey(0),
      jnp.zeros((1, config.model_input_size, config.model_input_size, 3)),
      train=False))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes['params']))


def cpu_description(cpuinfo_path='/proc/cpuinfo'):
  """The CPU's model name, family and model (one name can cover several
  generations, e.g. 'AMD EPYC' for Zen 4 and Zen 5, whose XLA kernels give
  different last bits), and its bf16 matrix instructions, which set the bf16
  peak: AMX tiles several times float32's rate, AVX-512-BF16 about 2x."""
  try:
    with open(cpuinfo_path) as f:
      cpuinfo = f.read()
  except OSError:
    return platform.processor() or platform.machine()
  fields = dict(line.split(':', 1) for line in cpuinfo.split('\n\n')[0]
                .splitlines() if ':' in line)
  fields = {k.strip(): v.strip() for k, v in fields.items()}
  cpu_flags = set(fields.get('flags', '').split())
  bf16 = [isa for isa, flag in (('AMX', 'amx_bf16'),
                                ('AVX-512-BF16', 'avx512_bf16'))
          if flag in cpu_flags]
  features = [f"family {fields['cpu family']}, model {fields['model']}"
              ] if 'cpu family' in fields and 'model' in fields else []
  features.append(', '.join(bf16) or 'no bf16 matrix instructions')
  return (f"{fields.get('model name', platform.machine())} "
          f"({'; '.join(features)})")


def _machine():
  """What the run trained on, for the results' record."""
  cpu = cpu_description()
  devices = jax.devices()
  # A worker pinned to some cores (see the module docstring) trains slower.
  usable = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
            else os.cpu_count())
  return (f'{len(devices)} {devices[0].device_kind} device(s) in '
          f'{jax.process_count()} process(es); host: {os.cpu_count()} x {cpu}, '
          f'{usable} usable by the run')


def parse_overrides(items):
  """{field: value} from --set's FIELD=VALUE items; values read as JSON where
  they parse, else as strings."""
  overrides = {}
  for item in items:
    if '=' not in item:
      raise app.UsageError(f'--set={item} is not FIELD=VALUE, e.g. '
                           f'--set=tfds_data_dir=../shared/data/tfds.')
    field, text = item.split('=', 1)
    try:
      overrides[field] = json.loads(text)
    except json.JSONDecodeError:
      overrides[field] = text
  return overrides


def main(argv):
  del argv
  if not os.path.isfile(FLAGS.grid):
    raise app.UsageError(f'--grid={FLAGS.grid} is not a file; pass a grid '
                         f'file such as grids/small_data.py.')
  checkpointing.quiet_orbax_logs()
  host.quiet_backend_probes()
  with host.exit_codes():  # After SIGTERM the run is resumable.
    run_all(FLAGS.grid, FLAGS.root, parse_overrides(FLAGS.set), FLAGS.archive,
            FLAGS.archive_every_minutes)


if __name__ == '__main__':
  # Defined here, so that tests can import this module beside others.
  flags.DEFINE_string('grid', None, 'A grid file under grids/.')
  flags.DEFINE_string('root', None, 'One directory for the whole grid.')
  flags.DEFINE_multi_string('set', [], 'FIELD=VALUE overrides for every run, '
                            'e.g. tfds_data_dir=../shared/data/tfds.')
  flags.DEFINE_string('archive', None, 'A folder to commit: each run packed '
                      'when it finishes or is preempted, and unpacked before '
                      'it trains in an empty workdir (archive.py).')
  flags.DEFINE_float('archive_every_minutes', 15.0, 'With --archive: minutes '
                     'between archives of a training run, at its newest '
                     'checkpoint, so that a machine lost without SIGTERM '
                     'loses at most this much; 0: only when a run ends.')
  flags.mark_flags_as_required(['grid', 'root'])
  app.run(main)
