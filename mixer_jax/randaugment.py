"""RandAugment (Cubuk et al., 2019) in pure JAX, for the jitted train step.

The op for each layer is picked with `jax.lax.switch` on a random index, so a
batch is augmented on the device under `vmap`, with no host work and no Python
control flow on traced values.

Every op in `OPS` is `fn(image, m)`: `image` is float32 [H, W, C] holding whole
numbers in [0, 255] (float, so that every branch of the switch has one dtype
and the blends need no casts), `m` a signed magnitude in [-10, 10]. Each op
returns whole numbers in [0, 255] again, i.e. it quantises like PIL does after
every op. Ops without a direction ignore the sign of `m`. Magnitudes map to op
arguments as in timm's `rand-m*` policy, in its increasing form, so a larger
magnitude is always a stronger op and 0 leaves the image as it is for all ops
but AutoContrast and Equalize, which have no magnitude:

  Rotate       3 * m degrees, counter-clockwise for m > 0 (30 at |m| = 10)
  Solarize     inverts pixels >= 256 - 25.6 * |m|
  Posterize    keeps the top 8 - int(0.4 * |m|) bits (4 at |m| = 10; timm's
               increasing form keeps 4 down to 0, so all black at 10)
  Color, Contrast, Brightness, Sharpness
               PIL ImageEnhance factor 1 + 0.09 * m, in [0.1, 1.9]
  ShearX/Y     shear 0.03 * m (0.3 at |m| = 10)
  TranslateX/Y 0.045 * m of the side (0.45, i.e. 14.4 px of 32, at |m| = 10),
               to the right / down for m > 0

Unlike timm, every chosen op is applied (no per-op probability), as in the
paper.
"""

import jax
import jax.numpy as jnp

_FILL = 128.0  # Grey, for pixels that a geometric op brings in from outside.


def _affine(image, matrix):
  """Warps by an inverse map, nearest neighbour, like PIL's `Image.transform`.

  `matrix` is ((a, b, c), (d, e, f)): output pixel (x, y) is read from source
  (a x + b y + c, d x + e y + f). It is applied elementwise rather than as a
  matmul so that reduced-precision matmuls on accelerators cannot move pixels.
  """
  (a, b, c), (d, e, f) = matrix
  height, width, _ = image.shape
  y, x = jnp.indices((height, width)).astype(jnp.float32)
  src_x = jnp.floor(a * x + b * y + c + 0.5).astype(jnp.int32)
  src_y = jnp.floor(d * x + e * y + f + 0.5).astype(jnp.int32)
  inside = (src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)
  pixels = image[jnp.clip(src_y, 0, height - 1), jnp.clip(src_x, 0, width - 1)]
  return jnp.where(inside[..., None], pixels, _FILL)


def _rotate(image, degrees):
  """Rotates counter-clockwise about the centre, like PIL's `Image.rotate`."""
  height, width, _ = image.shape
  cx, cy = (width - 1) / 2, (height - 1) / 2
  theta = jnp.deg2rad(degrees)
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  return _affine(image, ((cos, -sin, cx - cos * cx + sin * cy),
                         (sin, cos, cy - sin * cx - cos * cy)))


def _translate(image, m, axis):
  """Shifts content by 0.045 * m of the side along `axis` (1: x, 0: y)."""
  shift = -0.045 * m * image.shape[1 - axis]
  return _affine(image, ((1, 0, shift * axis), (0, 1, shift * (1 - axis))))


def luma(image):
  """ITU-R 601 luma of [H, W, 3], [H, W, 1], unrounded."""
  return jnp.sum(image * jnp.array([0.299, 0.587, 0.114]), axis=-1,
                 keepdims=True)


def _gray(image):
  """Luma as PIL's `convert('L')` computes it, [H, W, 1]."""
  return jnp.round(luma(image))


def _blend(degenerate, image, m):
  """PIL's ImageEnhance: extrapolates from `degenerate` by 1 + 0.09 * m.

  A factor of 1 is the identity, so the sign of `m` decides between weakening
  (towards `degenerate`) and strengthening the property.
  """
  factor = 1 + 0.09 * m
  return jnp.clip(jnp.round(degenerate + factor * (image - degenerate)), 0,
                  255)


def _smooth(image):
  """PIL's SMOOTH filter (3x3, centre weight 5 of 13) on the interior.

  Border pixels are kept, as TF's RandAugment does, so Sharpness leaves them.
  """
  height, width, _ = image.shape
  total = sum(image[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1))
  total += 4 * image[1:-1, 1:-1]
  return image.at[1:-1, 1:-1].set(jnp.round(total / 13))


def _autocontrast(image, m):
  """Stretches each channel to span [0, 255]; constant channels are kept."""
  del m  # No magnitude.
  low, high = image.min(axis=(0, 1)), image.max(axis=(0, 1))
  stretched = jnp.round((image - low) * (255 / jnp.maximum(high - low, 1)))
  return jnp.where(high > low, stretched, image)


def _equalize_channel(channel):
  """PIL's `ImageOps.equalize` on one [H, W] channel."""
  channel = channel.astype(jnp.int32)
  hist = jnp.bincount(channel.ravel(), length=256)
  # PIL spreads all pixels but those of the top value over the 256 levels.
  step = (channel.size - hist[channel.max()]) // 255
  lut = (jnp.cumsum(hist) - hist + step // 2) // jnp.maximum(step, 1)
  equalized = jnp.where(step > 0, jnp.clip(lut, 0, 255)[channel], channel)
  return equalized.astype(jnp.float32)


def _posterize(image, m):
  """Zeroes the low int(0.4 * |m|) bits: none at 0, 4 at |m| = 10."""
  step = 2.0**jnp.floor(jnp.abs(m) * 4 / 10)
  return jnp.floor(image / step) * step


OPS = (
    ('Identity', lambda image, m: image),
    ('AutoContrast', _autocontrast),
    ('Equalize', lambda image, m: jax.vmap(_equalize_channel, -1, -1)(image)),
    ('Rotate', lambda image, m: _rotate(image, 3 * m)),
    ('Solarize', lambda image, m: jnp.where(
        image < 256 - 25.6 * jnp.abs(m), image, 255 - image)),
    ('Color', lambda image, m: _blend(_gray(image), image, m)),
    ('Posterize', _posterize),
    ('Contrast', lambda image, m: _blend(jnp.round(_gray(image).mean()),
                                         image, m)),
    ('Brightness', lambda image, m: _blend(0.0, image, m)),
    ('Sharpness', lambda image, m: _blend(_smooth(image), image, m)),
    ('ShearX', lambda image, m: _affine(image, ((1, 0.03 * m, 0), (0, 1, 0)))),
    ('ShearY', lambda image, m: _affine(image, ((1, 0, 0), (0.03 * m, 1, 0)))),
    ('TranslateX', lambda image, m: _translate(image, m, axis=1)),
    ('TranslateY', lambda image, m: _translate(image, m, axis=0)),
)


def randaugment(key, image, num_layers: int, magnitude: float):
  """Applies `num_layers` ops drawn uniformly from `OPS`, with replacement.

  Args:
    key: PRNG key; picks each layer's op and the sign of its magnitude.
    image: uint8 [H, W, C], C = 3.
    num_layers: Python int, the number of ops applied in sequence.
    magnitude: Python float in [0, 10], the strength of every op.

  Returns:
    uint8 [H, W, C].
  """
  image = image.astype(jnp.float32)
  branches = [fn for _, fn in OPS]
  for layer_key in jax.random.split(key, num_layers):
    op_key, sign_key = jax.random.split(layer_key)
    m = jnp.where(jax.random.bernoulli(sign_key), magnitude, -magnitude)
    image = jax.lax.switch(jax.random.randint(op_key, (), 0, len(OPS)),
                           branches, image, m)
  return image.astype(jnp.uint8)
