r"""Every run of every grid keeps its name, config, parameters and initial values.

The grids' runs resume from archives on whatever code main has, so a
refactor must not change any run that a grid names. `golden/grid_runs.json`
holds, for every run of `grids/*.py`: its resolved config, and a fingerprint
of the model it builds for its seed (parameter paths and shapes, per-leaf
sums of the initial values, and the logits of fixed inputs in evaluation and
in training mode). Sums and logits are compared within a float32 tolerance,
not bit for bit, so that another CPU's kernels do not fail the test; a
changed initialiser, parameter order or forward pass moves them by far more.

A run added to a grid is pinned by writing its entry once:

  python tests/grid_golden_test.py

which adds the entries of new runs and refuses to change existing ones.
"""

import hashlib
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO
from mixer_jax import config_lib
from mixer_jax import train

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'grid_runs.json'
GRID_FILES = sorted((REPO / 'grids').glob('*.py'))
RTOL = 1e-4
ATOL = 1e-5


def grid_runs():
  """{run name: resolved config} over every grid file."""
  runs = {}
  for grid_file in GRID_FILES:
    for run in config_lib.load_python_file(grid_file).get_grid():
      config = config_lib.load_config_file(REPO / run['config'])
      config_lib.override(config, run['overrides'])
      runs[run['name']] = config
  return runs


# Config fields added after the runs were pinned, each with the value that
# leaves a run as it was pinned. A pinned run must have exactly that value;
# the field is then compared as if absent. Add a new field here, not to the
# golden file, whose entries are never rewritten.
ADDED_AFTER_PINNING = {
    'model_input_size': 32,  # The data's size: no resize (issue 40).
    'normalization': None,  # The dataset's own statistics (issue 39).
    'init_from': '',  # Random initial values, as before (issue 40).
    'optimizer.name': 'adamw',  # The one optimizer before (issue 40).
    'optimizer.momentum': 0.9,  # Read by 'sgd' only (issue 40).
}


def _jsonable(config):
  return json.loads(json.dumps(config.to_dict()))


def _as_pinned(name, config, pinned):
  """`config` as JSON, less the ADDED_AFTER_PINNING fields that `pinned`
  lacks, each checked to hold its unchanging value."""
  got = _jsonable(config)
  for field, unchanging in ADDED_AFTER_PINNING.items():
    *parents, leaf = field.split('.')
    node, pinned_node = got, pinned
    for parent in parents:
      node, pinned_node = node[parent], pinned_node[parent]
    if leaf not in pinned_node:
      assert node.pop(leaf) == unchanging, f'{name}: config.{field}'
  return got


def _model_key(config):
  """What the model's initial values depend on."""
  return json.dumps({'model': config.model.to_dict(),
                     'num_classes': config.num_classes,
                     'image_size': config.image_size,
                     'compute_dtype': config.compute_dtype}, sort_keys=True)


_COMPILED = {}


def _model_functions(config):
  """Jitted init(seed) and logits(variables) of the config's model."""
  key = _model_key(config)
  if key not in _COMPILED:
    # Without the train step's pmap axis: one device's BatchNorm statistics
    # are the global ones.
    model = train.create_model(config).clone(batch_norm_axis_name=None)
    shape = (4, config.image_size, config.image_size, 3)
    images = jnp.asarray(
        np.random.RandomState(0).normal(size=shape).astype(np.float32))

    def init(seed):
      init_key, _ = jax.random.split(jax.random.PRNGKey(seed))
      return model.init(init_key, jnp.zeros((1,) + shape[1:]), train=False)

    def logits(variables):
      # A fixed head: flax's initialisers start it at zero, which would hide
      # every layer below it.
      head = variables['params']['head']['kernel']
      fixed_head = jnp.asarray(np.random.RandomState(1).normal(
          size=head.shape).astype(np.float32))
      params = variables['params']
      variables = {**variables, 'params': {
          **params, 'head': {**params['head'], 'kernel': fixed_head}}}
      evaluated = model.apply(variables, images, train=False)
      trained, _ = model.apply(variables, images, train=True,
                               rngs={'dropout': jax.random.PRNGKey(1)},
                               mutable=['batch_stats'])
      return evaluated, trained

    _COMPILED[key] = jax.jit(init), jax.jit(logits)
  return _COMPILED[key]


def _significant(x):
  return float(f'{x:.8g}')


def model_fingerprint(config):
  init, logits = _model_functions(config)
  variables = init(config.seed)
  leaves = jax.tree_util.tree_flatten_with_path(variables)[0]
  evaluated, trained = logits(variables)
  return {
      'leaves': [[jax.tree_util.keystr(path), list(x.shape),
                  _significant(np.sum(np.asarray(x, np.float64))),
                  _significant(np.sum(np.abs(np.asarray(x, np.float64))))]
                 for path, x in leaves],
      'eval_logits': np.asarray(evaluated, np.float64).round(6).tolist(),
      'train_logits': np.asarray(trained, np.float64).round(6).tolist(),
  }


def model_id(config):
  """Names a model and seed: runs that share both share initial values."""
  key = json.dumps([_model_key(config), config.seed])
  return hashlib.sha256(key.encode()).hexdigest()[:12]


def _golden():
  with open(GOLDEN) as f:
    return json.load(f)


GOLDEN_MODELS = sorted(_golden()['models']) if GOLDEN.exists() else []


def _assert_same_model(name, got, want):
  paths = lambda m: [(leaf[0], leaf[1]) for leaf in m['leaves']]
  assert paths(got) == paths(want), f'{name}: parameter paths or shapes'
  np.testing.assert_allclose(
      [leaf[2:] for leaf in got['leaves']],
      [leaf[2:] for leaf in want['leaves']], rtol=RTOL, atol=ATOL,
      err_msg=f'{name}: initial values')
  for mode in ('eval_logits', 'train_logits'):
    np.testing.assert_allclose(got[mode], want[mode], rtol=RTOL, atol=ATOL,
                               err_msg=f'{name}: {mode}')


def upgraded(pinned_config):
  """A pinned config in today's form: `config.model` changed shape on
  2026-12-06 (config_lib.upgrade_model_config), the rest did not."""
  return {**pinned_config,
          'model': config_lib.upgrade_model_config(pinned_config['model'])}


def test_every_pinned_grid_run_keeps_its_name_and_config():
  golden = _golden()['runs']
  runs = grid_runs()
  missing = sorted(set(golden) - set(runs))
  assert not missing, f'grid runs renamed or removed: {missing}'
  unpinned = sorted(set(runs) - set(golden))
  assert not unpinned, (f'new grid runs {unpinned}: pin them with '
                        f'`python tests/grid_golden_test.py`.')
  for name, want in golden.items():
    pinned = upgraded(want['config'])
    assert _as_pinned(name, runs[name], pinned) == pinned, f'{name}: config'


# Every grid model built and run: minutes on 2 cores. The configs and names
# are checked in the quick subset too.
@pytest.mark.slow
@pytest.mark.parametrize('pinned_model', GOLDEN_MODELS)
def test_every_pinned_grid_model_keeps_its_parameters_and_outputs(
    pinned_model):
  golden = _golden()
  name = next(name for name, run in golden['runs'].items()
              if run['model'] == pinned_model)
  _assert_same_model(name, model_fingerprint(grid_runs()[name]),
                     golden['models'][pinned_model])


@pytest.mark.slow
@pytest.mark.parametrize('change', ['config', 'init', 'forward'])
def test_the_golden_test_fails_when_a_run_changes(change, monkeypatch):
  name = 'seed_hybrid_cifar10_frac1_seed0'
  config = grid_runs()[name]
  golden = _golden()
  want = golden['runs'][name]
  if change == 'config':
    config.optimizer.learning_rate *= 2
    pinned = upgraded(want['config'])
    assert _as_pinned(name, config, pinned) != pinned
    config.optimizer.learning_rate /= 2
    config.optimizer.name = 'sgd'  # A field added after pinning.
    with pytest.raises(AssertionError, match='optimizer.name'):
      _as_pinned(name, config, pinned)
    return
  if change == 'init':
    config.seed += 1
  else:  # A forward pass that differs only in one activation.
    monkeypatch.setattr('mixer_jax.models.gelu', jax.nn.relu)
    _COMPILED.clear()
  try:
    with pytest.raises(AssertionError):
      _assert_same_model(name, model_fingerprint(config),
                         golden['models'][want['model']])
  finally:
    _COMPILED.clear()


def main():
  golden = _golden() if GOLDEN.exists() else {'runs': {}, 'models': {}}
  for name, config in grid_runs().items():
    if name in golden['runs']:
      continue
    pinned_model = model_id(config)
    golden['runs'][name] = {'config': _jsonable(config),
                            'model': pinned_model}
    if pinned_model not in golden['models']:
      golden['models'][pinned_model] = model_fingerprint(config)
    print('pinned', name)
  GOLDEN.parent.mkdir(exist_ok=True)
  with open(GOLDEN, 'w') as f:
    json.dump(golden, f, indent=None, separators=(',', ':'))
    f.write('\n')


if __name__ == '__main__':
  main()
