r"""Reads a sweep's runs and writes the figures and the results table.

  python -m mixer_jax.report --root=runs/small_data --out=docs/results

(a) loss_curves.png: training and eval loss, baseline vs hybrid, one seed;
(b) accuracy_vs_fraction.png: final test accuracy, mean +- std over seeds;
(c) results.md: per model and training fraction, parameters and overhead,
    GFLOPs, final and best test accuracy, the train - test accuracy gap, and
    the paired (by seed) hybrid - baseline difference with a 95% interval.
"""

import collections
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

FLAGS = flags.FLAGS

_NAME = re.compile(r'(?P<model>.+)_frac(?P<fraction>[0-9.e-]+)_seed(?P<seed>\d+)$')
BASELINE = 'baseline_cifar10'


def logged_scalars(workdir):
  """{tag: [(step, value), ...]} from a run's TensorBoard event files."""
  accumulator = event_accumulator.EventAccumulator(
      str(workdir), size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                for e in accumulator.Tensors(tag)]
          for tag in accumulator.Tags()['tensors']
          if tag.startswith(('train_', 'eval_'))}


def load_runs(root):
  runs = []
  for result_file in sorted(pathlib.Path(root).glob('*/result.json')):
    result = json.loads(result_file.read_text())
    match = _NAME.match(result['name'])
    scalars = logged_scalars(result_file.parent)
    runs.append({**result, 'model': match['model'],
                 'fraction': float(match['fraction']),
                 'seed': int(match['seed']), 'scalars': scalars})
  return runs


def _mean_std(values):
  return (f'{100 * np.mean(values):.2f} ± {100 * np.std(values, ddof=1):.2f}'
          if len(values) > 1 else f'{100 * values[0]:.2f}')


def paired_difference(model_acc, baseline_acc):
  """Mean model - baseline over shared seeds, with a 95% t interval."""
  seeds = sorted(set(model_acc) & set(baseline_acc))
  diffs = np.array([model_acc[s] - baseline_acc[s] for s in seeds])
  if len(diffs) < 2:
    return None
  half = scipy.stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(
      len(diffs))
  return diffs.mean(), diffs.mean() - half, diffs.mean() + half, len(diffs)


def results_table(runs):
  groups = collections.defaultdict(list)
  for run in runs:
    groups[run['model'], run['fraction']].append(run)
  baseline_params = next((r['num_params'] for r in runs
                          if r['model'] == BASELINE), None)
  lines = ['| model | train fraction | n seeds | parameters | overhead | '
           'GFLOPs/img | final test acc % | best test acc % | train − test '
           'gap (points) | − baseline, paired, 95% CI (points) |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for (model, fraction), group in sorted(groups.items()):
    final = [r['eval']['accuracy'] for r in group]
    best = [max(v for _, v in r['scalars']['eval_accuracy']) for r in group]
    gap = [r['scalars']['train_accuracy'][-1][1] - r['eval']['accuracy']
           for r in group]
    params = group[0]['num_params']
    overhead = (f'{100 * (params / baseline_params - 1):+.2f}%'
                if baseline_params else '')
    diff = ''
    if model != BASELINE and (BASELINE, fraction) in groups:
      paired = paired_difference(
          {r['seed']: r['eval']['accuracy'] for r in group},
          {r['seed']: r['eval']['accuracy']
           for r in groups[BASELINE, fraction]})
      if paired:
        mean, low, high, n = paired
        diff = (f'{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}], '
                f'n={n}')
    lines.append(
        f'| {model} | {fraction:g} | {len(group)} | {params:,} | {overhead} | '
        f'{group[0]["gflops"]:.3f} | {_mean_std(final)} | {_mean_std(best)} | '
        f'{100 * np.mean(gap):.1f} | {diff} |')
  return '\n'.join(lines) + '\n'


def plot(runs, out):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fraction = min((r['fraction'] for r in runs), key=lambda f: abs(f - 0.1))
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for run in runs:
    if run['fraction'] == fraction and run['seed'] == 0:
      for ax, tag in zip(axes, ('train_loss', 'eval_loss')):
        steps, values = zip(*run['scalars'][tag])
        ax.plot(steps, values, label=run['model'])
  for ax, title in zip(axes, ('training loss', 'test loss')):
    ax.set(title=f'{title}, {fraction:g} of train, seed 0', xlabel='step')
    ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(out, 'loss_curves.png'), dpi=100)

  fig, ax = plt.subplots(figsize=(6, 4))
  by_model = collections.defaultdict(lambda: collections.defaultdict(list))
  for run in runs:
    by_model[run['model']][run['fraction']].append(run['eval']['accuracy'])
  for model, fractions in sorted(by_model.items()):
    xs = sorted(fractions)
    ax.errorbar(xs, [100 * np.mean(fractions[x]) for x in xs],
                yerr=[100 * np.std(fractions[x]) for x in xs], marker='o',
                capsize=3, label=model)
  ax.set(xscale='log', xlabel='fraction of the training set',
         ylabel='test accuracy (%), mean ± std', title='CIFAR-10 (JPEG copy)')
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(out, 'accuracy_vs_fraction.png'), dpi=100)


def main(argv):
  del argv
  runs = load_runs(FLAGS.root)
  if not runs:
    raise app.UsageError(f'No finished runs (*/result.json) under '
                         f'--root={FLAGS.root}; run mixer_jax.sweep first.')
  table = results_table(runs)
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, 'results.md'), 'w') as f:
    f.write(table)
  plot(runs, FLAGS.out)
  print(table)


if __name__ == '__main__':
  # Defined here, so that tests can import this module beside others.
  flags.DEFINE_string('root', None, 'The sweep directory.')
  flags.DEFINE_string('out', None, 'Where figures and results.md go.')
  flags.mark_flags_as_required(['root', 'out'])
  app.run(main)
