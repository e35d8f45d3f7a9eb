"""A grid's runs against figures and curves published elsewhere (figure e)."""

import numpy as np

from mixer_jax.experiments.report import measures


def published_rows(published):
  """{model: {figure: value}}: the published rows, else the ends of the
  published curves."""
  if 'rows' in published:
    return published['rows']
  return {model: {'final_test_accuracy': curve['test_accuracy'][-1],
                  'best_test_accuracy': max(curve['test_accuracy']),
                  'final_train_loss': curve['train_loss'][-1]}
          for model, curve in published['curves'].items()}


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
      ours = {tag: measures.epoch_means(run, tag, published['steps_per_epoch'])
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
