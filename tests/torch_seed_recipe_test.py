"""benchmarks/torch_seed_recipe.py: the seed notebook's recipe in PyTorch."""

import importlib
import math
import sys

import numpy as np
import pytest

from conftest import REPO

torch = pytest.importorskip('torch')


@pytest.fixture(scope='module')
def recipe():
  # benchmarks/ is a folder of scripts, which import each other by name.
  sys.path.insert(0, str(REPO / 'benchmarks'))
  try:
    yield importlib.import_module('torch_seed_recipe')
  finally:
    sys.path.remove(str(REPO / 'benchmarks'))


def _data(num_images, seed):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (num_images, 32, 32, 3), dtype=np.uint8),
          rng.integers(0, 10, num_images))


def test_a_resumed_run_continues_the_same_streams_and_the_per_batch_wave(
    recipe, tmp_path):
  torch.set_num_threads(1)
  train, test = _data(300, 0), _data(40, 1)  # 3 batches an epoch: 128+128+44.
  unbroken = recipe.train('hybrid', 2, str(tmp_path / 'unbroken'), train,
                          test)
  recipe.train('hybrid', 1, str(tmp_path / 'resumed'), train, test)
  resumed = recipe.train('hybrid', 2, str(tmp_path / 'resumed'), train, test)
  without_time = lambda rows: [{k: v for k, v in row.items()
                                if k != 'seconds'} for row in rows]
  assert without_time(resumed) == without_time(unbroken)
  # CosineAnnealingLR(T_max=30) stepped after every batch, as the notebook.
  for row in unbroken:
    step = 3 * row['epoch']
    assert row['learning_rate'] == pytest.approx(
        3e-3 * (1 + math.cos(math.pi * step / 30)) / 2)
  assert 2.0 < unbroken[0]['train_loss'] < 3.0  # Near ln 10: random labels.


@pytest.mark.parametrize('schedule', ['cosine_wave', 'epoch_cosine'])
def test_mixer_jax_schedules_are_pytorchs_cosine_annealing(recipe, schedule):
  from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top
  from mixer_jax import train  # pylint: disable=g-import-not-at-top
  config = config_lib.seed_config('cifar10', 'hybrid')
  config.optimizer.schedule = schedule
  steps_per_epoch, num_train_steps, _, _ = train.run_length(config, 50_000)
  jax_rates = np.asarray(train.learning_rate_schedule(
      config, steps_per_epoch, num_train_steps)(np.arange(num_train_steps)))
  # The notebook's CosineAnnealingLR(T_max=30) stepped after every batch, a
  # wave of 60 steps, 195 times over; as meant, T_max = the 30 epochs,
  # stepped after every epoch.
  steps_per_lr = 1 if schedule == 'cosine_wave' else steps_per_epoch
  optimizer = recipe.torch_peer.make_optimizer(torch.nn.Linear(1, 1))
  scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                         recipe.T_MAX)
  torch_rates = []
  for _ in range(num_train_steps // steps_per_lr):
    torch_rates.append(scheduler.get_last_lr()[0])
    optimizer.step()
    scheduler.step()
  np.testing.assert_allclose(jax_rates, np.repeat(torch_rates, steps_per_lr),
                             rtol=1e-4, atol=1e-9)


def test_the_augmentation_is_the_notebooks_in_distribution(recipe):
  image = np.full((32, 32, 3), 128, np.uint8)
  rng = np.random.default_rng(0)
  arrays = np.stack([recipe.augment(image, rng) for _ in range(400)])
  assert arrays.shape == (400, 3, 32, 32) and arrays.dtype == np.float32
  # Every copy is the grey, scaled by the jitter, with black where the crop's
  # padding or the rotation's corners came in and zeros where erased.
  black = (0 - recipe.MEAN[:, None, None]) / recipe.STD[:, None, None]
  blank = np.isclose(arrays, black, atol=1e-5).all(axis=1)
  erased = (arrays == 0).all(axis=1)
  assert 0.3 < blank.any(axis=(1, 2)).mean() < 1.0  # Padding or rotation.
  # RandomErasing(p=0.1): boxes of 2-33% of the image, in about 10% of them.
  erased_fraction = erased.mean(axis=(1, 2))
  assert 0.04 < (erased_fraction > 0).mean() < 0.16
  assert 0.01 < erased_fraction[erased_fraction > 0].min()
  assert erased_fraction.max() < 0.37  # 33%, and sides rounded to pixels.
  # The jitter moves the grey both ways (brightness and contrast 0.9-1.1).
  centre = arrays[:, :, 16, 16][~erased[:, 16, 16] & ~blank[:, 16, 16]]
  grey = (128 / 255 - recipe.MEAN) / recipe.STD
  assert (centre < grey - 0.01).any() and (centre > grey + 0.01).any()
  # The same random stream gives the same images.
  again = recipe.augment(image, np.random.default_rng(0))
  np.testing.assert_array_equal(again, arrays[0])


def test_mixer_jax_initialisers_start_the_torch_model_as_the_jax_one(recipe):
  import jax  # pylint: disable=g-import-not-at-top
  from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top
  from mixer_jax import train  # pylint: disable=g-import-not-at-top
  config = config_lib.seed_config('cifar10', 'hybrid')
  config.model.initialisers = 'flax'  # mixer_jax's own; the seed's: PyTorch's.
  params = train.create_model(config).init(
      {'params': jax.random.PRNGKey(0), 'dropout': jax.random.PRNGKey(1)},
      np.zeros((2, 32, 32, 3), np.float32), train=False)['params']
  torch.manual_seed(0)
  model = recipe.torch_peer.build_model('seed', 'hybrid', zero_head=False)
  default_std = model.blocks.MixerBlock_0.token_mixing[0].weight.std().item()
  recipe.use_mixer_jax_initialisers(model)
  pairs = {  # torch module: the JAX kernel of the same layer.
      model.patch_embed: params['stem']['kernel'],
      model.blocks.MixerBlock_0.token_mixing[0]:
          params['MixerBlock_0']['token_mixing']['Dense_0']['kernel'],
      model.blocks.MixerBlock_0.channel_mixing[3]:
          params['MixerBlock_0']['channel_mixing']['Dense_1']['kernel'],
  }
  for module, kernel in pairs.items():
    assert module.weight.std().item() == pytest.approx(
        float(np.std(kernel)), rel=0.1)
    assert not module.bias.any()
  assert not model.head.weight.any() and not model.head.bias.any()
  # PyTorch's defaults are sqrt(3) times narrower.
  assert default_std == pytest.approx(
      model.blocks.MixerBlock_0.token_mixing[0].weight.std().item()
      / 3 ** 0.5, rel=0.1)


def test_the_comparison_puts_each_epoch_beside_the_notebook_and_mixer_jax(
    recipe, monkeypatch):
  from mixer_jax.experiments.report import summaries  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(summaries, 'logged_scalars', lambda workdir: {
      'test_accuracy': [(391, 0.4011)],
      'train_loss': [(100, 2.0), (200, 1.9), (300, 1.8), (400, 1.7)]})
  rows = [{'epoch': 1, 'train_loss': 1.839, 'test_accuracy': 0.441},
          {'epoch': 2, 'train_loss': 1.545, 'test_accuracy': 0.49}]
  table = recipe.comparison(rows, 'baseline', 'a_workdir').splitlines()
  # The notebook's epochs 1 and 2 (grids/seed.py), then the run's.
  assert table[2] == ('| 1 | 44.03 | 44.10 | 40.11 | 1.812 | 1.839 | '
                      '1.900 |')
  assert table[3] == '| 2 | 49.97 | 49.00 |  | 1.512 | 1.545 | 1.700 |'
