"""A grid's finished runs, read from a sweep directory or from a summary.

A run here is its result.json with its model, fraction and seed (from its
name) and the curves of its TensorBoard logs (`scalars`); a summary,
<results_dir>/runs.json, is a list of them, small enough to commit.
"""

import functools
import json
import pathlib
import re

from absl import logging
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from mixer_jax import config_lib

_NAME = re.compile(
    r'(?P<model>.+)_frac(?P<fraction>[0-9.e-]+)_seed(?P<seed>\d+)$')
# The logged curves that the summary keeps; the rest (speed) stays in the logs.
_CURVES = ('train_', 'validation_', 'test_')


def logged_scalars(workdir):
  """{tag: [(step, value), ...]} from a run's TensorBoard event files, each
  step once, by step.

  A run resumed from a checkpoint older than its logs (after a crash, or from
  an archive refreshed between checkpoints) logs some steps twice: the later
  write is kept, the one that the rest of the run continues from.
  """
  accumulator = event_accumulator.EventAccumulator(
      str(workdir), size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  scalars = {}
  for tag in accumulator.Tags()['tensors']:
    if tag.startswith('_hparams_'):
      continue
    by_step = {e.step: float(tensor_util.make_ndarray(e.tensor_proto))
               for e in sorted(accumulator.Tensors(tag),
                               key=lambda e: e.wall_time)}
    scalars[tag] = sorted(by_step.items())
  return scalars


def load_runs(root):
  """Every finished run under `root`, with its curves."""
  runs = []
  for result_file in sorted(pathlib.Path(root).glob('*/result.json')):
    result = json.loads(result_file.read_text())
    match = _NAME.match(result['name'])
    scalars = logged_scalars(result_file.parent)
    runs.append({**result, 'model': match['model'],
                 'fraction': float(match['fraction']),
                 'seed': int(match['seed']),
                 'scalars': {tag: values for tag, values in scalars.items()
                             if tag.startswith(_CURVES)}})
  return runs


def with_recorded_runs(runs, summary_file):
  """`runs`, and the runs of an earlier summary that they lack.

  A summary is the committed record of a grid's finished runs, and the sweep
  directory that trained some of them may be gone (a new machine); a run in
  both is taken from the directory.
  """
  if not summary_file.exists():
    return runs
  names = {r['name'] for r in runs}
  recorded = [r for r in json.loads(summary_file.read_text())
              if r['name'] not in names]
  if recorded:
    logging.info('Kept from %s, not under --root: %s.', summary_file,
                 ', '.join(r['name'] for r in recorded))
  return sorted(runs + recorded, key=lambda r: r['name'])


@functools.lru_cache(maxsize=None)
def _grid_definitions(grids_dir):
  """{run name: (config file, overrides)} over every grid file in grids_dir."""
  definitions = {}
  for grid_file in sorted(pathlib.Path(grids_dir).glob('*.py')):
    for run in config_lib.load_python_file(grid_file).get_grid():
      definitions[run['name']] = run['config'], run['overrides']
  return definitions


def as_defined_today(runs, grids_dir):
  """`runs` with the config file and overrides that their grid gives them now.

  A run records those it was trained with, and config files and fields have
  been renamed since (on 2026-12-06 `model.stem` became `model.locality` and
  `model.locality_at`); tests/grid_golden_test.py pins that each grid run's
  definition today is the same run. Runs of no grid keep their own.
  """
  definitions = _grid_definitions(str(grids_dir))
  return [{**run, **dict(zip(('config', 'overrides'),
                             definitions[run['name']]))}
          if run['name'] in definitions else run for run in runs]


def load_reference_runs(spec, grids_dir):
  """The runs of `references_from`'s baseline and hybrid in its summary."""
  other = spec.references_from
  if not other:
    return []
  runs = json.loads(pathlib.Path(other['summary']).read_text())
  return as_defined_today(
      [r for r in runs if r['model'] in (other['baseline'], other['hybrid'])],
      grids_dir)
