"""Analytic FLOP counts: multiply-adds of every dense and conv layer, x2.

Elementwise work (norms, GELU, average pooling, the optimizer) is left out,
as is usual for model FLOP utilisation; XLA's cost analysis, which counts it,
cross-checks.
"""


def forward_flops(model, image_size, num_classes):
  """FLOPs of one forward pass for one image; `model` is `config.model`."""
  patch_h, patch_w = model.patches.size
  grid_h, grid_w = image_size // patch_h, image_size // patch_w
  tokens, channels = grid_h * grid_w, model.hidden_dim
  macs = tokens * patch_h * patch_w * 3 * channels  # Patch embedding.
  macs += num_locality_blocks(model) * tokens * _locality_macs_per_token(
      model.locality, channels)
  per_block = (channels * 2 * tokens * model.tokens_mlp_dim +
               tokens * 2 * channels * model.channels_mlp_dim)
  macs += model.num_blocks * per_block + channels * num_classes
  return 2 * macs


def _locality_macs_per_token(locality, channels):
  depthwise = locality.kernel_size**2 * channels
  pointwise = channels**2
  return {'dwsep': depthwise + pointwise, 'depthwise': depthwise,
          'pointwise': pointwise}.get(locality.type, 0)


def num_locality_blocks(model):
  """How many locality blocks with parameters the model has."""
  if model.locality.type in ('none', 'avgpool'):
    return 0
  at = model.locality_at
  return (int(at.after_embedding) +
          (model.num_blocks // at.every_k_blocks if at.every_k_blocks else 0) +
          (model.num_blocks if at.inside_blocks else 0))


def train_flops(model, image_size, num_classes):
  """Forward plus backward (about twice the forward) for one image."""
  return 3 * forward_flops(model, image_size, num_classes)
