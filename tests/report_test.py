"""The report: roles from the grid, paired differences, figures, the page."""

import dataclasses
import json

import numpy as np
import pytest

from mixer_jax.experiments import archive as run_archive
from mixer_jax.experiments.report import fidelity
from mixer_jax.experiments.report import grid_spec
from mixer_jax.experiments.report import groups
from mixer_jax.experiments.report import measures
from mixer_jax.experiments.report import page
from mixer_jax.experiments.report import plots
from mixer_jax.experiments.report import stats
from mixer_jax.experiments.report import summaries
from mixer_jax.experiments.report import tables
from conftest import REPO

SPEC = grid_spec.Spec(
    title='T', markdown='PAGE.md', results_dir='results/t', root='runs/t',
    baseline='baseline_cifar10', hybrid='hybrid_cifar10',
    stem='stem_cifar10', loss_curves_fractions=(1.0, 0.1),
    controls_fractions=(0.1, 1.0))
PUBLISHED = {
    'label': 'published', 'source': 'Published elsewhere, on other images.',
    'fraction': 1.0, 'length': '30 epochs',
    'rows': {'baseline_cifar10': {'best_test_accuracy': 0.7671,
                                  'final_train_loss': 0.74},
             'hybrid_cifar10': {'final_test_accuracy': 0.8197,
                                'best_test_accuracy': 0.8227,
                                'final_train_loss': 0.63}}}


def _run(model, seed, accuracy, fraction=0.1, num_epochs=40.0,
         train_loss=1.0):
  """A finished run's summary, as load_runs gives it, without training."""
  return {'name': f'{model}_frac{fraction:g}_seed{seed}', 'model': model,
          'fraction': fraction, 'seed': seed,
          'config': str(REPO / 'configs' / 'slides_hybrid_cifar10.py'),
          'overrides': {'num_epochs': num_epochs},
          'eval': {'test_accuracy': accuracy,
                   'train_clean_accuracy': accuracy + 0.1},
          'num_params': 1000, 'gflops': 0.1, 'finished': '2026-11-25',
          'machine': 'a test',
          'scalars': {'train_loss': [(1, 2.0), (2, train_loss)],
                      'test_loss': [(1, 2.0), (2, 1.5)],
                      'test_accuracy': [(1, accuracy + 0.01), (2, accuracy)]}}


def _results(runs, spec=SPEC, reference_runs=()):
  return groups.Results.from_runs(runs, spec, reference_runs)


def _table(results):
  """{row label: cells} of the Markdown table."""
  rows = [[cell.strip() for cell in line.split('|')[1:-1]]
          for line in tables.results_table(results).splitlines()[2:]]
  return {(row[0], row[1], row[2]): row for row in rows}


def test_roles_and_pages_come_from_each_grids_report(tmp_path):
  seed, seed_runs = grid_spec.load_grid(REPO / 'grids' / 'seed.py')
  assert (seed.baseline, seed.hybrid, seed.stem, seed.markdown) == (
      'seed_baseline_cifar10', 'seed_hybrid_cifar10', 'seed_stem_cifar10',
      'RESULTS.md')
  assert len(seed_runs) == 65
  small_data, _ = grid_spec.load_grid(REPO / 'grids' / 'small_data.py')
  assert (small_data.baseline, small_data.hybrid, small_data.markdown) == (
      'baseline_cifar10', 'hybrid_cifar10', 'RESULTS_small_data.md')
  assert seed.results_dir != small_data.results_dir
  # The seed grid's page names the committed archive its runs resume from.
  markdown = lambda spec: page.results_markdown(
      _results([_run(spec.baseline, 0, 0.5)], spec), 'grids/g.py', [], [], '')
  assert ('--root=runs/seed \\\n  --archive=runs_archive/seed --set='
          in markdown(seed))
  assert '--archive' not in markdown(small_data)
  # The roles order the rows and fix the colours, whatever finished first.
  assert plots.model_colors(['seed_hybrid_cifar10_linear', 'seed_stem_cifar10',
                             'seed_hybrid_cifar10', 'seed_baseline_cifar10'],
                            seed) == {
                                'seed_baseline_cifar10': 'C0',
                                'seed_hybrid_cifar10': 'C1',
                                'seed_stem_cifar10': 'C2',
                                'seed_hybrid_cifar10_linear': 'C3'}
  typo = tmp_path / 'typo.py'
  typo.write_text('REPORT = {"title": "T", "basline": "b"}\n'
                  'def get_grid():\n  return []\n')
  with pytest.raises(ValueError, match='REPORT.*basline'):
    grid_spec.load_grid(typo)


def test_every_group_has_its_train_loss_and_both_paired_differences():
  runs = [_run('baseline_cifar10', s, 0.50, train_loss=0.8) for s in range(3)]
  runs += [_run('hybrid_cifar10', s, a, train_loss=0.6)
           for s, a in enumerate((0.52, 0.53, 0.54))]
  runs += [_run('hybrid_cifar10_k5', s, a, train_loss=loss) for s, a, loss in
           ((0, 0.51, 0.7), (1, 0.53, 0.9))]
  table = _table(_results(runs))
  baseline = table['baseline_cifar10', '0.1', '40 epochs']
  hybrid = table['hybrid_cifar10', '0.1', '40 epochs']
  k5 = table['hybrid_cifar10_k5', '0.1', '40 epochs']
  assert tables._COLUMNS[10:] == (
      'final train loss', '− baseline, paired, 95% CI (points)',
      '− hybrid, paired, 95% CI (points)')
  assert (baseline[10], hybrid[10], k5[10]) == ('0.800 ± 0.000',
                                                '0.600 ± 0.000',
                                                '0.800 ± 0.141')
  assert baseline[11:] == ['', '']
  assert hybrid[11:] == ['+3.00 [+0.52, +5.48], n=3', '']
  # Seeds 0 and 1: +1 and +3 points against the baseline, -1 and 0 against
  # the hybrid.
  assert k5[11].startswith('+2.00 [') and k5[11].endswith('n=2')
  assert k5[12].startswith('-0.50 [') and k5[12].endswith('n=2')


def test_training_fractions_read_as_shares_of_train():
  assert [measures.of_train(f) for f in (1.0, 0.25, 0.1, 0.05, 0.005)] == [
      'all of train', '25% of train', '10% of train', '5% of train',
      '0.5% of train']


def test_differences_in_words_say_whether_the_interval_excludes_zero():
  runs = [_run('baseline_cifar10', s, 0.5) for s in range(3)] + [
      _run('hybrid_cifar10', s, a) for s, a in enumerate((0.52, 0.53, 0.54))]
  for run in runs[3:]:  # Best epochs 0.05 above the final ones; baseline's 0.01.
    run['scalars']['test_accuracy'][0] = (1, run['eval']['test_accuracy'] + 0.05)
  assert page.differences_in_words(_results(runs)) == (
      '- 10% of train, 40 epochs: hybrid_cifar10 − baseline_cifar10 = +3.00 '
      'points of final test accuracy, 95% CI [+0.52, +5.48] over n=3 paired '
      'seeds (the interval excludes zero); best epoch: +7.00 [+4.52, +9.48], '
      'n=3.\n')


def test_ablations_are_compared_with_both_models_trained_alike():
  runs = [_run('baseline_cifar10', 0, 0.50), _run('hybrid_cifar10', 0, 0.48),
          _run('hybrid_cifar10_k5', 0, 0.47),
          # Trained for another length: no pair with the others.
          _run('hybrid_cifar10_k5', 1, 0.9, num_epochs=5.0)]
  results = _results(runs)
  assert list(results.groups) == [('baseline_cifar10', 0.1, '40 epochs'),
                                  ('hybrid_cifar10', 0.1, '40 epochs'),
                                  ('hybrid_cifar10_k5', 0.1, '40 epochs'),
                                  ('hybrid_cifar10_k5', 0.1, '5 epochs')]
  assert page.differences_in_words(results).splitlines() == [
      '- 10% of train, 40 epochs: hybrid_cifar10 − baseline_cifar10 = -2.00 '
      'points of final test accuracy, on the one paired seed (no interval '
      'with n=1); best epoch: -2.00, n=1.',
      '- 10% of train, 40 epochs: hybrid_cifar10_k5 − baseline_cifar10 = '
      '-3.00 points of final test accuracy, on the one paired seed (no '
      'interval with n=1); best epoch: -3.00, n=1.',
      '- 10% of train, 40 epochs: hybrid_cifar10_k5 − hybrid_cifar10 = -1.00 '
      'points of final test accuracy, on the one paired seed (no interval '
      'with n=1); best epoch: -1.00, n=1.']


def test_a_control_pairs_with_another_grids_runs_trained_alike(tmp_path):
  summary = tmp_path / 'runs.json'
  summary.write_text(json.dumps(
      [_run('nano_baseline', s, 0.50) for s in (0, 1)] +
      [_run('nano_hybrid', 0, 0.45),
       # Another length, another fraction, a model not named: none pairs.
       _run('nano_baseline', 2, 0.9, num_epochs=5.0),
       _run('nano_baseline', 2, 0.9, fraction=0.05),
       _run('nano_other', 2, 0.9)]))
  spec = dataclasses.replace(SPEC, references_from={
      'summary': str(summary), 'baseline': 'nano_baseline',
      'hybrid': 'nano_hybrid', 'models': ('hybrid_cifar10_seedblocks',)})
  runs = [_run('baseline_cifar10', s, 0.2, num_epochs=30.0) for s in range(3)]
  runs += [_run('hybrid_cifar10_seedblocks', s, 0.53) for s in range(3)]
  results = _results(runs, spec, summaries.load_reference_runs(spec, tmp_path))
  assert sorted(results.references) == [('nano_baseline', 0.1, '40 epochs'),
                                        ('nano_hybrid', 0.1, '40 epochs')]
  # Seeds 0 and 1 only (seed 2 of the baseline trained for 5 epochs).
  assert results.paired(('hybrid_cifar10_seedblocks', 0.1, '40 epochs'),
                        'nano_baseline') == pytest.approx((0.03, 0.03, 0.03, 2))
  words = page.differences_in_words(results)
  borrowed = lambda model: f'{model} (`{summary}`)'
  assert f'seedblocks − {borrowed("nano_baseline")} = +3.00' in words
  assert f'seedblocks − {borrowed("nano_hybrid")} = +8.00' in words
  assert 'seedblocks − baseline_cifar10' not in words
  assert _table(results)[borrowed('nano_baseline'), '0.1', '40 epochs'][3] == (
      '2')


def test_the_seed_grids_blocks_on_the_nano_mixer_pair_with_the_small_data_grid(
    monkeypatch):
  monkeypatch.chdir(REPO)  # The summary's path is from the repository root.
  spec, _ = grid_spec.load_grid('grids/seed.py')
  runs = [_run('hybrid_cifar10_seedblocks', s, 0.6) for s in range(3)]
  results = _results(runs, spec,
                     summaries.load_reference_runs(spec, REPO / 'grids'))
  mean, _, _, n = results.paired(('hybrid_cifar10_seedblocks', 0.1,
                                  '40 epochs'), 'baseline_cifar10')
  assert n == 3 and 100 * mean == pytest.approx(60 - 58.29, abs=0.01)


def test_the_controls_chart_is_drawn_once_a_control_has_finished(tmp_path):
  runs = [_run('baseline_cifar10', s, 0.5) for s in range(2)] + [
      _run('hybrid_cifar10', s, 0.52) for s in range(2)]
  assert 'controls.png' not in dict(plots.plot(_results(runs), tmp_path)
                                    ).values()
  assert not (tmp_path / 'controls.png').exists()
  control = _results(runs + [_run('hybrid_cifar10_k5', 0, 0.47)])
  bars = plots.control_differences(control, 0.1)
  assert [(model, baseline, round(100 * mean), n)
          for (model, _, _), baseline, (mean, _, _, n) in bars] == [
              ('hybrid_cifar10', 'baseline_cifar10', 2, 2),
              ('hybrid_cifar10_k5', 'baseline_cifar10', -3, 1)]
  assert 'controls.png' in dict(plots.plot(control, tmp_path)).values()
  one_panel = (tmp_path / 'controls.png').read_bytes()
  # All of train gets its own panel once a control has finished there too.
  full = [_run(m, 0, a, fraction=1.0) for m, a in (
      ('baseline_cifar10', 0.7), ('hybrid_cifar10', 0.77),
      ('hybrid_cifar10_k5', 0.72))]
  assert plots.control_differences(_results(runs + full[:2]), 1.0) == []
  both = _results(runs + full + [_run('hybrid_cifar10_k5', 0, 0.47)])
  assert [round(100 * mean) for _, _, (mean, _, _, _) in
          plots.control_differences(both, 1.0)] == [7, 2]
  plots.plot(both, tmp_path)
  two_panels = (tmp_path / 'controls.png').read_bytes()
  height = lambda png: int.from_bytes(png[20:24], 'big')  # the IHDR's
  assert height(two_panels) > height(one_panel) > 0


def test_the_published_figures_are_a_row_of_the_table():
  spec = dataclasses.replace(SPEC, published=PUBLISHED)
  runs = [_run('baseline_cifar10', 0, 0.7, fraction=1.0, num_epochs=30.0)]
  table = _table(_results(runs, spec))
  assert table['hybrid_cifar10: published', '1', '30 epochs'][7:] == [
      '81.97', '82.27', '', '0.63', '+5.56 (best epochs), n=1', '']
  assert table['baseline_cifar10: published', '1', '30 epochs'][7:11] == [
      '', '76.71', '', '0.74']
  # Right after the runs they compare with.
  assert list(table)[0] == ('baseline_cifar10', '1', '30 epochs')
  markdown = page.results_markdown(_results(runs, spec), 'grids/g.py', [], [],
                                   'C.')
  assert PUBLISHED['source'] in markdown


CURVES = {**{k: v for k, v in PUBLISHED.items() if k != 'rows'},
          'length': '3 epochs', 'steps_per_epoch': 10,
          'curves': {'hybrid_cifar10': {'test_accuracy': [0.5, 0.7, 0.6],
                                        'train_loss': [1.5, 1.0, 0.75]}}}


def test_an_epochs_logged_values_are_those_up_to_its_last_step_by_their_steps():
  points = [(5, 1.0), (10, 3.0), (11, 5.0), (20, 7.0), (21, 9.0)]
  # Epoch 2: 1 step at 5.0 and 9 at 7.0.
  assert stats.epoch_means(points, 10) == {1: 2.0, 2: 6.8, 3: 9.0}
  # Resumed from step 18: the interval logged at 20 holds steps 19 and 20.
  assert stats.epoch_means(points, 10, starts=[0, 18]) == pytest.approx(
      {1: 2.0, 2: (5.0 + 2 * 7.0) / 3, 3: 9.0})
  # A run's recorded starts count in what the report shows of it.
  run = {**_run('hybrid_cifar10', 0, 0.6, fraction=1.0),
         'overrides': {'num_epochs': 3.0},
         'scalars': {'train_loss': [(10, 3.0), (20, 1.0), (25, 4.0),
                                    (30, 2.0)]},
         'starts': [{'step': 0}, {'step': 29}]}
  # Epoch 3: 5 steps at 4.0, then 1 step at 2.0 after the resume.
  assert measures.final_train_loss(run) == pytest.approx((5 * 4.0 + 2.0) / 6)


def test_the_final_train_loss_is_the_last_epochs_mean_as_published():
  logged = [(5, 1.8), (10, 1.6), (15, 1.2), (20, 1.0), (25, 0.8), (30, 0.7)]
  run = lambda overrides: {
      **_run('hybrid_cifar10', 0, 0.6, fraction=1.0),
      'overrides': overrides, 'scalars': {
          'train_loss': logged, 'test_accuracy': [(30, 0.6)]}}
  # 3 epochs of 10 steps: the intervals ending at steps 25 and 30.
  assert measures.final_train_loss(run({'num_epochs': 3.0})) == 0.75
  assert _table(_results([run({'num_epochs': 3.0})]))[
      'hybrid_cifar10', '1', '3 epochs'][10] == '0.750'
  # Epochs of 1 step, shorter than the logging interval: the last interval.
  assert measures.final_train_loss(run({'num_epochs': 30.0})) == 0.7
  # Counted in steps, with no epochs: the last interval.
  assert measures.final_train_loss(
      run({'num_epochs': 3.0, 'num_train_steps': 30})) == 0.7


def test_published_curves_give_their_rows_and_an_epoch_by_epoch_comparison(
    tmp_path):
  spec = dataclasses.replace(SPEC, published=CURVES)
  run = _run('hybrid_cifar10', 0, 0.58, fraction=1.0, num_epochs=3.0)
  run['scalars'] = {
      'train_loss': [(5, 1.8), (10, 1.6), (15, 1.1), (20, 1.1), (25, 0.8),
                     (30, 0.8)],
      'test_loss': [(10, 1.4), (20, 1.0), (30, 0.9)],
      'test_accuracy': [(10, 0.45), (20, 0.66), (30, 0.58)]}
  other_length = _run('hybrid_cifar10', 1, 0.6, fraction=1.0)
  results = _results([run, other_length], spec)
  # Rows: the last epoch, the best and the last epoch's training loss.
  assert _table(results)['hybrid_cifar10: published', '1', '3 epochs'][7:11] \
      == ['60.00', '70.00', '', '0.75']
  [(compared, epochs, differences, _)] = fidelity.against_published_curves(
      results)
  assert compared is run and epochs == [1, 2, 3]
  np.testing.assert_allclose(differences['test_accuracy'], [-0.05, -0.04,
                                                            -0.02])
  np.testing.assert_allclose(differences['train_loss'], [0.2, 0.1, 0.05])
  assert fidelity.against_published_in_words(results) == (
      '- hybrid_cifar10, seed 0 (3 epochs): test accuracy − the published '
      'run’s, epoch by epoch, -3.67 points on average (from -5.00 to -2.00; '
      'last epoch -2.00); training loss − the published run’s +0.117 on '
      'average (last epoch +0.050).\n')
  figures = plots.plot(results, tmp_path)
  assert ('epoch by epoch against the published runs', 'fidelity.png'
          ) in figures and (tmp_path / 'fidelity.png').exists()
  markdown = page.results_markdown(results, 'grids/g.py', [], figures, 'C.')
  assert '## Against the published runs, epoch by epoch' in markdown
  assert 'seed 0 (3 epochs)' in markdown
  # Without a run trained alike: the section says so, and no figure.
  results = _results([other_length], spec)
  assert plots.plot_against_published(results, {}, tmp_path) is None
  assert 'No run trained alike yet.' in page.results_markdown(
      results, 'grids/g.py', [], [], 'C.')


def test_loss_curves_are_drawn_at_the_first_fraction_with_runs():
  at = lambda *fractions: plots.loss_curves_fraction(_results(
      [_run('hybrid_cifar10', 0, 0.5, fraction=f) for f in fractions]))
  assert at(0.1, 0.25, 1.0) == 1.0
  assert at(0.05, 0.1, 0.25) == 0.1
  assert at(0.05, 0.25) == 0.05
  assert plots.loss_curves_fraction(_results(
      [_run('hybrid_cifar10_k5', 0, 0.5)])) is None


def test_a_partial_grid_lists_its_unfinished_runs_and_draws_what_it_can(
    tmp_path):
  runs = [_run('hybrid_cifar10_k5', 0, 0.47)]
  results = _results(runs)
  out = tmp_path / 'figures'
  out.mkdir()
  figures = plots.plot(results, out)
  assert figures == [] and not list(out.iterdir())
  grid_names = ['baseline_cifar10_frac0.1_seed0', runs[0]['name'],
                'hybrid_cifar10_frac0.1_seed0']
  markdown = page.results_markdown(results, 'grids/g.py', grid_names, figures,
                                   'C.')
  assert '1 of\n  3 runs of the grid are done' in markdown
  assert ('Not run yet: baseline_cifar10_frac0.1_seed0, '
          'hybrid_cifar10_frac0.1_seed0.') in markdown
  assert '![' not in markdown and 'No paired runs yet.' in markdown
  # A run stopped partway says from which step it resumes.
  workdir = tmp_path / 'workdir'
  (workdir / 'checkpoints' / '1200').mkdir(parents=True)
  run_archive.save(str(workdir), str(tmp_path / 'archive'),
                   'hybrid_cifar10_frac0.1_seed0')
  archived = run_archive.manifest(str(tmp_path / 'archive'),
                                  'hybrid_cifar10_frac0.1_seed0')['archived']
  spec = dataclasses.replace(SPEC, archive=str(tmp_path / 'archive'))
  markdown = page.results_markdown(_results(runs, spec), 'grids/g.py',
                                   grid_names, figures, 'C.')
  assert (f'Stopped partway, to resume from `{tmp_path / "archive"}`: '
          f'hybrid_cifar10_frac0.1_seed0 at step 1,200 (archived {archived}).'
          in markdown)
  assert 'Not run yet: baseline_cifar10_frac0.1_seed0.' in markdown

  results = _results(runs + [_run('baseline_cifar10', 0, 0.5)])
  figures = plots.plot(results, out)
  markdown = page.results_markdown(results, 'grids/g.py', grid_names, figures,
                                   'C.')
  assert sorted(f.name for f in out.iterdir()) == [
      'accuracy_vs_fraction.png', 'controls.png', 'loss_curves.png']
  assert markdown.count('](results/t/') == 3


def test_a_run_that_moved_between_machines_is_named_with_its_spans():
  def starts(*steps_and_machines):
    return [{'step': step, 'machine': machine, 'time': '2026-12-01T08:00:00Z'}
            for step, machine in steps_and_machines]

  assert page.machine_spans({}) is None
  assert page.machine_spans({'starts': starts((0, 'A'), (300, 'A'))}) is None
  assert page.machine_spans({'starts': starts(
      (0, 'A'), (300, 'A'), (2138, 'B'), (5000, 'A'))}) == (
          'steps 1–2,138 on A; steps 2,139–5,000 on B; '
          'steps 5,001–the end on A')
  # Begun before starts were recorded: its first steps may have been elsewhere.
  assert page.machine_spans({'starts': starts((2138, 'B'))}) == (
      'steps 1–2,138 on not recorded; steps 2,139–the end on B')

  moved = {**_run('hybrid_cifar10', 0, 0.5),
           'starts': starts((0, 'A'), (4, 'B'))}
  markdown = page.results_markdown(
      _results([moved, _run('baseline_cifar10', 0, 0.5)]), 'grids/g.py',
      [moved['name']], [], 'C.')
  assert (f'- {moved["name"]} trained on more than one machine: '
          'steps 1–4 on A; steps 5–the end on B.') in markdown
  assert markdown.count('more than one machine') == 1


def test_a_subsets_difference_is_set_beside_all_of_train_after_as_many_steps():
  def run(model, seed, fraction, curve, config='hybrid_cifar10.py'):
    result = _run(model, seed, curve[-1][1], fraction, num_epochs=30.0)
    result['config'] = str(REPO / 'configs' / config)
    result['scalars']['test_accuracy'] = curve
    return result
  small = lambda model, seed, end, **kw: run(
      model, seed, 0.1, [(600, 0.3), (1200, end)], **kw)
  full = lambda model, seed, early, end, **kw: run(
      model, seed, 1.0, [(391, 0.3), (1173, early), (1564, 0.6),
                         (11730, end)], **kw)
  runs = [small('baseline_cifar10', 0, 0.50), small('hybrid_cifar10', 0, 0.51),
          small('baseline_cifar10', 1, 0.52), small('hybrid_cifar10', 1, 0.53),
          full('baseline_cifar10', 0, 0.55, 0.73),
          full('hybrid_cifar10', 0, 0.57, 0.80),
          full('baseline_cifar10', 1, 0.56, 0.74),
          full('hybrid_cifar10', 1, 0.58, 0.81)]
  words = page.matched_steps_in_words(_results(runs))
  assert words.startswith(
      '- hybrid_cifar10 − baseline_cifar10, 30 epochs: 10% of train after '
      '1,200 steps: +1.00 [+1.00, +1.00], n=2; all of train at step 1,173 '
      '(the same learning rates by step: the schedule depends on the step '
      'alone): +2.00 [+2.00, +2.00], n=2; all of train at the end: '
      '+7.00 [+7.00, +7.00], n=2.')
  assert words.count('\n') == 1  # the hybrid against its baseline only
  markdown = page.results_markdown(_results(runs), 'grids/g.py', [], [], '')
  assert '## Less data, or fewer steps?' in markdown
  # A schedule that follows the run's length gives other rates at that step.
  runs[-1]['config'] = str(REPO / 'configs' / 'slides_hybrid_cifar10.py')
  assert 'other learning rates: the schedule follows the run' in (
      page.matched_steps_in_words(_results(runs)))
  # Without full-data runs there is nothing to set beside: no section.
  markdown = page.results_markdown(_results(runs[:4]), 'grids/g.py', [], [], '')
  assert 'fewer steps' not in markdown


def test_paired_difference_and_its_interval():
  mean, low, high, n = stats.paired_difference({0: 0.51, 1: 0.53, 7: 0.9},
                                               {0: 0.50, 1: 0.50})
  assert n == 2 and mean == pytest.approx(0.02)
  half = 12.7062 * np.std([0.01, 0.03], ddof=1) / np.sqrt(2)
  assert (low, high) == pytest.approx((0.02 - half, 0.02 + half), rel=1e-4)
  mean, low, high, n = stats.paired_difference({0: 0.5, 1: 0.7}, {0: 0.4})
  assert (n, low, high) == (1, None, None) and mean == pytest.approx(0.1)
  assert stats.paired_difference({1: 0.5}, {0: 0.4}) is None


def test_a_control_is_also_compared_with_the_models_the_grid_names():
  spec = dataclasses.replace(SPEC, also_compare={
      'hybrid_cifar10_cosine': ('baseline_cifar10_cosine',)})
  runs = [_run('baseline_cifar10', 0, 0.50), _run('hybrid_cifar10', 0, 0.48),
          _run('baseline_cifar10_cosine', 0, 0.55),
          _run('hybrid_cifar10_cosine', 0, 0.60)]
  words = page.differences_in_words(_results(runs, spec))
  assert 'hybrid_cifar10_cosine − baseline_cifar10_cosine = +5.00' in words
  assert 'hybrid_cifar10_cosine − baseline_cifar10 = +10.00' in words
  assert 'baseline_cifar10_cosine − hybrid_cifar10_cosine' not in words
  # The chart shows the pair's own gain beside the gain over the baseline.
  assert [(model, other, round(100 * mean)) for (model, _, _), other,
          (mean, _, _, _) in plots.control_differences(
              _results(runs, spec), 0.1)] == [
                  ('hybrid_cifar10', 'baseline_cifar10', -2),
                  ('baseline_cifar10_cosine', 'baseline_cifar10', 5),
                  ('hybrid_cifar10_cosine', 'baseline_cifar10', 10),
                  ('hybrid_cifar10_cosine', 'baseline_cifar10_cosine', 5)]


def test_a_summary_keeps_its_recorded_runs_that_the_directory_lacks(
    tmp_path):
  summary = tmp_path / 'runs.json'
  assert summaries.with_recorded_runs([_run('b', 1, 0.5)], summary) == [
      _run('b', 1, 0.5)]
  summary.write_text(json.dumps([_run('a', 0, 0.4), _run('b', 1, 0.3)]))
  # 'a' trained on a machine that is gone; 'b' is taken from the directory.
  merged = summaries.with_recorded_runs([_run('b', 1, 0.5)], summary)
  assert [(r['name'], r['eval']['test_accuracy']) for r in merged] == [
      ('a_frac0.1_seed0', 0.4), ('b_frac0.1_seed1', 0.5)]


def test_a_step_logged_twice_is_read_once_as_last_written(tmp_path):
  # A run resumed from a checkpoint at step 2 after it had logged step 3: the
  # resumed process logs steps 3 and 4 into a second event file.
  from clu import metric_writers
  for values in ({1: 0.9, 2: 0.8, 3: 0.7}, {3: 0.6, 4: 0.5}):
    writer = metric_writers.create_default_writer(str(tmp_path))
    for step, value in values.items():
      writer.write_scalars(step, {'train_loss': value})
    writer.close()
  assert len(list(tmp_path.glob('events.out.tfevents.*'))) == 2
  assert summaries.logged_scalars(tmp_path)['train_loss'] == [
      (1, pytest.approx(0.9)), (2, pytest.approx(0.8)),
      (3, pytest.approx(0.6)), (4, pytest.approx(0.5))]


def test_each_run_has_a_row_with_its_best_evaluations_epoch():
  runs = [_run('baseline_cifar10', s, 0.5 + s / 100) for s in (1, 0)] + [
      _run('hybrid_cifar10', 0, 0.52)]
  runs[0]['scalars']['test_accuracy'] = [(10, 0.40), (30, 0.53), (40, 0.51)]
  runs[2]['overrides'] = {'num_train_steps': 2}  # Counted in steps.
  rows = [[cell.strip() for cell in line.split('|')[1:-1]]
          for line in tables.runs_table(_results(runs)).splitlines()[2:]]
  # In the order of the groups' table (fraction, length, role), by seed.
  assert rows == [
      ['hybrid_cifar10', '0.1', '2 steps', '0', '52.00', '53.00 (step 1)',
       '1.000', '62.00'],
      ['baseline_cifar10', '0.1', '40 epochs', '0', '50.00', '51.00 (epoch 20)',
       '1.000', '60.00'],
      # Its best at step 30 of 40: epoch 30 of 40.
      ['baseline_cifar10', '0.1', '40 epochs', '1', '51.00', '53.00 (epoch 30)',
       '1.000', '61.00']]


def test_recorded_runs_take_their_grids_definition_of_today(tmp_path):
  (tmp_path / 'grid.py').write_text(
      'def get_grid():\n'
      '  return [{"name": "m_frac1_seed0", "config": "configs/new.py",\n'
      '           "overrides": {"model.locality.residual": True}}]\n')
  recorded = {'name': 'm_frac1_seed0', 'config': 'configs/old.py',
              'overrides': {'model.stem.residual': True}, 'eval': {'a': 1}}
  of_no_grid = {'name': 'x_frac1_seed0', 'config': 'configs/x.py',
                'overrides': {}}
  today, unchanged = summaries.as_defined_today([recorded, of_no_grid],
                                                tmp_path)
  assert today == {**recorded, 'config': 'configs/new.py',
                   'overrides': {'model.locality.residual': True}}
  assert unchanged == of_no_grid


def test_the_page_and_figures_name_the_data_that_the_runs_read(tmp_path,
                                                               monkeypatch):
  cifar100 = lambda model, seed, accuracy: dict(
      _run(model, seed, accuracy),
      config=str(REPO / 'configs' / 'baseline_cifar100.py'))
  runs = [cifar100('baseline_cifar10', 0, 0.5),
          cifar100('hybrid_cifar10', 0, 0.55),
          cifar100('hybrid_cifar10_k5', 0, 0.52),
          dict(cifar100('hybrid_cifar10', 0, 0.58), fraction=1.0,
               overrides={'num_epochs': 3.0})]
  results = _results(runs, dataclasses.replace(SPEC, published=CURVES))
  markdown = page.results_markdown(results, 'grids/g.py', [], [], 'C.')
  assert 'All accuracies are on **CIFAR-100**: ' in markdown
  assert 'JPEG' not in markdown
  plt = plots._pyplot()
  titles, savefig = [], plt.Figure.savefig
  def record_titles(fig, *args, **kwargs):
    titles.extend(text.get_text() for text in fig.findobj(plt.Text)
                  if 'CIFAR' in text.get_text())
    return savefig(fig, *args, **kwargs)
  monkeypatch.setattr(plt.Figure, 'savefig', record_titles)
  assert len(plots.plot(results, tmp_path)) == 4
  assert len(titles) == 4 and all(
      'CIFAR-100' in t and 'JPEG' not in t for t in titles)
  assert 'CIFAR-10 (JPEG copy)' in page.results_markdown(
      _results([_run('baseline_cifar10', 0, 0.5)]), 'grids/g.py', [], [], '')
  with pytest.raises(ValueError,
                     match=r"one dataset.*\['cifar10', 'cifar100'\]"):
    page.results_markdown(_results(runs + [_run('stem_cifar10', 0, 0.5)]),
                          'grids/g.py', [], [], '')
  svhn = _run('baseline_cifar10', 0, 0.5)
  svhn['overrides'] = {'dataset': 'svhn_cropped', 'num_epochs': 40.0}
  with pytest.raises(ValueError, match="'svhn_cropped'.*measures.DATA"):
    page.results_markdown(_results([svhn]), 'grids/g.py', [], [], '')
