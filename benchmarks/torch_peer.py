r"""The nano MLP-Mixer in plain eager PyTorch, as a training-speed reference.

It mirrors `mixer_jax.models.MlpMixer` layer for layer, so the parameter counts
match exactly (1,132,170 for the nano baseline, 1,149,962 with the 3x3
depthwise-separable stem), but is written the way a PyTorch user would write
it: NCHW, `torch.nn` modules, PyTorch's default initialisers (only the head is
zero-initialised, as in the JAX model) and no compilation.

  python benchmarks/torch_peer.py --batch_sizes=128,512 --steps=20
"""

import json
import statistics
import time

from absl import app
from absl import flags
import torch
from torch import nn

LAYER_NORM_EPSILON = 1e-6

FLAGS = flags.FLAGS


class MlpBlock(nn.Sequential):
  """Linear -> GELU -> Linear over the last axis."""

  def __init__(self, dim, mlp_dim):
    super().__init__(nn.Linear(dim, mlp_dim), nn.GELU(approximate='tanh'),
                     nn.Linear(mlp_dim, dim))


class MixerBlock(nn.Module):
  """Token mixing then channel mixing, each pre-norm and residual."""

  def __init__(self, num_tokens, hidden, tokens_mlp, channels_mlp):
    super().__init__()
    self.token_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPSILON)
    self.token_mixing = MlpBlock(num_tokens, tokens_mlp)
    self.channel_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPSILON)
    self.channel_mixing = MlpBlock(hidden, channels_mlp)

  def forward(self, x):  # x: (N, tokens, C)
    y = self.token_mixing(self.token_norm(x).transpose(1, 2)).transpose(1, 2)
    x = x + y
    return x + self.channel_mixing(self.channel_norm(x))


class MlpMixer(nn.Module):
  """Patch embedding, optional locality stem, Mixer blocks, mean-pooled head."""

  def __init__(self, stem, image_size, patch, hidden, blocks, tokens_mlp,
               channels_mlp, num_classes, kernel_size):
    super().__init__()
    self.patch_embed = nn.Conv2d(3, hidden, patch, stride=patch)
    # Same as models.DepthwiseSeparableStem with its defaults: no activation,
    # norm or residual.
    self.locality_stem = nn.Sequential(
        nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2,
                  groups=hidden),
        nn.Conv2d(hidden, hidden, 1)) if stem else nn.Identity()
    num_tokens = (image_size // patch)**2
    self.blocks = nn.Sequential(*[
        MixerBlock(num_tokens, hidden, tokens_mlp, channels_mlp)
        for _ in range(blocks)
    ])
    self.pre_head_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPSILON)
    self.head = nn.Linear(hidden, num_classes)
    nn.init.zeros_(self.head.weight)
    nn.init.zeros_(self.head.bias)

  def forward(self, images):  # images: (N, 3, H, W)
    x = self.locality_stem(self.patch_embed(images))
    x = x.flatten(2).transpose(1, 2)  # (N, tokens, C)
    x = self.pre_head_norm(self.blocks(x))
    return self.head(x.mean(dim=1))


def build_model(stem: bool, image_size=32, patch=4, hidden=128, blocks=8,
                tokens_mlp=64, channels_mlp=512, num_classes=10,
                kernel_size=3) -> nn.Module:
  """The nano Mixer by default; `stem` adds the k x k dwsep locality stem."""
  return MlpMixer(stem, image_size, patch, hidden, blocks, tokens_mlp,
                  channels_mlp, num_classes, kernel_size)


def num_params(model):
  return sum(p.numel() for p in model.parameters())


def train_step(model, optimizer, images, labels):
  """One full optimiser step; returns the (pre-update) loss."""
  loss = nn.functional.cross_entropy(model(images), labels)
  loss.backward()
  optimizer.step()
  optimizer.zero_grad()
  return loss


def images_per_second(stem: bool, batch_size: int, steps: int = 20,
                      warmup: int = 3, threads: int = 2,
                      **model_kwargs) -> dict:
  """Training throughput from the median step time on random data."""
  torch.set_num_threads(threads)
  torch.manual_seed(0)
  model = build_model(stem, **model_kwargs)
  model.train()
  optimizer = torch.optim.AdamW(model.parameters())
  image_size = model_kwargs.get('image_size', 32)
  num_classes = model_kwargs.get('num_classes', 10)
  images = torch.randn(batch_size, 3, image_size, image_size)
  labels = torch.randint(num_classes, (batch_size,))
  for _ in range(warmup):
    train_step(model, optimizer, images, labels)
  step_seconds = []
  for _ in range(steps):
    start = time.perf_counter()
    train_step(model, optimizer, images, labels)
    step_seconds.append(time.perf_counter() - start)
  median_step_s = statistics.median(step_seconds)
  return {
      'images_per_sec': batch_size / median_step_s,
      'median_step_s': median_step_s,
      'num_params': num_params(model),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  for stem in (False, True):
    for batch_size in map(int, FLAGS.batch_sizes):
      result = images_per_second(stem, batch_size, steps=FLAGS.steps)
      print(json.dumps({'framework': 'torch', 'torch': torch.__version__,
                        'stem': stem, 'batch_size': batch_size,
                        'threads': torch.get_num_threads(), **result}),
            flush=True)


if __name__ == '__main__':
  # Defined here, so that benchmarks/run.py can import this module.
  flags.DEFINE_list('batch_sizes', ['128', '512'], 'Batch sizes to time.')
  flags.DEFINE_integer('steps', 20, 'Timed training steps per configuration.')
  app.run(main)
