"""The committed grids run what their docstrings say, paired by seed."""

import collections

from mixer_jax import config_lib
from conftest import REPO


def _grid(name):
  runs = config_lib.load_python_file(REPO / 'grids' / name).get_grid()
  assert len({r['name'] for r in runs}) == len(runs)
  assert all(r['overrides']['subset_seed'] == r['overrides']['seed']
             for r in runs)
  return {r['name']: r for r in runs}


def _changes(run, reference):
  """The overrides in which `run` differs from `reference`, both ways."""
  a, b = run['overrides'], reference['overrides']
  return {k: a.get(k) for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_seed_grid_pairs_every_control_with_the_seed_hybrid():
  runs = _grid('seed.py')
  assert len(runs) == 65
  # A and B first, in that order: a sweep stopped early has the central pair.
  assert list(runs)[:2] == ['seed_baseline_cifar10_frac1_seed0',
                            'seed_hybrid_cifar10_frac1_seed0']
  sizes = collections.Counter(
      (r['config'], r['overrides']['train_fraction']) for r in runs.values())
  for model in ('baseline', 'hybrid', 'stem'):
    for fraction in (1.0, 0.1, 0.05, 0.25):
      assert sizes[f'configs/{model}_cifar10.py', fraction] >= 3
  for seed in (0, 1, 2):
    hybrid = runs[f'seed_hybrid_cifar10_frac0.1_seed{seed}']
    control = lambda name: runs[f'{name}_frac0.1_seed{seed}']
    # Placement is the dwsep block's (between or after its two convs); the
    # pointwise block, with one conv, has its norm and GELU after it anyway.
    assert _changes(control('seed_hybrid_cifar10_pointwise'), hybrid) == {
        'model.locality.type': 'pointwise',
        'model.locality.placement': 'between'}
    assert _changes(control('seed_hybrid_cifar10_linear'), hybrid) == {
        'model.locality.norm': 'none', 'model.locality.activation': 'none'}
    assert _changes(control('seed_hybrid_cifar10_residual'), hybrid) == {
        'model.locality.residual': True}
    assert _changes(control('seed_hybrid_cifar10_epochcosine'), hybrid) == {
        'optimizer.schedule': 'epoch_cosine'}
    blockconv = control('seed_baseline_cifar10_blockconv')
    assert blockconv['config'] == 'configs/baseline_cifar10.py'
    assert _changes(blockconv, runs[f'seed_baseline_cifar10_frac0.1_seed{seed}']
                    ) == {'model.locality.type': 'depthwise',
                          'model.locality.residual': True,
                          'model.locality_at.after_embedding': False,
                          'model.locality_at.inside_blocks': True}
  # The controls but the nano Mixer's on all of train too, seed 0, each
  # differing from its model on all of train in the same one thing.
  for control in ('seed_hybrid_cifar10_pointwise', 'seed_hybrid_cifar10_linear',
                  'seed_hybrid_cifar10_residual',
                  'seed_hybrid_cifar10_epochcosine',
                  'seed_baseline_cifar10_blockconv',
                  'seed_baseline_cifar10_epochcosine'):
    model = control.rsplit('_', 1)[0]
    at = lambda fraction, name=control: runs[f'{name}_frac{fraction}_seed0']
    assert _changes(at(1), runs[f'{model}_frac1_seed0']) == _changes(
        at(0.1), runs[f'{model}_frac0.1_seed0'])
  # Seeds 1 and 2 of the full-data control whose seed 0 ended within 1.5
  # points of the baseline, each paired with the hybrid of its seed.
  for seed in (1, 2):
    assert _changes(runs[f'seed_hybrid_cifar10_pointwise_frac1_seed{seed}'],
                    runs[f'seed_hybrid_cifar10_frac1_seed{seed}']) == _changes(
        runs['seed_hybrid_cifar10_pointwise_frac1_seed0'],
        runs['seed_hybrid_cifar10_frac1_seed0'])
  assert not [n for n in runs if '_flaxinit' in n]  # Retired (issue 39).
  assert config_lib.seed_config('cifar10', 'hybrid').model.initialisers == (
      'pytorch')


def test_cifar100_grid_is_the_cifar10_grids_recipe_on_cifar100():
  cifar10, cifar100 = _grid('seed.py'), _grid('seed_cifar100.py')
  assert len(cifar100) == 2 + 9 + 4 + 1
  for name, run in cifar100.items():
    twin = cifar10[name.replace('_cifar100', '_cifar10')]
    assert run['overrides'] == twin['overrides'], name
    assert run['config'] == twin['config'].replace('_cifar10.', '_cifar100.')
  # Normalised as the seed notebook did, with CIFAR-10's statistics.
  for model in ('baseline', 'stem', 'hybrid'):
    config = config_lib.load_config_file(
        REPO / 'configs' / f'{model}_cifar100.py')
    assert config.normalization == 'cifar10'
    assert config_lib.normalization_stats(config) == (
        config_lib.DATASETS['cifar10'][2:])
    assert config.num_classes == 100


def test_seed_queue_holds_both_grids_in_the_issues_order():
  queue = _grid('seed_queue.py')
  assert set(queue) == set(_grid('seed.py')) | set(_grid('seed_cifar100.py'))
  names = list(queue)
  assert names[:4] == ['seed_hybrid_cifar10_pointwise_frac1_seed0',
                       'seed_hybrid_cifar10_linear_frac1_seed0',
                       'seed_baseline_cifar100_frac1_seed0',
                       'seed_hybrid_cifar100_frac1_seed0']
  position = {name: i for i, name in enumerate(names)}
  cifar100_10 = [n for n in names if '_cifar100_frac0.1_' in n]
  assert len(cifar100_10) == 9
  assert max(map(position.get, cifar100_10)) < position[
      'seed_hybrid_cifar10_residual_frac1_seed0']
  assert position['seed_baseline_cifar10_blockconv_frac1_seed0'] < position[
      'seed_baseline_cifar100_frac1_seed1']
  assert position['seed_stem_cifar100_frac1_seed0'] < position[
      'seed_hybrid_cifar10_epochcosine_frac1_seed0'] < position[
          'seed_hybrid_cifar10_pointwise_frac1_seed1'] < position[
              'seed_hybrid_cifar10_pointwise_frac1_seed2'] < min(
                  position[n] for n in names
                  if '_frac0.05_' in n or '_frac0.25_' in n)


def _published_best_epochs(grid_file, dataset):
  """(best test accuracy %, its epoch) of the seed's published baseline and
  hybrid, and their difference in points, from a grid's copied log."""
  published = config_lib.load_python_file(
      REPO / 'grids' / grid_file).REPORT['published']
  assert published['steps_per_epoch'] == 391  # 50,000 / 128, the last kept.
  curves = published['curves']
  for curve in curves.values():
    assert len(curve['test_accuracy']) == len(curve['train_loss']) == 30
    assert all(a > b for a, b in zip(curve['train_loss'],
                                     curve['train_loss'][1:]))
  best = {}
  for model in ('baseline', 'hybrid'):
    accuracy = curves[f'seed_{model}_{dataset}']['test_accuracy']
    best[model] = (round(100 * max(accuracy), 2),
                   accuracy.index(max(accuracy)) + 1)
  gain = round(best['hybrid'][0] - best['baseline'][0], 2)
  return best['baseline'], best['hybrid'], gain, curves


# The notebook's results tables (best epoch) and the seed's claims: a
# mistyped epoch in a copied log would show in one of these.
def test_seed_grids_published_curves_give_the_seeds_reported_figures():
  baseline, hybrid, gain, curves = _published_best_epochs('seed.py', 'cifar10')
  assert (baseline[0], hybrid, gain) == (76.71, (82.27, 27), 5.56)
  assert round(100 * curves['seed_hybrid_cifar10']['test_accuracy'][-1],
               2) == 81.97


def test_cifar100_grids_published_curves_give_the_seeds_reported_figures():
  assert _published_best_epochs('seed_cifar100.py', 'cifar100')[:3] == (
      (48.20, 28), (55.03, 30), 6.83)


def test_precision_grid_pairs_differ_only_in_the_dtype():
  runs = _grid('precision.py')
  assert len(runs) == 8
  for name, run in runs.items():
    if '_bfloat16_' in name:
      reference = runs[name.replace('_bfloat16_', '_float32_')]
      assert run['config'] == reference['config']
      assert _changes(run, reference) == {'compute_dtype': 'bfloat16'}
