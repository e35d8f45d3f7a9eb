"""The commands that use a trained workdir: evaluate, predict, export, and
init_from=FILE|WORKDIR, on one tiny CIFAR-100 run trained once (mock data,
16 images it overfits)."""

import json
import logging
import os
import shutil
import subprocess
import sys

import flax
import jax
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from conftest import REPO, SHARED_TFDS, process_env, tiny_seed_config
from mixer_jax import evaluate
from mixer_jax import export
from mixer_jax import host
from mixer_jax import init_from
from mixer_jax import input_pipeline
from mixer_jax import predict
from mixer_jax import run_config
from mixer_jax import train
from mixer_jax import trained

STEPS = 60
NUM_EXAMPLES = 16
# Augmentation and dropout off, so that 60 steps overfit the 16 images.
OVERFIT = {
    'augment.crop_padding': 0, 'augment.flip': False,
    'augment.rotate_degrees': 0.0, 'augment.brightness': 0.0,
    'augment.contrast': 0.0, 'augment.saturation': 0.0, 'augment.hue': 0.0,
    'augment.erase_prob': 0.0, 'model.dropout_rate': 0.0,
    'optimizer.schedule': 'warmup_cosine', 'optimizer.learning_rate': 1e-2}


@pytest.fixture(scope='module')
def mock_data():
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(input_pipeline, '_check_download_host', lambda _: None)
    yield lambda: tfds.testing.mock_data(num_examples=NUM_EXAMPLES)


@pytest.fixture(scope='module')
def run(tmp_path_factory, mock_data):
  """(workdir, its final evaluation, its training split)."""
  workdir = str(tmp_path_factory.mktemp('cifar100') / 'run')
  config = tiny_seed_config(**{
      'dataset': 'cifar100', 'num_classes': 100, 'num_train_steps': STEPS,
      'eval_every_steps': STEPS, 'checkpoint_every_steps': STEPS,
      'log_every_steps': STEPS, 'eval_splits': ('test',), **OVERFIT})
  with mock_data():
    final = train.train_and_evaluate(config, workdir)
    train_split, _ = input_pipeline.load(config)
  return workdir, final, train_split


def test_the_workdir_records_its_whole_config(run):
  workdir, _, _ = run
  config = run_config.load(workdir)
  assert (config.dataset, config.num_train_steps) == ('cifar100', STEPS)
  assert config.optimizer.learning_rate == 1e-2


@pytest.mark.parametrize('checkpoint', ['latest', 'best'])
def test_evaluate_equals_the_runs_last_evaluation(run, mock_data, checkpoint):
  workdir, final, _ = run
  with mock_data():
    result = evaluate.evaluate(workdir, 'test', checkpoint)
  assert result['step'] == STEPS
  assert result['test_accuracy'] == final['test_accuracy']
  assert result['test_loss'] == pytest.approx(final['test_loss'], rel=1e-6)


def test_predict_gives_the_training_class(run, tmp_path):
  workdir, _, train_split = run
  paths = []
  for i in range(4):
    paths.append(str(tmp_path / f'{i}.png'))
    Image.fromarray(train_split.images[i]).save(paths[-1])
  config = run_config.load(workdir)
  names = predict.class_names(config)
  got = predict.predict(workdir, paths)
  assert [classes[0][0] for classes in got] == [
      names[label] for label in train_split.labels[:4]]
  assert all(len(classes) == 5 for classes in got)


def test_predict_takes_images_of_any_size(run, tmp_path):
  workdir, _, train_split = run
  path = str(tmp_path / 'large.jpg')
  Image.fromarray(train_split.images[0]).resize((97, 61)).save(path)
  [classes] = predict.predict(workdir, [path])
  assert sum(p for _, p in classes) <= 1 and len(classes) == 5


def test_predict_and_export_can_use_the_latest_train_state(run, tmp_path):
  workdir, _, train_split = run
  latest_only = shutil.copytree(workdir, tmp_path / 'latest_only')
  shutil.rmtree(latest_only / 'best')
  image = str(tmp_path / 'image.png')
  Image.fromarray(train_split.images[0]).save(image)
  [classes] = predict.predict(str(latest_only), [image], checkpoint='latest')
  names = predict.class_names(run_config.load(workdir))
  assert classes[0][0] == names[train_split.labels[0]]

  out = str(tmp_path / 'latest.npz')
  step, _ = export.export(str(latest_only), out, checkpoint='latest')
  assert step == STEPS
  _, _, latest = trained.variables(workdir, 'latest',
                                   train.train_state_template)
  with np.load(out, allow_pickle=False) as npz:
    tree = flax.traverse_util.unflatten_dict(dict(npz), sep='/')
  jax.tree.map(np.testing.assert_array_equal, tree.pop('batch_stats'),
               dict(latest['batch_stats']))
  jax.tree.map(np.testing.assert_array_equal, tree, dict(latest['params']))


def test_class_names_come_from_the_prepared_data():
  if not (SHARED_TFDS / 'cifar100').is_dir():
    pytest.skip(f'no prepared CIFAR-100 at {SHARED_TFDS}')
  config = tiny_seed_config(dataset='cifar100', num_classes=100,
                            tfds_data_dir=str(SHARED_TFDS))
  assert predict.class_names(config)[:3] == ['apple', 'aquarium_fish', 'baby']


def _user_error_exit_code(function, *args):
  with pytest.raises(SystemExit) as exit_:
    with host.exit_codes():
      function(*args)
  return exit_.value.code


def test_an_unreadable_image_is_refused(run, tmp_path, capsys):
  workdir, _, _ = run
  path = tmp_path / 'notes.png'
  path.write_text('not an image')
  assert _user_error_exit_code(predict.predict, workdir, [str(path)]) == 2
  assert 'cannot be read as an image' in capsys.readouterr().err


def test_a_workdir_without_checkpoints_is_refused(run, tmp_path, capsys):
  workdir, _, _ = run
  shutil.copy(os.path.join(workdir, 'config.json'), tmp_path)
  assert _user_error_exit_code(predict.predict, str(tmp_path), []) == 2
  assert 'holds no best checkpoint yet' in capsys.readouterr().err


def test_a_checkpoint_of_another_model_is_refused(run, tmp_path, capsys):
  workdir, _, _ = run
  copy = shutil.copytree(workdir, tmp_path / 'copy')
  saved = json.loads((copy / 'config.json').read_text())
  saved['model']['hidden_dim'] *= 2
  (copy / 'config.json').write_text(json.dumps(saved))
  assert _user_error_exit_code(predict.predict, str(copy), []) == 2
  assert 'holds a checkpoint of another model' in capsys.readouterr().err


def test_the_predict_command_exits_2_with_a_message(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'mixer_jax.predict', f'--workdir={tmp_path}',
       'image.png'], cwd=REPO, capture_output=True, text=True, timeout=300,
      env=process_env())
  assert result.returncode == 2, result.stderr[-2000:]
  assert f'error: {tmp_path} has no config.json' in result.stderr


def _logits(config, variables, images):
  return train.create_model(config).apply(
      variables, train.model_inputs(config, images), train=False)


@pytest.fixture(scope='module')
def exported(run, tmp_path_factory):
  workdir, _, _ = run
  path = str(tmp_path_factory.mktemp('export') / 'model.npz')
  export.export(workdir, path)
  return path


def test_vit_jax_reads_the_export(run, exported):
  workdir, _, _ = run
  _, _, best = trained.variables(workdir)
  with np.load(exported, allow_pickle=False) as npz:  # As vit_jax's load.
    tree = flax.traverse_util.unflatten_dict(dict(npz), sep='/')
  stats = tree.pop('batch_stats')
  for got, want in ((tree, best['params']), (stats, best['batch_stats'])):
    jax.tree.map(np.testing.assert_array_equal, got, dict(want))


@pytest.mark.parametrize('source', ['npz', 'workdir'])
def test_init_from_reproduces_the_models_logits(run, exported, source):
  workdir, _, train_split = run
  config, _, best = trained.variables(workdir)
  config.init_from = exported if source == 'npz' else workdir
  model = train.create_model(config)
  state = train.create_train_state(
      config, model, train.create_optimizer(config, 1e-3),
      jax.random.PRNGKey(1))
  state = init_from.apply(state, init_from.load(config, model))
  assert state.batch_stats  # The seed hybrid's BatchNorm statistics.
  np.testing.assert_array_equal(
      _logits(config, {'params': state.params,
                       'batch_stats': state.batch_stats}, train_split.images),
      _logits(config, best, train_split.images))


def test_fine_tuning_to_cifar10_gets_a_new_head_and_resumes_its_own(
    exported, mock_data, tmp_path, caplog):
  workdir = str(tmp_path / 'finetune')
  copy = str(tmp_path / 'pretrained.npz')
  shutil.copy(exported, copy)
  # A learning rate so small that the tuned model stays the exported one.
  config = tiny_seed_config(init_from=copy, num_train_steps=2,
                            eval_every_steps=2, checkpoint_every_steps=2,
                            log_every_steps=1,
                            **{**OVERFIT, 'optimizer.learning_rate': 1e-9})
  # Whatever verbosity an earlier test left absl's logger at.
  caplog.set_level(logging.INFO, logger='absl')
  with mock_data():
    train.train_and_evaluate(config, workdir)
    assert f'init_from {copy}: loaded MixerBlock_0' in caplog.text
    assert 'started fresh: head.' in caplog.text
    _, _, tuned = trained.variables(workdir)
    assert tuned['params']['head']['kernel'].shape == (16, 10)
    with np.load(copy) as pretrained:
      np.testing.assert_allclose(tuned['params']['stem']['kernel'],
                                 pretrained['stem/kernel'], atol=1e-6)
    os.remove(copy)  # A resumed run never reads init_from again.
    config.num_train_steps = 3
    train.train_and_evaluate(config, workdir)
