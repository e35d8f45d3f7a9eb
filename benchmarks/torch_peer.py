r"""The nano and seed MLP-Mixers in PyTorch, as a training-speed reference.

It mirrors `mixer_jax.models.MlpMixer` layer for layer, so the parameter counts
match exactly (1,132,170 for the nano baseline, 1,149,962 with its 3x3
depthwise-separable stem; the seed's baseline and hybrid are
`config_lib.seed_config`'s models), but is written the way a PyTorch user would
write it: NCHW, `torch.nn` modules and PyTorch's default initialisers (the
head is zero-initialised, as in the JAX model under `model.initialisers='flax'`,
unless `zero_head=False`, as under 'pytorch'). It runs eagerly in float32,
eagerly under bfloat16 autocast, or through `torch.compile` (`PRECISIONS`).

  python benchmarks/torch_peer.py --batch_sizes=128,512 --steps=20
  python benchmarks/torch_peer.py --models=seed --blocks=baseline,hybrid \
      --precisions=float32,bf16_autocast,compile --batch_sizes=128
"""

import collections
import functools
import json
import os
import statistics
import time

from absl import app
from absl import flags
import torch
from torch import nn

LAYER_NORM_EPSILON = 1e-6
IMAGE_SIZE = 32
NUM_CLASSES = 10

_NANO = dict(patch=4, hidden=128, num_blocks=8, tokens_mlp=64,
             channels_mlp=512, dropout=0.0, kernel_size=3,
             seed_locality=False)
# The `MlpMixer` fields of Mixer-nano_4 and of the seed notebook's Mixer
# (`config_lib.seed_config`, docs/SEED.md), with the seed's locality block.
MODELS = {
    'nano': _NANO,
    'seed': dict(_NANO, channels_mlp=256, dropout=0.15, seed_locality=True),
}
# Where the locality blocks go, as `config_lib.seed_config`'s `blocks`:
# (after the patch embedding, after every K-th Mixer block; 0: never).
BLOCKS = {'baseline': (False, 0), 'stem': (True, 0), 'hybrid': (True, 2)}
# 'float32': eager; 'bf16_autocast': eager, the forward pass and the loss under
# CPU autocast to bfloat16 (float32 parameters and AdamW); 'compile': float32,
# `torch.compile(model)`.
PRECISIONS = ('float32', 'bf16_autocast', 'compile')

FLAGS = flags.FLAGS


def gelu():
  # vit_jax's tanh approximation, as mixer_jax.models.gelu.
  return nn.GELU(approximate='tanh')


class MlpBlock(nn.Sequential):
  """Linear -> GELU -> Dropout -> Linear -> Dropout over the last axis."""

  def __init__(self, dim, mlp_dim, dropout):
    super().__init__(nn.Linear(dim, mlp_dim), gelu(), nn.Dropout(dropout),
                     nn.Linear(mlp_dim, dim), nn.Dropout(dropout))


class MixerBlock(nn.Module):
  """Token mixing then channel mixing, each pre-norm and residual."""

  def __init__(self, num_tokens, hidden, tokens_mlp, channels_mlp, dropout):
    super().__init__()
    self.token_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPSILON)
    self.token_mixing = MlpBlock(num_tokens, tokens_mlp, dropout)
    self.channel_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPSILON)
    self.channel_mixing = MlpBlock(hidden, channels_mlp, dropout)

  def forward(self, x):  # x: (N, tokens, C)
    y = self.token_mixing(self.token_norm(x).transpose(1, 2)).transpose(1, 2)
    x = x + y
    return x + self.channel_mixing(self.channel_norm(x))


class LocalityBlock(nn.Sequential):
  """k x k depthwise then 1 x 1 pointwise conv on the tokens' (H, W) grid.

  Not residual. By default `models.DwSepBlock`'s defaults (conv biases, no
  norm or activation); `seed` makes it the seed notebook's block: no conv
  biases, then BatchNorm and GELU.
  """

  def __init__(self, channels, grid, kernel_size, seed):
    layers = [nn.Conv2d(channels, channels, kernel_size,
                        padding=kernel_size // 2, groups=channels,
                        bias=not seed),
              nn.Conv2d(channels, channels, 1, bias=not seed)]
    if seed:
      layers += [nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1), gelu()]
    super().__init__(*layers)
    self.grid = grid

  def forward(self, x):  # x: (N, tokens, C); views to and from (N, C, H, W).
    y = super().forward(x.transpose(1, 2).unflatten(2, self.grid))
    return y.flatten(2).transpose(1, 2)


class MlpMixer(nn.Module):
  """Patch embedding, Mixer and locality blocks, mean-pooled head.

  The blocks are named as the JAX model's parameters: `MixerBlock_{i}`,
  `locality_stem` and `locality_after_MixerBlock_{i}`.
  """

  def __init__(self, patch, hidden, num_blocks, tokens_mlp, channels_mlp,
               dropout, kernel_size, seed_locality, after_embedding,
               interleave_every, zero_head=True):
    super().__init__()
    self.patch_embed = nn.Conv2d(3, hidden, patch, stride=patch)
    grid = (IMAGE_SIZE // patch,) * 2
    locality = functools.partial(LocalityBlock, hidden, grid, kernel_size,
                                 seed_locality)
    layers = [('locality_stem', locality())] if after_embedding else []
    for i in range(num_blocks):
      layers.append((f'MixerBlock_{i}', MixerBlock(
          grid[0] * grid[1], hidden, tokens_mlp, channels_mlp, dropout)))
      if interleave_every and (i + 1) % interleave_every == 0:
        layers.append((f'locality_after_MixerBlock_{i}', locality()))
    self.blocks = nn.Sequential(collections.OrderedDict(layers))
    self.pre_head_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPSILON)
    self.head = nn.Linear(hidden, NUM_CLASSES)
    if zero_head:
      nn.init.zeros_(self.head.weight)
      nn.init.zeros_(self.head.bias)

  def forward(self, images):  # images: (N, 3, H, W)
    x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (N, tokens, C)
    x = self.pre_head_norm(self.blocks(x))
    return self.head(x.mean(dim=1))


def build_model(model='nano', blocks='baseline', zero_head=True) -> nn.Module:
  """`model` from `MODELS`, its locality blocks placed as `BLOCKS[blocks]`;
  without `zero_head`, the head keeps PyTorch's default initialiser too."""
  after_embedding, interleave_every = BLOCKS[blocks]
  return MlpMixer(**MODELS[model], after_embedding=after_embedding,
                  interleave_every=interleave_every, zero_head=zero_head)


def num_params(model):
  return sum(p.numel() for p in model.parameters())


def make_optimizer(model):
  """The seed recipe's AdamW: lr 3e-3, weight decay 5e-4 on every parameter."""
  return torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)


def train_step(model, optimizer, images, labels, autocast=False):
  """One full optimiser step; returns the (pre-update) loss.

  `autocast` runs the forward pass and the loss under bfloat16 autocast.
  """
  with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
    loss = nn.functional.cross_entropy(model(images), labels)
  loss.backward()
  optimizer.step()
  optimizer.zero_grad()
  return loss


def median_seconds(fn, steps, warmup):
  for _ in range(warmup):
    fn()
  seconds = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    seconds.append(time.perf_counter() - start)
  return statistics.median(seconds)


def images_per_second(model: str, blocks: str, batch_size: int, *,
                      precision: str = 'float32', steps: int = 20,
                      warmup: int = 3, threads: int = 2) -> dict:
  """Training throughput on one fixed random batch.

  Times whole steps (forward, loss, backward, AdamW) in train mode, the
  default of a new model: dropout on, BatchNorm on batch statistics.

  Args:
    model: a key of `MODELS`.
    blocks: a key of `BLOCKS`.
    batch_size: images per step.
    precision: one of `PRECISIONS`.
    steps: timed steps; the rate is from their median.
    warmup: untimed steps first (they include `torch.compile`'s compilation).
    threads: torch's intra-op threads.

  Returns:
    A row: model (e.g. 'seed_hybrid'), batch, precision, threads, num_params,
    images_per_sec and median_step_s; error is None, or why `torch.compile`
    failed (then the two rates are None).
  """
  if precision not in PRECISIONS:
    raise ValueError(f'Unknown precision {precision!r}; use one of '
                     f'{PRECISIONS}.')
  torch.set_num_threads(threads)
  torch.manual_seed(0)
  module = build_model(model, blocks)
  images = torch.randn(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE)
  labels = torch.randint(NUM_CLASSES, (batch_size,))
  if precision == 'compile':
    torch.compiler.reset()  # No cache limit reached across many rows.
  step = functools.partial(
      train_step,
      torch.compile(module) if precision == 'compile' else module,
      make_optimizer(module), images, labels,
      autocast=precision == 'bf16_autocast')
  row = {'model': f'{model}_{blocks}', 'batch': batch_size,
         'precision': precision, 'threads': threads,
         'num_params': num_params(module)}
  try:
    median_step_s = median_seconds(step, steps, warmup)
  except Exception as error:  # pylint: disable=broad-except
    if precision != 'compile':
      raise
    return {**row, 'images_per_sec': None, 'median_step_s': None,
            'error': f'{type(error).__name__}: {error}'}
  return {**row, 'images_per_sec': batch_size / median_step_s,
          'median_step_s': median_step_s, 'error': None}


def define_choices(name, default, choices, help_text):
  """A comma-separated list flag whose items must be among `choices`."""
  flags.DEFINE_list(name, default, f'{help_text} Any of {list(choices)}.')
  flags.register_validator(name, lambda values: set(values) <= set(choices),
                           f'--{name} takes only {list(choices)}.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  for model in FLAGS.models:
    for blocks in FLAGS.blocks:
      for precision in FLAGS.precisions:
        for batch_size in map(int, FLAGS.batch_sizes):
          result = images_per_second(
              model, blocks, batch_size, precision=precision,
              steps=FLAGS.steps, warmup=FLAGS.warmup, threads=FLAGS.threads)
          print(json.dumps({'framework': 'torch', 'torch': torch.__version__,
                            **result}), flush=True)


if __name__ == '__main__':
  # Defined here, so that benchmarks/run.py can import this module.
  define_choices('models', ['nano'], MODELS, 'Models to time.')
  define_choices('blocks', ['baseline', 'stem'], BLOCKS,
                 'Locality block placements to time.')
  define_choices('precisions', ['float32'], PRECISIONS, 'Precisions to time.')
  flags.DEFINE_list('batch_sizes', ['128', '512'], 'Batch sizes to time.')
  flags.DEFINE_integer('steps', 20, 'Timed training steps per configuration.')
  flags.DEFINE_integer('warmup', 3, 'Untimed steps first.')
  flags.DEFINE_integer('threads', len(os.sched_getaffinity(0)),
                       'Intra-op threads (default: the cores this process '
                       'may run on).')
  app.run(main)
