"""MLP-Mixer with optional locality blocks.

Module and parameter names follow google-research/vision_transformer
(`vit_jax/models_mixer.py`) so that its published checkpoints load into
`MlpMixer` unchanged. A locality block (one module per type, `LOCALITY_BLOCKS`)
works on the (H/p, W/p, C) patch grid and keeps its shape. What it is comes
from `config.model.locality`, where it goes from `config.model.locality_at`:
between the patch embedding and the Mixer blocks (parameters under
`locality_stem/`), after every K-th Mixer block (under
`locality_after_MixerBlock_{i}/`) and inside every Mixer block (under
`MixerBlock_{i}/token_conv/`).
"""

import dataclasses
from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_jax import config_lib
from mixer_jax import depthwise
from mixer_jax import mixed_precision

LAYER_NORM_EPSILON = 1e-6


def gelu(x):
  return nn.gelu(x, approximate=True)


# The functions of config_lib.LOCALITY_ACTIVATIONS.
_ACTIVATIONS = {'none': None, 'gelu': gelu, 'relu': nn.relu}


def kernel_init(initialisers):
  """`initialisers` (config_lib.INITIALISERS): 'flax' is vit_jax's
  (lecun-normal kernels, zero biases, a zero head); 'pytorch' is torch.nn's
  defaults, as the seed notebook trained (kernels and biases uniform in
  +-1/sqrt(fan_in), the head's too)."""
  if initialisers not in config_lib.INITIALISERS:
    raise ValueError(f'Unknown initialisers {initialisers!r}; use one of '
                     f'{config_lib.INITIALISERS}.')
  if initialisers == 'pytorch':  # kaiming_uniform(a=sqrt(5)): var 1/(3 fan_in)
    return nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')
  return nn.initializers.lecun_normal()


def bias_init(initialisers, fan_in):
  """The bias initialiser of a layer whose kernel has `fan_in` inputs."""
  if initialisers == 'pytorch':
    bound = fan_in ** -0.5
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound)
  return nn.initializers.zeros


class MlpBlock(nn.Module):
  """Dense -> GELU -> Dense over the last axis.

  `dtype`, here and in the other modules, is the input dtype of the matrix
  products; they accumulate in float32, and everything else is float32
  (`mixed_precision`).
  """
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  initialisers: str = 'flax'

  def _dense(self, features, fan_in):
    return nn.Dense(features, dot_general=mixed_precision.dot_general(
        self.dtype), kernel_init=kernel_init(self.initialisers),
                    bias_init=bias_init(self.initialisers, fan_in))

  @nn.compact
  def __call__(self, x, *, deterministic=True):
    y = self._dense(self.mlp_dim, x.shape[-1])(x)
    y = gelu(y)
    y = nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)
    y = self._dense(x.shape[-1], self.mlp_dim)(y)
    return nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)


class MixerBlock(nn.Module):
  """Token mixing then channel mixing, each pre-norm and residual.

  `locality`, a `config.model.locality` mapping, first adds that block on the
  (H, W) token grid, locality inside every Mixer block (as in ConvMixer, and
  the depthwise convs of LocalViT and CeiT); its parameters are `token_conv`.
  """
  tokens_mlp_dim: int
  channels_mlp_dim: int
  dropout_rate: float = 0.0
  drop_path_rate: float = 0.0
  locality: Optional[Mapping[str, Any]] = None
  batch_norm_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  initialisers: str = 'flax'

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
  def __call__(self, x, *, train=False, grid=None, mask=None):
    """x: [N, tokens, C]; `grid`: the tokens' (H, W), for `locality`."""
    if self.locality is not None:
      n, _, c = x.shape
      block = locality_block(
          self.locality, 'token_conv', batch_norm_axis_name=(
              self.batch_norm_axis_name), dtype=self.dtype,
          initialisers=self.initialisers)
      x = block(x.reshape(n, *grid, c), train=train, mask=mask).reshape(
          x.shape)
    y = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON)(x)
    y = jnp.swapaxes(y, 1, 2)
    y = MlpBlock(self.tokens_mlp_dim, self.dropout_rate, self.dtype,
                 self.initialisers, name='token_mixing')(
                     y, deterministic=not train)
    y = jnp.swapaxes(y, 1, 2)
    x = x + self._drop_path(y, train)
    y = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON)(x)
    y = MlpBlock(self.channels_mlp_dim, self.dropout_rate, self.dtype,
                 self.initialisers, name='channel_mixing')(
                     y, deterministic=not train)
    return x + self._drop_path(y, train)


class BatchNorm(nn.Module):
  """BatchNorm over all axes but the last, exact over a masked global batch.

  flax's `nn.BatchNorm` averages per-device means over `axis_name`, which is
  wrong when devices hold different numbers of real examples (a padded last
  batch) and NaN on a device that holds none. Here sums and counts are
  reduced instead. Parameter and statistic names are flax's (`scale`, `bias`;
  `batch_stats/{mean, var}`); the running variance is updated with the
  unbiased batch variance, as PyTorch's BatchNorm does.
  """
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, *, train, mask=None):
    features = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (features,))
    bias = self.param('bias', nn.initializers.zeros, (features,))
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros,
                                 (features,))
    running_var = self.variable('batch_stats', 'var', jnp.ones, (features,))
    x32 = x.astype(jnp.float32)
    if train:
      weight = jnp.ones(x.shape[:1]) if mask is None else mask
      weight = jnp.broadcast_to(
          weight.astype(jnp.float32).reshape((-1,) + (1,) * (x.ndim - 1)),
          x.shape[:-1] + (1,))
      axes = tuple(range(x.ndim - 1))
      total = lambda v: v if self.axis_name is None else jax.lax.psum(
          v, self.axis_name)
      count = total(jnp.sum(weight))
      mean = total(jnp.sum(x32 * weight, axes)) / count
      var = total(jnp.sum(jnp.square(x32 - mean) * weight, axes)) / count
      if not self.is_initializing():
        unbiased = var * count / jnp.maximum(count - 1, 1)
        running_mean.value = (self.momentum * running_mean.value +
                              (1 - self.momentum) * mean)
        running_var.value = (self.momentum * running_var.value +
                             (1 - self.momentum) * unbiased)
    else:
      mean, var = running_mean.value, running_var.value
    return (x32 - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias


class PointwiseBlock(nn.Module):
  """A 1 x 1 conv, then norm and activation (both off by default).

  Every token on its own: the dwsep block without its locality, a control.
  """
  norm: str = 'none'
  activation: str = 'none'
  residual: bool = False
  use_bias: bool = True
  batch_norm_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  initialisers: str = 'flax'

  def _pointwise(self, y):
    channels = y.shape[-1]
    return nn.Conv(channels, (1, 1), use_bias=self.use_bias,
                   conv_general_dilated=mixed_precision.conv_general_dilated(
                       self.dtype), kernel_init=kernel_init(self.initialisers),
                   bias_init=bias_init(self.initialisers, channels),
                   name='pointwise')(y)

  def _norm_and_activation(self, y, train, mask):
    if self.norm == 'layernorm':
      y = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, name='norm')(y)
    elif self.norm == 'batchnorm':
      y = BatchNorm(axis_name=self.batch_norm_axis_name, name='norm')(
          y, train=train, mask=mask)
    activation = _ACTIVATIONS[self.activation]
    return y if activation is None else activation(y)

  @nn.compact
  def __call__(self, x, *, train=False, mask=None):
    y = self._norm_and_activation(self._pointwise(x), train, mask)
    return x + y if self.residual else y


class DwSepBlock(PointwiseBlock):
  """A k x k depthwise conv, then the pointwise block's 1 x 1 conv.

  Norm and activation go between the two convs or after both, as
  `placement` says; the seed notebook's block is placement 'after',
  batchnorm, gelu, no conv biases.
  """
  kernel_size: int = 3
  placement: str = 'between'

  @nn.compact
  def __call__(self, x, *, train=False, mask=None):
    # Multiply-adds, not a matrix product: float32 (see depthwise).
    k = self.kernel_size
    y = depthwise.DepthwiseConv(
        k, use_bias=self.use_bias, kernel_init=kernel_init(self.initialisers),
        bias_init=bias_init(self.initialisers, k * k), name='depthwise')(x)
    if self.placement == 'between':
      y = self._norm_and_activation(y, train, mask)
    y = self._pointwise(y)
    if self.placement == 'after':
      y = self._norm_and_activation(y, train, mask)
    return x + y if self.residual else y


class DepthwiseBlock(nn.Module):
  """A k x k depthwise conv alone; residual, inside every Mixer block, it is
  ConvMixer's token conv."""
  kernel_size: int = 3
  residual: bool = False
  use_bias: bool = True
  initialisers: str = 'flax'

  @nn.compact
  def __call__(self, x, *, train=False, mask=None):
    del train, mask  # Neither norm nor dropout.
    k = self.kernel_size
    conv = depthwise.DepthwiseConv(
        k, use_bias=self.use_bias, kernel_init=kernel_init(self.initialisers),
        bias_init=bias_init(self.initialisers, k * k))
    # So that the parameters sit at `token_conv/kernel`, as they did when
    # the conv inside Mixer blocks was not a locality block.
    nn.share_scope(self, conv)
    y = conv(x)
    return x + y if self.residual else y


class AvgPoolBlock(nn.Module):
  """Parameter-free locality: k x k average pooling with stride 1."""
  kernel_size: int = 3
  residual: bool = False

  @nn.compact
  def __call__(self, x, *, train=False, mask=None):
    del train, mask
    k = self.kernel_size
    y = nn.avg_pool(x, (k, k), strides=(1, 1), padding='SAME',
                    count_include_pad=False)
    return x + y if self.residual else y


# The module of each type in config_lib.LOCALITY_FIELDS but 'none'.
LOCALITY_BLOCKS = {'dwsep': DwSepBlock, 'pointwise': PointwiseBlock,
                   'depthwise': DepthwiseBlock, 'avgpool': AvgPoolBlock}


def locality_block(locality, name, **mixer_settings):
  """The block that `locality` (config.model.locality) describes.

  It takes the config fields of its type (config_lib.LOCALITY_FIELDS) and
  those of the Mixer's `mixer_settings` (dtype, initialisers, BatchNorm's
  axis) that it has.
  """
  block = LOCALITY_BLOCKS[locality['type']]
  own_fields = {field.name for field in dataclasses.fields(block)}
  settings = {k: v for k, v in mixer_settings.items() if k in own_fields}
  return block(**settings, name=name, **{
      field: locality[field]
      for field in config_lib.LOCALITY_FIELDS[locality['type']]})


# Where a Mixer without locality blocks has them.
_NOWHERE = {'after_embedding': False, 'every_k_blocks': 0,
            'inside_blocks': False}


class MlpMixer(nn.Module):
  """MLP-Mixer, with the locality blocks that `locality` and `locality_at` say.

  `locality` is what a block is (`config.model.locality`: its type and that
  type's fields; type 'none', or None, is the plain Mixer), `locality_at`
  where the blocks go (`config.model.locality_at`): after the patch
  embedding (`after_embedding`, named `locality_stem`), after every
  `every_k_blocks`-th Mixer block (`locality_after_MixerBlock_{i}`, i the
  0-based index of the Mixer block before it) and inside every Mixer block,
  before its token mixing (`inside_blocks`, `MixerBlock_{i}/token_conv`).
  """
  patches: Any
  num_classes: int
  num_blocks: int
  hidden_dim: int
  tokens_mlp_dim: int
  channels_mlp_dim: int
  locality: Optional[Mapping[str, Any]] = None
  locality_at: Optional[Mapping[str, Any]] = None
  dropout_rate: float = 0.0
  stochastic_depth_rate: float = 0.0
  batch_norm_axis_name: Optional[str] = None
  dtype: Any = jnp.float32
  initialisers: str = 'flax'
  model_name: Optional[str] = None

  def _locality(self, x, name, train, mask):
    block = locality_block(
        self.locality, name, batch_norm_axis_name=self.batch_norm_axis_name,
        dtype=self.dtype, initialisers=self.initialisers)
    return block(x, train=train, mask=mask)

  @nn.compact
  def __call__(self, inputs, *, train, mask=None):
    """`mask` [N] marks the real examples of a padded batch (BatchNorm)."""
    has_locality = self.locality is not None and self.locality['type'] != 'none'
    at = self.locality_at if has_locality else _NOWHERE
    every = at['every_k_blocks']
    patch_size = tuple(self.patches['size'])
    x = nn.Conv(self.hidden_dim, patch_size, strides=patch_size,
                conv_general_dilated=mixed_precision.conv_general_dilated(
                    self.dtype), kernel_init=kernel_init(self.initialisers),
                bias_init=bias_init(self.initialisers, inputs.shape[-1] *
                                    patch_size[0] * patch_size[1]),
                name='stem')(inputs)
    if at['after_embedding']:
      x = self._locality(x, 'locality_stem', train, mask)
    n, h, w, c = x.shape
    x = jnp.reshape(x, (n, h * w, c))
    for i in range(self.num_blocks):
      # Stochastic depth grows linearly with depth: 0 at the first block.
      drop_path_rate = self.stochastic_depth_rate * i / max(
          self.num_blocks - 1, 1)
      x = MixerBlock(
          self.tokens_mlp_dim, self.channels_mlp_dim, self.dropout_rate,
          drop_path_rate,
          locality=self.locality if at['inside_blocks'] else None,
          batch_norm_axis_name=self.batch_norm_axis_name, dtype=self.dtype,
          initialisers=self.initialisers, name=f'MixerBlock_{i}')(
              x, train=train, grid=(h, w), mask=mask)
      if every and (i + 1) % every == 0:
        x = self._locality(x.reshape(n, h, w, c),
                           f'locality_after_MixerBlock_{i}', train,
                           mask).reshape(n, h * w, c)
    x = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON,
                     name='pre_head_layer_norm')(x)
    x = jnp.mean(x, axis=1)
    # Float32 products in the head, so that the logits keep full precision.
    head_init = (nn.initializers.zeros if self.initialisers == 'flax' else
                 kernel_init(self.initialisers))
    return nn.Dense(self.num_classes, kernel_init=head_init,
                    bias_init=bias_init(self.initialisers, c), name='head')(x)
