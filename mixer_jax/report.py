r"""Reads a sweep's runs and writes docs/RESULTS.md with its figures and tables.

  python -m mixer_jax.report --root=runs/small_data --grid=grids/small_data.py \
    --out=docs

reads every finished run's result.json and TensorBoard logs under --root and
writes a summary of them, docs/results/runs.json, small enough to commit. From
that summary alone (`--summary=docs/results/runs.json` instead of --root, to
regenerate without the runs) it writes

(a) results/loss_curves.png: training and validation loss, baseline vs hybrid;
(b) results/accuracy_vs_fraction.png: final test accuracy, mean +- std;
(c) RESULTS.md: per model, training fraction and training length,
    parameters and overhead, GFLOPs, final and best test accuracy, the
    train - test accuracy gap, and the paired (by seed) difference from the
    baseline with a 95% interval; then the differences in words (ablations
    also against the hybrid), and the conclusion from results/conclusion.md,
    which a person writes.

A run's training length comes from its config file and grid overrides, so
set training settings in the grid, not with the sweep's --set.
"""

import collections
import itertools
import json
import os
import pathlib
import re

from absl import app
from absl import flags
import numpy as np
import scipy.stats
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from mixer_jax import config_lib

FLAGS = flags.FLAGS

_NAME = re.compile(
    r'(?P<model>.+)_frac(?P<fraction>[0-9.e-]+)_seed(?P<seed>\d+)$')
BASELINE = 'baseline_cifar10'
HYBRID = 'hybrid_cifar10'
# The logged curves that the summary keeps; the rest (speed) stays in the logs.
_CURVES = ('train_', 'validation_', 'test_')


def logged_scalars(workdir):
  """{tag: [(step, value), ...]} from a run's TensorBoard event files."""
  accumulator = event_accumulator.EventAccumulator(
      str(workdir), size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                for e in accumulator.Tensors(tag)]
          for tag in accumulator.Tags()['tensors']
          if not tag.startswith('_hparams_')}


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


def _std(values):
  """The sample standard deviation over seeds; 0 for one seed."""
  return np.std(values, ddof=1) if len(values) > 1 else 0.0


def _mean_std(values):
  return (f'{100 * np.mean(values):.2f} ± {100 * _std(values):.2f}'
          if len(values) > 1 else f'{100 * values[0]:.2f}')


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


def training_length(run):
  """'40 epochs' or '2 steps', from the run's config file and overrides."""
  config = config_lib.load_config_file(run['config'])
  config_lib.override(config, run['overrides'])
  if config.num_train_steps != -1:
    return f'{config.num_train_steps} steps'
  return f'{config.num_epochs:g} epochs'


def group_runs(runs):
  """{(model, fraction, length): runs}: the runs that differ only in seed.

  The table, the paired differences and the figures all read these groups;
  building them loads each run's config file, so it is done once per report.
  """
  groups = collections.defaultdict(list)
  for run in runs:
    groups[run['model'], run['fraction'], training_length(run)].append(run)
  # Per fraction and length: baseline, hybrid, then the ablations.
  order = lambda key: (key[1], key[2], model_order(key[0]))
  return dict(sorted(groups.items(), key=lambda item: order(item[0])))


def model_order(model):
  """Sort key for the tables and figures: baseline, hybrid, the ablations."""
  return model != BASELINE, model != HYBRID, model


def _paired(groups, key, reference):
  """`key`'s group against `reference` trained alike, paired by seed."""
  model, fraction, length = key
  if model == reference or (reference, fraction, length) not in groups:
    return None
  final = lambda group: {r['seed']: r['eval']['test_accuracy'] for r in group}
  return paired_difference(final(groups[key]),
                           final(groups[reference, fraction, length]))


def _points(paired):
  mean, low, high, n = paired
  if n == 1:
    return f'{100 * mean:+.2f}, n=1'
  return f'{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}], n={n}'


def results_table(groups):
  """The Markdown table (c), a row per model, training fraction and length."""
  baseline_params = next((group[0]['num_params']
                          for (model, _, _), group in groups.items()
                          if model == BASELINE), None)
  lines = ['| model | train fraction | length | n seeds | parameters | '
           'overhead | GFLOPs/img | final test acc % | best test acc % | '
           'train − test gap (points) | − baseline, paired, 95% CI (points) |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  for (model, fraction, length), group in groups.items():
    final = [r['eval']['test_accuracy'] for r in group]
    best = [max(v for _, v in r['scalars']['test_accuracy']) for r in group]
    gaps = [r['eval']['train_clean_accuracy'] - r['eval']['test_accuracy']
            for r in group if 'train_clean_accuracy' in r['eval']]
    params = group[0]['num_params']
    overhead = (f'{100 * (params / baseline_params - 1):+.2f}%'
                if baseline_params else '')
    paired = _paired(groups, (model, fraction, length), BASELINE)
    lines.append(
        f'| {model} | {fraction:g} | {length} | {len(group)} | {params:,} | '
        f'{overhead} | {group[0]["gflops"]:.3f} | {_mean_std(final)} | '
        f'{_mean_std(best)} | {_mean_std(gaps) if gaps else "n/a"} | '
        f'{_points(paired) if paired else ""} |')
  return '\n'.join(lines) + '\n'


def differences_in_words(groups):
  """Each model's paired difference from the baseline, and each ablation's
  from the hybrid, per training fraction and length, with its interval."""
  lines = []
  for key in groups:
    model, fraction, length = key
    if model == BASELINE:
      continue
    references = (BASELINE,) if model == HYBRID else (BASELINE, HYBRID)
    for reference in references:
      paired = _paired(groups, key, reference)
      if not paired:
        continue
      mean, low, high, n = paired
      if n == 1:
        interval = 'on the one paired seed (no interval with n=1)'
      else:
        excludes_zero = 'excludes' if low > 0 or high < 0 else 'includes'
        interval = (f'95% CI [{100 * low:+.2f}, {100 * high:+.2f}] over n={n} '
                    f'paired seeds (the interval {excludes_zero} zero)')
      lines.append(f'- {fraction:g} of train, {length}: {model} − {reference} '
                   f'= {100 * mean:+.2f} points of final test accuracy, '
                   f'{interval}.')
  return '\n'.join(lines) + '\n' if lines else 'No paired runs yet.\n'


def model_colors(models):
  """{model: matplotlib colour}, by `model_order`, not by finishing order.

  The same in both figures, and in every version of them once each model has
  a finished run.
  """
  return {model: f'C{i}'
          for i, model in enumerate(sorted(models, key=model_order))}


def plot(groups, out):
  """Writes the figures (a) and (b) into `out`."""
  runs = [run for group in groups.values() for run in group]
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fraction = min((r['fraction'] for r in runs), key=lambda f: abs(f - 0.1))
  eval_loss = ('validation_loss' if all(
      'validation_loss' in r['scalars'] for r in runs
      if r['fraction'] == fraction) else 'test_loss')
  color = model_colors({r['model'] for r in runs})
  labelled = set()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for run in runs:
    if run['fraction'] == fraction and run['model'] in (BASELINE, HYBRID):
      label = None if run['model'] in labelled else run['model']
      labelled.add(run['model'])
      for ax, tag in zip(axes, ('train_loss', eval_loss)):
        steps, values = zip(*run['scalars'][tag])
        ax.plot(steps, values, color=color[run['model']], alpha=0.8,
                label=label)
  for ax, title in zip(axes, ('training loss (augmented batches)',
                              eval_loss.replace('_', ' '))):
    ax.set(title=f'{title}, {fraction:g} of train', xlabel='step')
    ax.legend()
  fig.suptitle('CIFAR-10 (JPEG copy), one line per seed')
  fig.tight_layout()
  fig.savefig(os.path.join(out, 'loss_curves.png'), dpi=100)

  fig, ax = plt.subplots(figsize=(6, 4))
  # A line joins only the fractions trained alike.
  series = collections.defaultdict(dict)
  for (model, fraction, length), group in groups.items():
    series[model, length][fraction] = [r['eval']['test_accuracy']
                                       for r in group]
  # Colour: the model; line style and marker: the training length.
  lengths = sorted({length for _, length in series})
  styles = dict(zip(lengths, itertools.cycle(
      [('-', 'o'), ('--', 's'), (':', '^')])))
  for model, length in sorted(series, key=lambda key: (model_order(key[0]),
                                                       key[1])):
    fractions = series[model, length]
    xs = sorted(fractions)
    linestyle, marker = styles[length]
    ax.errorbar(xs, [100 * np.mean(fractions[x]) for x in xs],
                yerr=[100 * _std(fractions[x]) for x in xs],
                color=color[model], linestyle=linestyle, marker=marker,
                capsize=3, label=f'{model}, {length}')
  fractions = sorted({r['fraction'] for r in runs})
  ax.set(xscale='log', xlabel='fraction of the training set',
         ylabel='final test accuracy (%), mean ± std',
         title='CIFAR-10 (JPEG copy)')
  ax.set_xticks(fractions, [f'{100 * f:g}%' for f in fractions])
  ax.minorticks_off()
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(out, 'accuracy_vs_fraction.png'), dpi=100)


def unfinished(runs, grid_file):
  """Names of the grid's runs that have no result yet."""
  done = {r['name'] for r in runs}
  return [r['name'] for r in config_lib.load_python_file(grid_file).get_grid()
          if r['name'] not in done]


def results_markdown(groups, grid_file, conclusion):
  """docs/RESULTS.md: provenance, the table, the figures, the conclusion."""
  runs = [run for group in groups.values() for run in group]
  machines = collections.Counter(r.get('machine', 'not recorded')
                                 for r in runs)
  on_machines = '\n'.join(f'- {n} run(s) on: {machine}.'
                          for machine, n in sorted(machines.items()))
  dates = sorted({r.get('finished', '?') for r in runs})
  when = (f'on {dates[0]}' if len(dates) == 1 else
          f'between {dates[0]} and {dates[-1]}')
  missing = unfinished(runs, grid_file)
  not_run = f'- Not run yet: {", ".join(missing)}.\n' if missing else ''
  return f"""# Results: does locality help the Mixer on small data?

Generated by `python -m mixer_jax.report` from the runs of `{grid_file}`;
do not edit by hand. All accuracies are on **CIFAR-10 (JPEG copy)**: the
offline copy in `../shared/data` went through JPEG once, so they are not
comparable to published CIFAR-10 figures, only to each other.

```bash
python -m mixer_jax.sweep --grid={grid_file} --root=runs/small_data \\
  --set=tfds_data_dir=../shared/data/tfds
# on 2 cores: two such workers, prefixed `taskset -c 0` and `taskset -c 1`
python -m mixer_jax.report --root=runs/small_data --grid={grid_file} --out=docs
# or, from the committed summary of those runs:
python -m mixer_jax.report --summary=docs/results/runs.json \\
  --grid={grid_file} --out=docs
```

{on_machines}
- Runs finished {when}; {len(runs)} of
  {len(runs) + len(missing)} runs of the grid are done.
{not_run}

## Paired differences

{differences_in_words(groups)}
## Table

Final: after the last epoch. Best: the highest test accuracy over the run's
evaluations, which peeks at the test set and is optimistic. Train − test gap:
accuracy on 2,000 of the run's own training images without augmentation,
minus test accuracy, at the end (higher: more overfitting). Paired
differences use the same training subset and data order for both models.

{results_table(groups)}
## Figures

![loss curves](results/loss_curves.png)

![test accuracy against training fraction](results/accuracy_vs_fraction.png)

## Conclusion

{conclusion}
"""


def main(argv):
  del argv
  if bool(FLAGS.root) == bool(FLAGS.summary):
    raise app.UsageError('Pass either --root (a sweep directory) or --summary '
                         '(a runs.json written from one).')
  if FLAGS.root:
    runs = load_runs(FLAGS.root)
  else:
    runs = json.loads(pathlib.Path(FLAGS.summary).read_text())
  if not runs:
    raise app.UsageError(f'No finished runs (*/result.json) under '
                         f'--root={FLAGS.root}; run mixer_jax.sweep first.')
  results_dir = os.path.join(FLAGS.out, 'results')
  os.makedirs(results_dir, exist_ok=True)
  if FLAGS.root:
    with open(os.path.join(results_dir, 'runs.json'), 'w') as f:
      json.dump(runs, f, indent=0)
  groups = group_runs(runs)
  plot(groups, results_dir)
  conclusion_file = pathlib.Path(results_dir, 'conclusion.md')
  conclusion = (conclusion_file.read_text() if conclusion_file.exists() else
                'Not written yet: a person writes it in results/conclusion.md '
                'beside this file, and runs the report again.\n')
  markdown = results_markdown(groups, FLAGS.grid, conclusion)
  with open(os.path.join(FLAGS.out, 'RESULTS.md'), 'w') as f:
    f.write(markdown)
  print(markdown)


if __name__ == '__main__':
  # Defined here, so that tests can import this module beside others.
  flags.DEFINE_string('root', None, 'The sweep directory.')
  flags.DEFINE_string('summary', None, 'Or: a runs.json the report wrote.')
  flags.DEFINE_string('grid', 'grids/small_data.py', 'The sweep\'s grid file.')
  flags.DEFINE_string('out', 'docs', 'Where RESULTS.md and results/ go.')
  app.run(main)
