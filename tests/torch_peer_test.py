"""The PyTorch peer in benchmarks/ is the same model as mixer_jax's."""

import importlib.util
import math

import pytest

from conftest import REPO

torch = pytest.importorskip('torch')

# benchmarks/ is a folder of scripts, not a package.
_SPEC = importlib.util.spec_from_file_location(
    'torch_peer', REPO / 'benchmarks' / 'torch_peer.py')
torch_peer = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(torch_peer)


@pytest.mark.parametrize('stem,expected', [(False, 1_132_170),
                                           (True, 1_149_962)])
def test_parameter_counts_match_the_jax_model(stem, expected):
  assert torch_peer.num_params(torch_peer.build_model(stem)) == expected


@pytest.mark.parametrize('stem', [False, True])
def test_output_shape(stem):
  logits = torch_peer.build_model(stem)(torch.randn(4, 3, 32, 32))
  assert logits.shape == (4, 10)


def test_training_step_updates_the_parameters():
  torch.manual_seed(0)
  model = torch_peer.build_model(stem=True)
  optimizer = torch.optim.AdamW(model.parameters())
  before = {n: p.detach().clone() for n, p in model.named_parameters()}
  loss = torch_peer.train_step(model, optimizer, torch.randn(4, 3, 32, 32),
                               torch.randint(10, (4,)))
  # The zero head gives uniform logits, so the first loss is exactly ln 10.
  assert math.isclose(loss.item(), math.log(10), rel_tol=1e-6)
  changed = {n for n, p in model.named_parameters()
             if not torch.equal(p, before[n])}
  # The zero head blocks gradients to the body on this first step, so only the
  # head learns; the body's weights move by AdamW's weight decay alone.
  assert {'head.weight', 'head.bias'} <= changed
  assert 'locality_stem.0.weight' in changed


def test_images_per_second_reports_throughput_and_size():
  result = torch_peer.images_per_second(False, batch_size=2, steps=2,
                                        warmup=1, threads=1)
  assert result['images_per_sec'] > 0
  assert result['num_params'] == 1_132_170
