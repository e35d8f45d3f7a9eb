"""Analytic FLOP counts: multiply-adds of every dense and conv layer, x2.

Elementwise work (norms, GELU, the optimizer) is left out, as is usual for
model FLOP utilisation; XLA's cost analysis, which counts it, cross-checks.
"""


def forward_flops(model, image_size, num_classes):
  """FLOPs of one forward pass for one image; `model` is `config.model`."""
  patch_h, patch_w = model.patches.size
  grid_h, grid_w = image_size // patch_h, image_size // patch_w
  tokens, channels = grid_h * grid_w, model.hidden_dim
  macs = tokens * patch_h * patch_w * 3 * channels  # Patch embedding.
  macs += num_locality_blocks(model) * tokens * (
      channels**2 + (model.stem.kernel_size**2 * channels
                     if model.stem.type == 'dwsep' else 0))
  per_block = (channels * 2 * tokens * model.tokens_mlp_dim +
               tokens * 2 * channels * model.channels_mlp_dim +
               tokens * channels * model.get('token_conv_kernel_size', 0)**2)
  macs += model.num_blocks * per_block + channels * num_classes
  return 2 * macs


def num_locality_blocks(model):
  stem = model.stem
  if stem.type not in ('dwsep', 'pointwise'):
    return 0
  every = stem.get('interleave_every', 0)
  return (int(stem.get('after_embedding', True)) +
          (model.num_blocks // every if every else 0))


def train_flops(model, image_size, num_classes):
  """Forward plus backward (about twice the forward) for one image."""
  return 3 * forward_flops(model, image_size, num_classes)
