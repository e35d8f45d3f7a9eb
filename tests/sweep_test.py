"""The sweep runner: a grid into one directory, finished runs skipped."""

import json

import numpy as np
import pytest

from mixer_jax import config_lib
from mixer_jax import report
from mixer_jax import sweep
from mixer_jax import train
from conftest import REPO

TINY = {'model.patches.size': (8, 8), 'model.hidden_dim': 16,
        'model.num_blocks': 1, 'model.tokens_mlp_dim': 8,
        'model.channels_mlp_dim': 16, 'batch_size': 8, 'eval_batch_size': 16,
        'num_train_steps': 2, 'log_every_steps': 1}


def test_committed_grid_is_complete_and_paired():
  runs = config_lib.load_python_file(REPO / 'grids' / 'small_data.py'
                                     ).get_grid()
  names = [r['name'] for r in runs]
  assert len(names) == len(set(names)) == 24
  paired = [r for r in runs if r['overrides']['train_fraction'] == 0.1 and
            r['name'].startswith(('baseline_cifar10_frac', 'hybrid_cifar10_frac'))]
  assert sorted(r['overrides']['seed'] for r in paired) == [0, 0, 1, 1, 2, 2]
  assert all(r['overrides']['subset_seed'] == r['overrides']['seed']
             for r in runs)


def test_sweep_runs_each_run_once_and_skips_finished_ones(
    tmp_path, mock_tfds, monkeypatch):
  grid_file = tmp_path / 'grid.py'
  grid_file.write_text(
      'from mixer_jax import sweep\n'
      'def get_grid():\n'
      f'  return sweep.grid([{str(REPO / "configs" / "baseline_cifar10.py")!r},'
      f' {str(REPO / "configs" / "hybrid_cifar10.py")!r}], [0, 1], [0.5], '
      f'{TINY!r})\n')
  with mock_tfds(num_examples=40):
    results = sweep.run_all(str(grid_file), str(tmp_path / 'runs'))
  assert [r['name'] for r in results] == [
      'baseline_cifar10_frac0.5_seed0', 'baseline_cifar10_frac0.5_seed1',
      'hybrid_cifar10_frac0.5_seed0', 'hybrid_cifar10_frac0.5_seed1']
  assert all((tmp_path / 'runs' / r['name'] / 'result.json').exists()
             for r in results)

  def must_not_train(*args, **kwargs):
    raise AssertionError('a finished run was trained again')

  monkeypatch.setattr(train, 'train_and_evaluate', must_not_train)
  assert sweep.run_all(str(grid_file), str(tmp_path / 'runs')) == json.loads(
      json.dumps(results))

  # The report reads the same directory.
  runs = report.load_runs(tmp_path / 'runs')
  table = report.results_table(runs).splitlines()
  assert len(table) == 4
  baseline, hybrid = ([c.strip() for c in row.split('|')[1:-1]]
                      for row in table[2:])
  assert baseline[:3] == ['baseline_cifar10', '0.5', '2']
  assert hybrid[:3] == ['hybrid_cifar10', '0.5', '2']
  c = 16  # The stem's parameters, over the baseline's.
  assert (int(hybrid[3].replace(',', '')) - int(baseline[3].replace(',', ''))
          == 9 * c + c + c * c + c)
  assert hybrid[-1].endswith('n=2') and baseline[-1] == ''
  report.plot(runs, str(tmp_path))
  assert (tmp_path / 'loss_curves.png').stat().st_size > 0
  assert (tmp_path / 'accuracy_vs_fraction.png').stat().st_size > 0


def test_paired_difference_and_its_interval():
  mean, low, high, n = report.paired_difference({0: 0.51, 1: 0.53, 7: 0.9},
                                                {0: 0.50, 1: 0.50})
  assert n == 2 and mean == pytest.approx(0.02)
  half = 12.7062 * np.std([0.01, 0.03], ddof=1) / np.sqrt(2)
  assert (low, high) == pytest.approx((0.02 - half, 0.02 + half), rel=1e-4)
  assert report.paired_difference({0: 0.5}, {0: 0.4}) is None
