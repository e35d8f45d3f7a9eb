r"""A grid file's REPORT: what its page says, and whom it compares with whom.

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

import dataclasses
from typing import Any, Mapping, Optional, Sequence

from mixer_jax import config_lib


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
                     f'mixer_jax/experiments/report/grid_spec.py.')
  try:
    spec = Spec(**grid.REPORT)
  except TypeError as e:  # A missing or unknown key.
    raise ValueError(f'{grid_file}: REPORT: {e}') from e
  return spec, [run['name'] for run in grid.get_grid()]
