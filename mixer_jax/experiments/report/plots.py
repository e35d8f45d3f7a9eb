"""The page's figures (a), (b), (c) and (e), drawn from the finished runs."""

import collections
import itertools
import os

import numpy as np

from mixer_jax.experiments.report import fidelity
from mixer_jax.experiments.report import measures
from mixer_jax.experiments.report import stats


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
    ax.set(title=f'{title}, {measures.of_train(fraction)}', xlabel='step')
    ax.legend()
  fig.suptitle(f'{results.data[0]}, one line per seed')
  return _save(fig, out, 'loss_curves.png')


def plot_accuracy_vs_fraction(results, colors, out):
  """Figure (b); its file name, or None without runs of its models.

  A model trained at one fraction only, such as a control, is left to the
  table and figure (c): a lone point would crowd the three models' lines.
  """
  series = collections.defaultdict(dict)  # A line joins runs trained alike.
  for (model, fraction, length), group in results.groups.items():
    series[model, length][fraction] = [measures.final_test_accuracy(r)
                                       for r in group]
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
                yerr=[100 * stats.std(fractions[x]) for x in xs],
                color=colors[model], linestyle=linestyle, marker=marker,
                capsize=3, label=f'{model}, {length}')
  xs = sorted({x for key in shown for x in series[key]})
  ax.set(xscale='log', xlabel='fraction of the training set',
         ylabel='final test accuracy (%), mean ± std',
         title=results.data[0])
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
    ax.set_title(f'{measures.of_train(fraction)}, {results.data[0]}')
  axes[-1, 0].set_xlabel('final test accuracy − the model after the minus '
                         '(points)\npaired by seed; error bars: 95% t '
                         'interval, none with n=1')
  fig.tight_layout()
  return _save(fig, out, 'controls.png')


def plot_against_published(results, colors, out):
  """Figure (e); its file name, or None without a run trained alike."""
  compared = fidelity.against_published_curves(results)
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
  fig.suptitle(f'{measures.of_train(published["fraction"])}, '
               f'{published["length"]}: '
               f'this grid on {results.data[0]}, one line per seed')
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
