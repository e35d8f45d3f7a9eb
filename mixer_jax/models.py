"""MLP-Mixer with an optional locality stem.

Module and parameter names follow google-research/vision_transformer
(`vit_jax/models_mixer.py`) so that its published checkpoints load into
`MlpMixer` unchanged. The locality stem (`DepthwiseSeparableStem` or the
parameter-free `AvgPoolStem`) sits between the patch embedding and the Mixer
blocks, on the (H/p, W/p, C) patch grid, and keeps its shape; its parameters
live under `locality_stem/`.
"""

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

LAYER_NORM_EPSILON = 1e-6


def gelu(x):
  return nn.gelu(x, approximate=True)


STEM_ACTIVATIONS = {'none': None, 'gelu': gelu, 'relu': nn.relu}


class MlpBlock(nn.Module):
  """Dense -> GELU -> Dense over the last axis."""
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, deterministic=True):
    y = nn.Dense(self.mlp_dim, dtype=self.dtype)(x)
    y = gelu(y)
    y = nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)
    y = nn.Dense(x.shape[-1], dtype=self.dtype)(y)
    return nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)


class MixerBlock(nn.Module):
  """Token mixing then channel mixing, each pre-norm and residual."""
  tokens_mlp_dim: int
  channels_mlp_dim: int
  dropout_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: Any = jnp.float32

  def _drop_path(self, y, train):
    """Per-example stochastic depth: drops the whole residual branch."""
    if not train or self.drop_path_rate == 0.0:
      return y
    keep_prob = 1.0 - self.drop_path_rate
    keep = jax.random.bernoulli(self.make_rng('dropout'), keep_prob,
                                (y.shape[0],) + (1,) * (y.ndim - 1))
    # Rescaled so that evaluation needs no correction.
    return jnp.where(keep, y / keep_prob, jnp.zeros_like(y))

  @nn.compact
  def __call__(self, x, *, train=False):
    y = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype)(x)
    y = jnp.swapaxes(y, 1, 2)
    y = MlpBlock(self.tokens_mlp_dim, self.dropout_rate, self.dtype,
                 name='token_mixing')(y, deterministic=not train)
    y = jnp.swapaxes(y, 1, 2)
    x = x + self._drop_path(y, train)
    y = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype)(x)
    y = MlpBlock(self.channels_mlp_dim, self.dropout_rate, self.dtype,
                 name='channel_mixing')(y, deterministic=not train)
    return x + self._drop_path(y, train)


class DepthwiseSeparableStem(nn.Module):
  """k x k depthwise conv then 1 x 1 pointwise conv on the patch grid.

  Each token is mixed with its k x k neighbourhood only: the locality that the
  Mixer's global token MLPs lack. `activation` and `norm` (off by default) go
  between the two convs or after both, as `placement` says.
  """
  kernel_size: int = 3
  residual: bool = False
  activation: str = 'none'
  norm: str = 'none'
  placement: str = 'between'
  dtype: Any = jnp.float32

  def _activation_and_norm(self, y):
    if self.norm == 'layernorm':
      y = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype,
                       name='norm')(y)
    activation = STEM_ACTIVATIONS[self.activation]
    return y if activation is None else activation(y)

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    k = self.kernel_size
    y = nn.Conv(channels, (k, k), feature_group_count=channels,
                padding='SAME', dtype=self.dtype, name='depthwise')(x)
    if self.placement == 'between':
      y = self._activation_and_norm(y)
    y = nn.Conv(channels, (1, 1), dtype=self.dtype, name='pointwise')(y)
    if self.placement == 'after':
      y = self._activation_and_norm(y)
    return x + y if self.residual else y


class AvgPoolStem(nn.Module):
  """Parameter-free locality: k x k average pooling with stride 1."""
  kernel_size: int = 3
  residual: bool = False

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    y = nn.avg_pool(x, (k, k), strides=(1, 1), padding='SAME',
                    count_include_pad=False)
    return x + y if self.residual else y


class MlpMixer(nn.Module):
  """MLP-Mixer; `stem` switches on a locality stem (see `LOCALITY_STEMS`).

  `stem` is a mapping such as `config.model.stem`: {'type': 'dwsep',
  'kernel_size': 3, ...}. Type 'none' (or `stem=None`) is the plain Mixer.
  """
  patches: Any
  num_classes: int
  num_blocks: int
  hidden_dim: int
  tokens_mlp_dim: int
  channels_mlp_dim: int
  stem: Optional[Mapping[str, Any]] = None
  dropout_rate: float = 0.0
  stochastic_depth_rate: float = 0.0
  dtype: Any = jnp.float32
  model_name: Optional[str] = None

  def _locality_stem(self):
    options = dict(self.stem or {})
    stem_type = options.pop('type', 'none')
    if stem_type == 'none':
      return None
    if stem_type == 'dwsep':
      return DepthwiseSeparableStem(**options, dtype=self.dtype,
                                    name='locality_stem')
    if stem_type == 'avgpool':
      return AvgPoolStem(options['kernel_size'], options.get('residual', False),
                         name='locality_stem')
    raise ValueError(f'Unknown stem type {stem_type!r}; '
                     f'use one of {sorted(LOCALITY_STEMS)}.')

  @nn.compact
  def __call__(self, inputs, *, train):
    patch_size = tuple(self.patches['size'])
    x = nn.Conv(self.hidden_dim, patch_size, strides=patch_size,
                dtype=self.dtype, name='stem')(inputs)
    locality_stem = self._locality_stem()
    if locality_stem is not None:
      x = locality_stem(x)
    n, h, w, c = x.shape
    x = jnp.reshape(x, (n, h * w, c))
    for i in range(self.num_blocks):
      # Stochastic depth grows linearly with depth: 0 at the first block.
      drop_path_rate = self.stochastic_depth_rate * i / max(
          self.num_blocks - 1, 1)
      x = MixerBlock(self.tokens_mlp_dim, self.channels_mlp_dim,
                     self.dropout_rate, drop_path_rate, self.dtype)(
                         x, train=train)
    x = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype,
                     name='pre_head_layer_norm')(x)
    x = jnp.mean(x, axis=1)
    # The head runs in float32 so that the logits keep full precision.
    return nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros,
                    name='head')(x.astype(jnp.float32))


LOCALITY_STEMS = ('none', 'dwsep', 'avgpool')
