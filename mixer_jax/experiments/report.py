r"""Reads a sweep's runs and writes its results page, figures and tables.

Each grid has its own page; the grid file says what goes on it (below):

  # The seed's experiment (issue 18): docs/RESULTS.md and docs/results/seed/.
  python -m mixer_jax.experiments.report --root=runs/seed --grid=grids/seed.py \
    --out=docs
  # The small-data grid (issue 7): docs/RESULTS_small_data.md and
  # docs/results/small_data/.
  python -m mixer_jax.experiments.report --root=runs/small_data \
    --grid=grids/small_data.py --out=docs

reads every finished run's result.json and TensorBoard logs under --root and
writes a summary of them, <results_dir>/runs.json, small enough to commit; the
runs of an earlier summary there that --root lacks are kept in it.
From that summary alone (`--summary=docs/results/small_data/runs.json` instead
of --root, to regenerate without the runs) it writes, under --out,

(a) <results_dir>/loss_curves.png: training and validation (else test) loss
    of the baseline, the hybrid and the stem;
(b) <results_dir>/accuracy_vs_fraction.png: final test accuracy, mean +- std,
    against the training fraction, for those models and any other trained at
    more than one fraction;
(c) <results_dir>/controls.png: a panel per fraction of `controls_fractions`
    where a control (a model other than those three) has finished: each
    model's paired (by seed) difference in final test accuracy from its
    baseline, and from the models `also_compare` names, with its 95%
    interval;
(d) <markdown>: per model, training fraction and training length: parameters
    and overhead, GFLOPs, final and best test accuracy, the train - test
    accuracy gap, the final training loss, and the paired differences from
    the baseline and from the hybrid with 95% intervals; published figures;
    every run's own final and best test accuracy (with its epoch), final
    training loss and clean training accuracy; the differences in words;
    the figures; and the conclusion from
    <results_dir>/conclusion.md, which a person writes;
(e) <results_dir>/fidelity.png: with `published` curves, the published runs'
    test accuracy and training loss epoch by epoch beside this grid's runs of
    the same models, fraction and length; the page gives their differences.

It reports a partial grid too: a figure is drawn only from the runs that have
finished (and left out without them), and the page lists the unfinished ones,
with the step from which the grid's `archive` resumes those stopped partway.

The grid file declares a module-level dict REPORT:

  title: the page's title.
  markdown: the page's file name under --out.
  results_dir: the folder under --out for runs.json, the figures and
    conclusion.md.
  root: the sweep directory that the page's commands name.
  archive (optional): the committed `--archive` of the sweep, that the page's
    sweep command names too (runs resume from it on a fresh clone).
  baseline, hybrid: model names (a run's name without `_frac..._seed...`).
    Every other model is compared with both, paired by seed, at the same
    training fraction and length; the hybrid with the baseline.
  stem (optional): a third model drawn beside those two.
  loss_curves_fractions (default (0.1,)): figure (a) is drawn at the first of
    these fractions with finished runs of those models, else at the finished
    fraction nearest the last.
  controls_fractions (optional): figure (c)'s fractions, a panel each; no
    figure without them.
  published (optional): figures published elsewhere, as rows of the table:
    {'label': what follows the model's name in its row, 'source': a paragraph
     above the table on where they come from, 'fraction': ..., 'length':
     '30 epochs', and either 'rows': {model: {any of 'final_test_accuracy',
     'best_test_accuracy', 'final_train_loss': value}} or, where the source
     logs every epoch, 'curves': {model: {'test_accuracy': [one a epoch],
     'train_loss': [the epoch's mean]}} with 'steps_per_epoch' (this grid's),
     from which the rows (last, best and last epoch) and figure (e) come}.
  references_from (optional): models compared with another grid's baseline
    and hybrid instead, read from that grid's committed summary (a path from
    the repository root) and paired by seed as above:
    {'summary': ..., 'baseline': ..., 'hybrid': ..., 'models': [...]}.
    Their model names must differ from this grid's.
  also_compare (optional): {model: [other models]}, paired differences
    written out beside the baseline's and the hybrid's, e.g. a control
    hybrid against the baseline trained with the same change.

A run's training length comes from its config file and grid overrides, so
set training settings in the grid, not with the sweep's --set.
"""

import collections
import copy
import dataclasses
import functools
import itertools
import json
import os
import pathlib
import re
from typing import Any, Mapping, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np
import scipy.stats
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from mixer_jax import config_lib
from mixer_jax.experiments import archive as run_archive

FLAGS = flags.FLAGS

_NAME = re.compile(
    r'(?P<model>.+)_frac(?P<fraction>[0-9.e-]+)_seed(?P<seed>\d+)$')
# The logged curves that the summary keeps; the rest (speed) stays in the logs.
_CURVES = ('train_', 'validation_', 'test_')


@dataclasses.dataclass(frozen=True)
class Spec:
  """A grid's REPORT: what its page says and whom it compares with whom."""
  title: str
  markdown: str
  results_dir: str
  root: str
  baseline: str
  hybrid: str
  stem: Optional[str] = None
  archive: Optional[str] = None
  loss_curves_fractions: Sequence[float] = (0.1,)
  controls_fractions: Sequence[float] = ()
  published: Optional[Mapping[str, Any]] = None
  references_from: Optional[Mapping[str, Any]] = None
  also_compare: Mapping[str, Sequence[str]] = dataclasses.field(
      default_factory=dict)

  @property
  def roles(self):
    """The models of figure (a): baseline, hybrid and stem."""
    return tuple(m for m in (self.baseline, self.hybrid, self.stem) if m)

  def order(self, model):
    """Sort key for the tables and figures: the roles, then by name."""
    return (model != self.baseline, model != self.hybrid, model != self.stem,
            model)

  def baseline_and_hybrid(self, model):
    """The baseline and hybrid that `model` is compared with."""
    other = self.references_from
    if other and model in (*other['models'], other['baseline'],
                           other['hybrid']):
      return other['baseline'], other['hybrid']
    return self.baseline, self.hybrid

  def compared_with(self, model):
    """Whom `model` is compared with: its baseline and hybrid; a hybrid, its
    baseline only; a baseline, none."""
    baseline, hybrid = self.baseline_and_hybrid(model)
    usual = {baseline: (), hybrid: (baseline,)}.get(model, (baseline, hybrid))
    return (*usual, *self.also_compare.get(model, ()))


def load_grid(grid_file):
  """(Spec from the grid's REPORT, names of the grid's runs)."""
  grid = config_lib.load_python_file(grid_file)
  if not hasattr(grid, 'REPORT'):
    raise ValueError(f'{grid_file} has no REPORT dict; see the docstring of '
                     f'mixer_jax/experiments/report.py.')
  try:
    spec = Spec(**grid.REPORT)
  except TypeError as e:  # A missing or unknown key.
    raise ValueError(f'{grid_file}: REPORT: {e}') from e
  return spec, [run['name'] for run in grid.get_grid()]


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


def load_reference_runs(spec):
  """The runs of `references_from`'s baseline and hybrid in its summary."""
  other = spec.references_from
  if not other:
    return []
  runs = json.loads(pathlib.Path(other['summary']).read_text())
  return [r for r in runs if r['model'] in (other['baseline'], other['hybrid'])]


def of_train(fraction):
  """A training fraction in words: 'all of train', '10% of train'."""
  return 'all of train' if fraction == 1 else f'{100 * fraction:g}% of train'


def _std(values):
  """The sample standard deviation over seeds; 0 for one seed."""
  return np.std(values, ddof=1) if len(values) > 1 else 0.0


def _mean_std(values, scale=100, digits=2):
  """Mean ± std of `values` times `scale` (percent by default)."""
  if len(values) == 1:
    return f'{scale * values[0]:.{digits}f}'
  return (f'{scale * np.mean(values):.{digits}f} ± '
          f'{scale * _std(values):.{digits}f}')


def paired_difference(model_acc, reference_acc):
  """(mean, low, high, n): model - reference over shared seeds, 95% t interval.

  None without a shared seed; with one, low and high are None.
  """
  seeds = sorted(set(model_acc) & set(reference_acc))
  diffs = np.array([model_acc[s] - reference_acc[s] for s in seeds])
  if len(diffs) < 2:
    return (diffs[0], None, None, 1) if len(diffs) else None
  half = scipy.stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(
      len(diffs))
  return diffs.mean(), diffs.mean() - half, diffs.mean() + half, len(diffs)


@functools.lru_cache(maxsize=None)
def _config_file(absolute_path):
  """A config file's config, read once per process: the groups and the table
  both ask for each run's. Copy before changing it: it is shared."""
  return config_lib.load_config_file(absolute_path)


def run_config(run):
  """The run's config: its config file with its overrides."""
  # Absolute: runs record paths from the repository root, and a cached
  # relative path would outlive a change of directory.
  config = copy.deepcopy(_config_file(os.path.abspath(run['config'])))
  return config_lib.override(config, run['overrides'])


def training_length(run):
  """'40 epochs' or '2 steps', from the run's config."""
  config = run_config(run)
  if config.num_train_steps != -1:
    return f'{config.num_train_steps} steps'
  return f'{config.num_epochs:g} epochs'


def group_runs(runs, spec):
  """{(model, fraction, length): runs}: the runs that differ only in seed.

  The table, the paired differences and the figures all read these groups;
  building them loads each run's config file, so it is done once per report.
  Per fraction and length: the baseline, the hybrid, the stem, the others.
  """
  groups = collections.defaultdict(list)
  for run in runs:
    groups[run['model'], run['fraction'], training_length(run)].append(run)
  order = lambda key: (key[1], key[2], spec.order(key[0]))
  return dict(sorted(groups.items(), key=lambda item: order(item[0])))


def final_test_accuracy(run):
  return run['eval']['test_accuracy']


def best_test_accuracy(run):
  """The best of the run's evaluations: it peeks at the test set."""
  return max(v for _, v in run['scalars']['test_accuracy'])


@dataclasses.dataclass(frozen=True)
class Results:
  """A grid's groups of runs, and another grid's that some are compared with.

  `references` holds only the groups of `spec.references_from` trained like a
  group of one of its `models`: the only ones that pair.
  """
  spec: Spec
  groups: Mapping[tuple, list]
  references: Mapping[tuple, list]

  @classmethod
  def from_runs(cls, runs, spec, reference_runs=()):
    groups = group_runs(runs, spec)
    compared = {(fraction, length) for model, fraction, length in groups
                if spec.references_from
                and model in spec.references_from['models']}
    references = {key: group for key, group in
                  group_runs(reference_runs, spec).items()
                  if key[1:] in compared}
    shared = {key[0] for key in groups} & {key[0] for key in references}
    if shared:
      raise ValueError(f'Models both in the grid and in references_from: '
                       f'{sorted(shared)}.')
    return cls(spec, groups, references)

  @property
  def runs(self):
    """This grid's finished runs."""
    return [run for group in self.groups.values() for run in group]

  def group(self, key):
    """The runs of `key`, this grid's or the other's; None if neither's."""
    return self.groups.get(key, self.references.get(key))

  def num_params(self, model):
    """The model's parameter count; None before one of its runs finished."""
    return next((group[0]['num_params'] for key, group in
                 itertools.chain(self.groups.items(), self.references.items())
                 if key[0] == model), None)

  def label(self, model):
    """The model's name, and where its runs come from if another grid's."""
    if any(key[0] == model for key in self.references):
      return f'{model} (`{self.spec.references_from["summary"]}`)'
    return model

  def paired(self, key, reference, accuracy=final_test_accuracy):
    """`key`'s group against `reference` trained alike, paired by seed, in
    `accuracy`: a function of a run."""
    _, fraction, length = key
    reference_group = self.group((reference, fraction, length))
    if not reference_group:
      return None
    by_seed = lambda group: {r['seed']: accuracy(r) for r in group}
    return paired_difference(by_seed(self.group(key)),
                             by_seed(reference_group))


def _points(paired):
  mean, low, high, n = paired
  if n == 1:
    return f'{100 * mean:+.2f}, n=1'
  return f'{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}], n={n}'


def final_train_loss(run):
  """The training loss's mean over the run's last epoch, as published figures
  give it: `epoch_means` at the last epoch, so the last interval alone where
  it is longer than an epoch. The last interval where the run is counted in
  steps."""
  points = run['scalars']['train_loss']
  config = run_config(run)
  if config.num_train_steps != -1:
    return points[-1][1]
  means = epoch_means(points, points[-1][0] / config.num_epochs)
  return means[max(means)]


_COLUMNS = ('model', 'train fraction', 'length', 'n seeds', 'parameters',
            'overhead', 'GFLOPs/img', 'final test acc %', 'best test acc %',
            'train − test gap (points)', 'final train loss',
            '− baseline, paired, 95% CI (points)',
            '− hybrid, paired, 95% CI (points)')


def _group_cells(results, key, group):
  """A row of the table: one group of runs."""
  model, fraction, length = key
  final = [final_test_accuracy(r) for r in group]
  best = [best_test_accuracy(r) for r in group]
  gaps = [r['eval']['train_clean_accuracy'] - final_test_accuracy(r)
          for r in group if 'train_clean_accuracy' in r['eval']]
  references = results.spec.baseline_and_hybrid(model)
  params = group[0]['num_params']
  baseline_params = results.num_params(references[0])
  overhead = (f'{100 * (params / baseline_params - 1):+.2f}%'
              if baseline_params else '')
  compared = results.spec.compared_with(model)
  differences = [results.paired(key, reference) if reference in compared
                 else None for reference in references]
  return [results.label(model), f'{fraction:g}', length, str(len(group)),
          f'{params:,}', overhead, f'{group[0]["gflops"]:.3f}',
          _mean_std(final), _mean_std(best),
          _mean_std(gaps) if gaps else 'n/a',
          _mean_std([final_train_loss(r) for r in group], scale=1, digits=3),
          *[_points(d) if d else '' for d in differences]]


def published_rows(published):
  """{model: {figure: value}}: the published rows, else the ends of the
  published curves."""
  if 'rows' in published:
    return published['rows']
  return {model: {'final_test_accuracy': curve['test_accuracy'][-1],
                  'best_test_accuracy': max(curve['test_accuracy']),
                  'final_train_loss': curve['train_loss'][-1]}
          for model, curve in published['curves'].items()}


def epoch_means(points, steps_per_epoch):
  """{epoch (from 1): the mean of the logged values whose step falls in it}:
  an evaluation at the epoch's end, or the logging intervals ending in it."""
  by_epoch = collections.defaultdict(list)
  for step, value in points:
    by_epoch[-(-step // steps_per_epoch)].append(value)  # ⌈step / n⌉
  return {epoch: np.mean(values) for epoch, values in sorted(by_epoch.items())}


def against_published_curves(results):
  """[(run, its epochs, this run − published per epoch, its epoch means),
  each for test accuracy and training loss] of the runs trained like a
  published curve."""
  published = results.spec.published
  if not published or 'curves' not in published:
    return []
  compared = []
  for model, curve in published['curves'].items():
    key = (model, published['fraction'], published['length'])
    for run in sorted(results.groups.get(key, []), key=lambda r: r['seed']):
      ours = {tag: epoch_means(run['scalars'][tag],
                               published['steps_per_epoch'])
              for tag in ('test_accuracy', 'train_loss')}
      epochs = [e for e in range(1, len(curve['test_accuracy']) + 1)
                if all(e in means for means in ours.values())]
      if epochs:
        compared.append((run, epochs, {
            tag: np.array([ours[tag][e] - curve[tag][e - 1] for e in epochs])
            for tag in ours}, ours))
  return compared


def against_published_in_words(results):
  """Each run trained like a published curve against it, epoch by epoch."""
  lines = []
  for run, epochs, diffs, _ in against_published_curves(results):
    accuracy, loss = 100 * diffs['test_accuracy'], diffs['train_loss']
    lines.append(
        f'- {run["model"]}, seed {run["seed"]} ({len(epochs)} epochs): test '
        f'accuracy − the published run’s, epoch by epoch, '
        f'{np.mean(accuracy):+.2f} points on average (from '
        f'{accuracy.min():+.2f} to {accuracy.max():+.2f}; last epoch '
        f'{accuracy[-1]:+.2f}); training loss − the published run’s '
        f'{np.mean(loss):+.3f} on average (last epoch {loss[-1]:+.3f}).')
  return '\n'.join(lines) + '\n' if lines else 'No run trained alike yet.\n'


def _published_cells(spec):
  """{(model, fraction, length): a row of the table} of `spec.published`.

  A published hybrid's difference from its published baseline is best epoch
  against best epoch, the figure that such sources give.
  """
  published = spec.published
  rows = published_rows(published) if published else {}
  percent = lambda row, field: f'{100 * row[field]:.2f}' if field in row else ''
  cells = {}
  for model, row in rows.items():
    baseline = spec.baseline_and_hybrid(model)[0]
    baseline_row = rows.get(baseline, {}) if baseline != model else {}
    difference = ''
    if 'best_test_accuracy' in baseline_row:
      best = row['best_test_accuracy'] - baseline_row['best_test_accuracy']
      difference = f'{100 * best:+.2f} (best epochs), n=1'
    loss = row.get('final_train_loss')
    cells[model, published['fraction'], published['length']] = [
        f'{model}: {published["label"]}', f'{published["fraction"]:g}',
        published['length'], '1', '', '', '',
        percent(row, 'final_test_accuracy'),
        percent(row, 'best_test_accuracy'), '',
        '' if loss is None else f'{loss:.2f}', difference, '']
  return cells


def _row_order(results, key, rank):
  """Sort key of the tables' rows: per fraction and length, another grid's
  reference groups (rank 0), this grid's (1), the published figures (2)."""
  model, fraction, length = key
  return fraction, length, rank, results.spec.order(model)


def results_table(results):
  """The Markdown table (d): per fraction and length, another grid's reference
  groups, then this grid's, then the published figures."""
  rows = ([(_row_order(results, key, 0), _group_cells(results, key, group))
           for key, group in results.references.items()] +
          [(_row_order(results, key, 1), _group_cells(results, key, group))
           for key, group in results.groups.items()] +
          [(_row_order(results, key, 2), cells)
           for key, cells in _published_cells(results.spec).items()])
  lines = ['| ' + ' | '.join(_COLUMNS) + ' |', '|' + '---|' * len(_COLUMNS)]
  lines += ['| ' + ' | '.join(cells) + ' |'
            for _, cells in sorted(rows, key=lambda row: row[0])]
  return '\n'.join(lines) + '\n'


def best_evaluation(run):
  """(accuracy, when): the run's best test accuracy and the first evaluation
  that reached it, as 'epoch N' where the run is counted in epochs, else
  'step N'."""
  step, accuracy = max(run['scalars']['test_accuracy'],
                       key=lambda point: point[1])
  config = run_config(run)
  if config.num_train_steps != -1:
    return accuracy, f'step {step}'
  last_step = run['scalars']['test_accuracy'][-1][0]  # The run's last step.
  return accuracy, f'epoch {step * config.num_epochs / last_step:.3g}'


_RUN_COLUMNS = ('model', 'train fraction', 'length', 'seed',
                'final test acc %', 'best test acc % (when)',
                'final train loss', 'clean train acc %')


def runs_table(results):
  """The Markdown table of every run, another grid's references first, in the
  order of the groups' table, by seed."""
  groups = sorted(
      [(_row_order(results, key, 0), key, group)
       for key, group in results.references.items()] +
      [(_row_order(results, key, 1), key, group)
       for key, group in results.groups.items()],
      key=lambda item: item[0])
  lines = ['| ' + ' | '.join(_RUN_COLUMNS) + ' |',
           '|' + '---|' * len(_RUN_COLUMNS)]
  for _, (model, fraction, length), group in groups:
    for run in sorted(group, key=lambda r: r['seed']):
      best, when = best_evaluation(run)
      clean = run['eval'].get('train_clean_accuracy')
      cells = [results.label(model), f'{fraction:g}', length, str(run['seed']),
               f'{100 * final_test_accuracy(run):.2f}',
               f'{100 * best:.2f} ({when})', f'{final_train_loss(run):.3f}',
               'n/a' if clean is None else f'{100 * clean:.2f}']
      lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def differences_in_words(results):
  """Each of this grid's models' paired differences from its baseline and,
  but for the hybrid, from its hybrid, per training fraction and length."""
  lines = []
  for key in results.groups:
    model, fraction, length = key
    for reference in results.spec.compared_with(model):
      paired = results.paired(key, reference)
      if not paired:
        continue
      mean, low, high, n = paired
      if n == 1:
        interval = 'on the one paired seed (no interval with n=1)'
      else:
        excludes_zero = 'excludes' if low > 0 or high < 0 else 'includes'
        interval = (f'95% CI [{100 * low:+.2f}, {100 * high:+.2f}] over n={n} '
                    f'paired seeds (the interval {excludes_zero} zero)')
      # The seed's own claim is in best-epoch accuracy.
      best = results.paired(key, reference, best_test_accuracy)
      lines.append(f'- {of_train(fraction)}, {length}: {model} − '
                   f'{results.label(reference)} = {100 * mean:+.2f} points of '
                   f'final test accuracy, {interval}; best epoch: '
                   f'{_points(best)}.')
  return '\n'.join(lines) + '\n' if lines else 'No paired runs yet.\n'


def accuracy_at_step(step):
  """A function of a run: its test accuracy at its evaluation nearest `step`."""
  return lambda run: min(run['scalars']['test_accuracy'],
                         key=lambda point: abs(point[0] - step))[1]


def _schedule_by_step_alone(runs):
  """Whether all `runs` take one learning rate schedule that depends on the
  step alone (the cosine wave), not on the run's length."""
  schedules = {(c.optimizer.schedule, c.optimizer.learning_rate,
                c.optimizer.get('cosine_wave_t_max'))
               for c in map(run_config, runs)}
  return len(schedules) == 1 and next(iter(schedules))[0] == 'cosine_wave'


def matched_steps_in_words(results):
  """Each paired difference on a subset of train, beside the same pair on all
  of train at its evaluation nearest the subset's last step.

  With the same number of epochs, a subset also trains fewer steps; this
  tells the two apart where the full-data runs have evaluations that early.
  """
  lines = []
  for key in results.groups:
    model, fraction, length = key
    if fraction == 1:
      continue
    for reference in results.spec.compared_with(model):
      small = results.paired(key, reference)
      full_key = (model, 1.0, length)
      full = results.group(full_key)
      full_reference = results.group((reference, 1.0, length))
      if not (small and full and full_reference):
        continue
      steps = results.group(key)[0]['scalars']['test_accuracy'][-1][0]
      step = min((point[0] for point in full[0]['scalars']['test_accuracy']),
                 key=lambda s: abs(s - steps))
      matched = results.paired(full_key, reference, accuracy_at_step(step))
      rates = ('the same learning rates by step: the schedule depends on the '
               'step alone'
               if _schedule_by_step_alone(
                   [*results.group(key), *full, *full_reference])
               else 'other learning rates: the schedule follows the run')
      lines.append(
          f'- {model} − {results.label(reference)}, {length}: '
          f'{of_train(fraction)} after {steps:,} steps: {_points(small)}; '
          f'all of train at step {step:,} ({rates}): {_points(matched)}; '
          f'all of train at the end: '
          f'{_points(results.paired(full_key, reference))}.')
  return '\n'.join(lines) + '\n' if lines else ''


def model_colors(models, spec):
  """{model: matplotlib colour}, by `spec.order`, not by finishing order.

  The same in every figure, and in every version of them once each model has
  a finished run.
  """
  return {model: f'C{i}' for i, model in enumerate(sorted(models,
                                                          key=spec.order))}


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, out, file_name):
  fig.tight_layout()
  fig.savefig(os.path.join(out, file_name), dpi=100)
  _pyplot().close(fig)
  return file_name


def loss_curves_fraction(results):
  """Figure (a)'s fraction; None before any run of its models has finished."""
  fractions = {fraction for model, fraction, _ in results.groups
               if model in results.spec.roles}
  preferred = results.spec.loss_curves_fractions
  if not fractions:
    return None
  return next((f for f in preferred if f in fractions),
              min(fractions, key=lambda f: abs(f - preferred[-1])))


def plot_loss_curves(results, colors, out):
  """Figure (a), one line per run; its file name, or None without runs."""
  fraction = loss_curves_fraction(results)
  if fraction is None:
    return None
  runs = [run for (model, f, _), group in results.groups.items()
          if f == fraction and model in results.spec.roles for run in group]
  eval_loss = ('validation_loss' if all('validation_loss' in r['scalars']
                                        for r in runs) else 'test_loss')
  plt = _pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  labelled = set()
  for run in runs:
    label = None if run['model'] in labelled else run['model']
    labelled.add(run['model'])
    for ax, tag in zip(axes, ('train_loss', eval_loss)):
      steps, values = zip(*run['scalars'][tag])
      ax.plot(steps, values, color=colors[run['model']], alpha=0.8,
              label=label)
  for ax, title in zip(axes, ('training loss (augmented batches)',
                              eval_loss.replace('_', ' '))):
    ax.set(title=f'{title}, {of_train(fraction)}', xlabel='step')
    ax.legend()
  fig.suptitle('CIFAR-10 (JPEG copy), one line per seed')
  return _save(fig, out, 'loss_curves.png')


def plot_accuracy_vs_fraction(results, colors, out):
  """Figure (b); its file name, or None without runs of its models.

  A model trained at one fraction only, such as a control, is left to the
  table and figure (c): a lone point would crowd the three models' lines.
  """
  series = collections.defaultdict(dict)  # A line joins runs trained alike.
  for (model, fraction, length), group in results.groups.items():
    series[model, length][fraction] = [final_test_accuracy(r) for r in group]
  shown = sorted((key for key, fractions in series.items()
                  if key[0] in results.spec.roles or len(fractions) > 1),
                 key=lambda key: (results.spec.order(key[0]), key[1]))
  if not shown:
    return None
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  # Colour: the model; line style and marker: the training length.
  styles = dict(zip(sorted({length for _, length in shown}), itertools.cycle(
      [('-', 'o'), ('--', 's'), (':', '^')])))
  for model, length in shown:
    fractions = series[model, length]
    xs = sorted(fractions)
    linestyle, marker = styles[length]
    ax.errorbar(xs, [100 * np.mean(fractions[x]) for x in xs],
                yerr=[100 * _std(fractions[x]) for x in xs],
                color=colors[model], linestyle=linestyle, marker=marker,
                capsize=3, label=f'{model}, {length}')
  xs = sorted({x for key in shown for x in series[key]})
  ax.set(xscale='log', xlabel='fraction of the training set',
         ylabel='final test accuracy (%), mean ± std',
         title='CIFAR-10 (JPEG copy)')
  ax.set_xticks(xs, [f'{100 * x:g}%' for x in xs])
  ax.minorticks_off()
  ax.legend(fontsize=7)
  return _save(fig, out, 'accuracy_vs_fraction.png')


def control_differences(results, fraction):
  """[(key, whom it is compared with, paired difference)] at `fraction`: every
  model but the baseline against its baseline, and against the models that
  `also_compare` names (a control pair's own gain, e.g. the hybrid's under
  another schedule); [] until a control (not a role) has one."""
  bars = []
  for key in results.groups:
    model, key_fraction, _ = key
    compared = results.spec.compared_with(model)
    if key_fraction != fraction or not compared:
      continue
    for other in dict.fromkeys(
        (compared[0], *results.spec.also_compare.get(model, ()))):
      if paired := results.paired(key, other):
        bars.append((key, other, paired))
  has_control = any(key[0] not in results.spec.roles for key, _, _ in bars)
  return bars if has_control else []


def plot_controls(results, colors, out):
  """Figure (c), a panel per fraction with a control and a bar per model;
  its file name, or None without a control."""
  panels = [(fraction, bars) for fraction in results.spec.controls_fractions
            if (bars := control_differences(results, fraction))]
  if not panels:
    return None
  plt = _pyplot()
  heights = [1.2 + 0.45 * len(bars) for _, bars in panels]
  fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                           figsize=(8, 0.6 + sum(heights)),
                           gridspec_kw={'height_ratios': heights})
  for ax, (fraction, bars) in zip(axes[:, 0], panels):
    labels = []
    for y, (key, baseline, (mean, low, high, n)) in enumerate(bars):
      model, _, length = key
      error = None if n == 1 else [[100 * (mean - low)], [100 * (high - mean)]]
      ax.barh(y, 100 * mean, xerr=error, color=colors[model], capsize=4)
      labels.append(f'{model} − {baseline}\n{length}, n={n}')
    ax.set_yticks(range(len(bars)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color='black', linewidth=0.8)
    ax.set_title(f'{of_train(fraction)}, CIFAR-10 (JPEG copy)')
  axes[-1, 0].set_xlabel('final test accuracy − the model after the minus '
                         '(points)\npaired by seed; error bars: 95% t '
                         'interval, none with n=1')
  fig.tight_layout()
  return _save(fig, out, 'controls.png')


def plot_against_published(results, colors, out):
  """Figure (e); its file name, or None without a run trained alike."""
  compared = against_published_curves(results)
  if not compared:
    return None
  published = results.spec.published
  plt = _pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for model, curve in published['curves'].items():
    if model not in colors:
      continue
    epochs = range(1, len(curve['test_accuracy']) + 1)
    for ax, tag, scale in zip(axes, ('test_accuracy', 'train_loss'), (100, 1)):
      ax.plot(epochs, [scale * v for v in curve[tag]], color=colors[model],
              linestyle='--', marker='x', markersize=3,
              label=f'{model}: {published["label"]}')
  labelled = set()
  for run, _, _, epoch_means_of in compared:
    label = None if run['model'] in labelled else f'{run["model"]}: this grid'
    labelled.add(run['model'])
    for ax, tag, scale in zip(axes, ('test_accuracy', 'train_loss'), (100, 1)):
      means = epoch_means_of[tag]
      ax.plot(list(means), [scale * v for v in means.values()],
              color=colors[run['model']], alpha=0.8, label=label)
  axes[0].set(title='test accuracy (%) after each epoch', xlabel='epoch')
  axes[1].set(title="training loss, the epoch's mean (augmented batches)",
              xlabel='epoch')
  for ax in axes:
    ax.legend(fontsize=7)
  fig.suptitle(f'{of_train(published["fraction"])}, {published["length"]}: '
               f'this grid on CIFAR-10 (JPEG copy), one line per seed')
  return _save(fig, out, 'fidelity.png')


def plot(results, out):
  """Writes the figures that the finished runs allow: [(alt text, file)]."""
  colors = model_colors({model for model, _, _ in results.groups},
                        results.spec)
  figures = [
      ('loss curves', plot_loss_curves(results, colors, out)),
      ('test accuracy against training fraction',
       plot_accuracy_vs_fraction(results, colors, out)),
      ('paired differences of each model and control, with 95% intervals',
       plot_controls(results, colors, out)),
      ('epoch by epoch against the published runs',
       plot_against_published(results, colors, out))]
  return [(alt, file_name) for alt, file_name in figures if file_name]


def unfinished(runs, grid_names):
  """Names of the grid's runs that have no result yet."""
  done = {r['name'] for r in runs}
  return [name for name in grid_names if name not in done]


def machine_spans(run):
  """'steps 1-X on A; X+1- on B', for a run whose recorded starts (sweep.py)
  name more than one machine, or begin after step 0, else None.

  A run resumes bit for bit only on the CPU model it began on (XLA's kernels
  differ in the last bits between models), so such a run is said to be one.
  """
  spans = []
  for start in run.get('starts', []):
    if not spans or spans[-1][1] != start['machine']:
      spans.append((start['step'], start['machine']))
  if not spans or (len(spans) == 1 and spans[0][0] == 0):
    return None
  if spans[0][0]:
    spans.insert(0, (0, 'not recorded'))
  ends = [f'{step:,}' for step, _ in spans[1:]] + ['the end']
  return '; '.join(f'steps {step + 1:,}–{end} on {machine}'
                   for (step, machine), end in zip(spans, ends))


def _provenance(results, grid_names):
  """Where the runs trained, when, and which are missing or borrowed."""
  runs = results.runs
  machines = collections.Counter(r.get('machine', 'not recorded')
                                 for r in runs)
  lines = [f'- {n} run(s) on: {machine}.'
           for machine, n in sorted(machines.items())]
  dates = sorted({r.get('finished', '?') for r in runs})
  when = (f'on {dates[0]}' if len(dates) == 1 else
          f'between {dates[0]} and {dates[-1]}')
  missing = unfinished(runs, grid_names)
  lines.append(f'- Runs finished {when}; {len(runs)} of\n'
               f'  {len(runs) + len(missing)} runs of the grid are done.')
  archive = results.spec.archive
  stopped = {name: state for name in missing if archive and (
      state := run_archive.manifest(archive, name)) and state['step']}
  if stopped:
    lines.append(f'- Stopped partway, to resume from `{archive}`: ' + ', '.join(
        f'{name} at step {state["step"]:,} (archived {state["archived"]})'
        for name, state in stopped.items()) + '.')
  if not_started := [name for name in missing if name not in stopped]:
    lines.append(f'- Not run yet: {", ".join(not_started)}.')
  lines += [f'- {r["name"]} trained on more than one machine: {spans}.'
            for r in runs if (spans := machine_spans(r))]
  other = results.spec.references_from
  if other:
    lines.append(
        f'- {", ".join(other["models"])} against {other["baseline"]} and '
        f'{other["hybrid"]} of another grid, from its summary '
        f'`{other["summary"]}` ({sum(map(len, results.references.values()))} '
        f'runs trained alike, paired by seed).')
  return '\n'.join(lines) + '\n'


def results_markdown(results, grid_file, grid_names, figures, conclusion):
  """The page (d): provenance, the table, the figures, the conclusion."""
  spec = results.spec
  summary = f'docs/{spec.results_dir}/runs.json'
  published = (f'\n{spec.published["source"]}\n' if spec.published else '')
  archive = f'--archive={spec.archive} ' if spec.archive else ''
  curves = ''
  if spec.published and 'curves' in spec.published:
    curves_intro = (
        f"This grid's runs of {', '.join(spec.published['curves'])} on "
        f"{of_train(spec.published['fraction'])}, "
        f"{spec.published['length']}, against {spec.published['label']}: "
        f"test accuracy after each epoch, and the epoch's mean training loss "
        f"(here: the mean of the logging intervals that end in it).")
    curves = f"""
## Against the published runs, epoch by epoch

{curves_intro}

{against_published_in_words(results)}"""
  matched = matched_steps_in_words(results)
  if matched:
    matched = f"""
## Less data, or fewer steps?

With the same number of epochs, a subset of train is also trained for fewer
steps. Final test accuracy, paired by seed, on the subset; on all of train at
its evaluation nearest the subset's last step; and on all of train at the end:

{matched}"""
  images = '\n'.join(f'![{alt}]({spec.results_dir}/{file_name})\n'
                     for alt, file_name in figures) or 'None yet.\n'
  return f"""# {spec.title}

Generated by `python -m mixer_jax.experiments.report` from the runs of `{grid_file}`;
do not edit by hand. All accuracies are on **CIFAR-10 (JPEG copy)**: the
offline copy in `../shared/data` went through JPEG once, so they are
comparable to each other, and only loosely to published CIFAR-10 figures,
which should sit a little higher.

```bash
python -m mixer_jax.experiments.sweep --grid={grid_file} --root={spec.root} \\
  {archive}--set=tfds_data_dir=../shared/data/tfds
# on 2 cores: two such workers, prefixed `taskset -c 0` and `taskset -c 1`
python -m mixer_jax.experiments.report --root={spec.root} --grid={grid_file} --out=docs
# or, from the committed summary of those runs:
python -m mixer_jax.experiments.report --summary={summary} \\
  --grid={grid_file} --out=docs
```

{_provenance(results, grid_names)}

## Paired differences

{differences_in_words(results)}{matched}{curves}
## Table

Final: after the last epoch. Best: the highest test accuracy over the run's
evaluations, which peeks at the test set and is optimistic. Train − test gap:
accuracy on 2,000 of the run's own training images without augmentation,
minus test accuracy, at the end (higher: more overfitting). Final train loss:
the last epoch's mean training loss on augmented batches, as published runs
give it (here: the mean of the logging intervals that end in that epoch, or
the last interval where one is longer than an epoch). − baseline, − hybrid:
the model's final test accuracy minus its baseline's or hybrid's, trained
alike, paired by seed: the same training subset and data order for both
models.
{published}
{results_table(results)}
## Each run

The table's groups, run by run. Clean train acc: accuracy at the end on the
run's first `train_clean_size` training images, without augmentation.

{runs_table(results)}
## Figures

{images}
## Conclusion

{conclusion}
"""


def main(argv):
  del argv
  if bool(FLAGS.root) == bool(FLAGS.summary):
    raise app.UsageError('Pass either --root (a sweep directory) or --summary '
                         '(a runs.json written from one).')
  spec, grid_names = load_grid(FLAGS.grid)
  results_dir = os.path.join(FLAGS.out, spec.results_dir)
  summary_file = pathlib.Path(results_dir, 'runs.json')
  if FLAGS.root:
    runs = with_recorded_runs(load_runs(FLAGS.root), summary_file)
  else:
    runs = json.loads(pathlib.Path(FLAGS.summary).read_text())
  if not runs:
    raise app.UsageError(f'No finished runs (*/result.json) under '
                         f'--root={FLAGS.root}; run '
                         f'mixer_jax.experiments.sweep first.')
  os.makedirs(results_dir, exist_ok=True)
  if FLAGS.root:
    summary_file.write_text(json.dumps(runs, indent=0))
  results = Results.from_runs(runs, spec, load_reference_runs(spec))
  figures = plot(results, results_dir)
  conclusion_file = pathlib.Path(results_dir, 'conclusion.md')
  conclusion = (conclusion_file.read_text() if conclusion_file.exists() else
                f'Not written yet: a person writes it in '
                f'{spec.results_dir}/conclusion.md beside this file, and runs '
                f'the report again.\n')
  markdown = results_markdown(results, FLAGS.grid, grid_names, figures,
                              conclusion)
  with open(os.path.join(FLAGS.out, spec.markdown), 'w') as f:
    f.write(markdown)
  print(markdown)


if __name__ == '__main__':
  # Defined here, so that tests can import this module beside others.
  flags.DEFINE_string('root', None, 'The sweep directory.')
  flags.DEFINE_string('summary', None, 'Or: a runs.json the report wrote.')
  flags.DEFINE_string('grid', 'grids/small_data.py', 'The sweep\'s grid file.')
  flags.DEFINE_string('out', 'docs', 'Where the page and its results_dir go.')
  app.run(main)
