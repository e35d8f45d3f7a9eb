"""What one run measured, and how long it trained, from its record."""

import copy
import functools
import os

from mixer_jax import config_lib
from mixer_jax.experiments.report import stats


# The data a run reads, as every page and figure names it, and what that
# means for its accuracies: the offline copies in ../shared/data (its README).
DATA = {
    'cifar10': (
        'CIFAR-10 (JPEG copy)',
        'the offline copy in `../shared/data` went through JPEG once, so they '
        'are comparable to each other, and only loosely to published CIFAR-10 '
        'figures, which should sit a little higher.'),
    'cifar100': (
        'CIFAR-100',
        'the offline copy in `../shared/data` is lossless, so they are '
        'CIFAR-100 accuracies. Only its example order differs from the '
        "official one: a seed draws other subsets of train than it would on a "
        'downloaded copy, as valid.'),
}


def of_train(fraction):
  """A training fraction in words: 'all of train', '10% of train'."""
  return 'all of train' if fraction == 1 else f'{100 * fraction:g}% of train'


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


def dataset(run):
  """The tfds name of the data the run trained and was tested on."""
  return run_config(run).dataset


def training_length(run):
  """'40 epochs' or '2 steps', from the run's config."""
  config = run_config(run)
  if config.num_train_steps != -1:
    return f'{config.num_train_steps} steps'
  return f'{config.num_epochs:g} epochs'


def final_test_accuracy(run):
  return run['eval']['test_accuracy']


def best_test_accuracy(run):
  """The best of the run's evaluations: it peeks at the test set."""
  return max(v for _, v in run['scalars']['test_accuracy'])


def final_train_loss(run):
  """The training loss's mean over the run's last epoch, as published figures
  give it: `stats.epoch_means` at the last epoch, so the last interval alone
  where it is longer than an epoch. The last interval where the run is counted
  in steps."""
  points = run['scalars']['train_loss']
  config = run_config(run)
  if config.num_train_steps != -1:
    return points[-1][1]
  means = epoch_means(run, 'train_loss', points[-1][0] / config.num_epochs)
  return means[max(means)]


def epoch_means(run, tag, steps_per_epoch):
  """`stats.epoch_means` of the run's logged `tag`, its resumes counted."""
  return stats.epoch_means(run['scalars'][tag], steps_per_epoch,
                           [start['step'] for start in run.get('starts', [])])


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


def accuracy_at_step(step):
  """A function of a run: its test accuracy at its evaluation nearest `step`."""
  return lambda run: min(run['scalars']['test_accuracy'],
                         key=lambda point: abs(point[0] - step))[1]
