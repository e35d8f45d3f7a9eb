"""A grid's runs grouped by what differs only in seed, and paired by seed."""

import collections
import dataclasses
import functools
import itertools
from typing import Mapping

from mixer_jax.experiments.report import grid_spec
from mixer_jax.experiments.report import measures
from mixer_jax.experiments.report import stats


def group_runs(runs, spec):
  """{(model, fraction, length): runs}: the runs that differ only in seed.

  The table, the paired differences and the figures all read these groups;
  building them loads each run's config file, so it is done once per report.
  Per fraction and length: the baseline, the hybrid, the stem, the others.
  """
  groups = collections.defaultdict(list)
  for run in runs:
    key = run['model'], run['fraction'], measures.training_length(run)
    groups[key].append(run)
  order = lambda key: (key[1], key[2], spec.order(key[0]))
  return dict(sorted(groups.items(), key=lambda item: order(item[0])))


@dataclasses.dataclass(frozen=True)
class Results:
  """A grid's groups of runs, and another grid's that some are compared with.

  `references` holds only the groups of `spec.references_from` trained like a
  group of one of its `models`: the only ones that pair.
  """
  spec: grid_spec.Spec
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

  @functools.cached_property  # The page and each figure ask.
  def data(self):
    """(name, what it means for the accuracies) of the one dataset that this
    page's runs and their references read: `measures.DATA`."""
    runs = self.runs + [run for group in self.references.values()
                        for run in group]
    datasets = sorted({measures.dataset(run) for run in runs})
    if len(datasets) != 1:
      raise ValueError(f'A results page is about one dataset; its runs read '
                       f'{datasets}. Give each dataset a grid of its own.')
    if datasets[0] not in measures.DATA:
      raise ValueError(f'No words for the dataset {datasets[0]!r} on a '
                       f'results page: add them to measures.DATA, which has '
                       f'{sorted(measures.DATA)}.')
    return measures.DATA[datasets[0]]

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

  def paired(self, key, reference, accuracy=measures.final_test_accuracy):
    """`key`'s group against `reference` trained alike, paired by seed, in
    `accuracy`: a function of a run."""
    _, fraction, length = key
    reference_group = self.group((reference, fraction, length))
    if not reference_group:
      return None
    by_seed = lambda group: {r['seed']: accuracy(r) for r in group}
    return stats.paired_difference(by_seed(self.group(key)),
                             by_seed(reference_group))
