"""Means over seeds, paired differences with their intervals, epoch means."""

import collections

import numpy as np
import scipy.stats


def std(values):
  """The sample standard deviation over seeds; 0 for one seed."""
  return np.std(values, ddof=1) if len(values) > 1 else 0.0


def mean_std(values, scale=100, digits=2):
  """Mean ± std of `values` times `scale` (percent by default)."""
  if len(values) == 1:
    return f'{scale * values[0]:.{digits}f}'
  return (f'{scale * np.mean(values):.{digits}f} ± '
          f'{scale * std(values):.{digits}f}')


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


def format_paired(paired):
  """A paired difference in points: '+m [+low, +high], n=N'."""
  mean, low, high, n = paired
  if n == 1:
    return f'{100 * mean:+.2f}, n=1'
  return f'{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}], n={n}'


def epoch_means(points, steps_per_epoch, starts=()):
  """{epoch (from 1): the mean of the logged values whose step falls in it}:
  an evaluation at the epoch's end, or the logging intervals ending in it,
  each weighted by the steps it averages. An interval runs from the previous
  logged step, or from a later start (`starts`: the steps a run was resumed
  from), whose first interval holds only the steps since."""
  by_epoch = collections.defaultdict(list)
  previous = 0
  for step, value in points:
    begin = max([previous] + [s for s in starts if s < step])
    epoch = -(-step // steps_per_epoch)  # ⌈step / n⌉
    by_epoch[epoch].append((value, step - begin))
    previous = step
  return {epoch: np.average([v for v, _ in logged],
                            weights=[steps for _, steps in logged])
          for epoch, logged in sorted(by_epoch.items())}
