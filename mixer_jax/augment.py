"""Training augmentation on the device, inside the jitted step.

Every random choice for an example comes from a key folded from its position
in the global batch, so a batch is augmented identically whatever the number
of devices and hosts it is split over.
"""

import functools

import jax
import jax.numpy as jnp

from mixer_jax import randaugment

# Folded into an example's key to give each later augmentation its own stream.
# With partitionable threefry, `split(key)[i]` is `fold_in(key, i)`, so these
# are far from the small counters behind the crop, flip and RandAugment keys.
_ROTATE_STREAM = 0x726f74  # 'rot'
_JITTER_STREAM = 0x6a6974  # 'jit'
_ERASE_STREAM = 0x657261  # 'era'

# torchvision's RandomErasing gives up after this many boxes that do not fit.
_ERASE_TRIES = 10


def normalize(images, mean, std):
  """uint8 [..., H, W, C] -> float32, per-channel standardised."""
  images = images.astype(jnp.float32) / 255.0
  return (images - jnp.asarray(mean)) / jnp.asarray(std)


def resize(images, size):
  """Float [..., H, W, C] to [..., size, size, C], bilinear; unchanged when
  already that size."""
  if images.shape[-3:-1] == (size, size):
    return images
  return jax.image.resize(images, images.shape[:-3] + (size, size,
                                                       images.shape[-1]),
                          'bilinear')


def _fold(keys, stream):
  return jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, stream)


def _crop_and_flip(key, image, padding, flip):
  height, width, _ = image.shape
  crop_key, flip_key = jax.random.split(key)
  if padding:
    padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    top, left = jax.random.randint(crop_key, (2,), 0, 2 * padding + 1)
    image = jax.lax.dynamic_slice(padded, (top, left, 0),
                                  (height, width, image.shape[-1]))
  if flip:
    image = jnp.where(jax.random.bernoulli(flip_key), image[:, ::-1], image)
  return image


def rotate(image, degrees):
  """Rotates [H, W, C] about its centre, counter-clockwise for degrees > 0.

  As torchvision's `RandomRotation` by default: nearest neighbour, 0 where the
  source lies outside the image. Pixels are only moved, so the dtype is kept.
  """
  # randaugment's rotation fills with grey; a channel of zeros rotated along
  # with the image marks where that fill landed, so any value stays exact.
  marked = jnp.concatenate(
      [image, jnp.zeros_like(image[..., :1])], axis=-1).astype(jnp.float32)
  rotated = randaugment._rotate(marked, degrees)  # pylint: disable=protected-access
  outside = rotated[..., -1:] != 0
  return jnp.where(outside, 0, rotated[..., :-1]).astype(image.dtype)


def _random_rotation(key, image, max_degrees):
  return rotate(image, jax.random.uniform(key, (), minval=-max_degrees,
                                          maxval=max_degrees))


def _blend(image, degenerate, factor):
  # In this form a factor of exactly 1 returns `image` bit for bit.
  return jnp.clip(factor * image + (1 - factor) * degenerate, 0, 255)


def adjust_brightness(image, factor):
  """Float [H, W, 3] in [0, 255], scaled by `factor` and clipped."""
  return _blend(image, 0.0, factor)


def adjust_contrast(image, factor):
  """Float [H, W, 3] in [0, 255], blended with its mean grey."""
  # Unrounded luma, as torchvision's float images.
  return _blend(image, randaugment.luma(image).mean(), factor)


def adjust_saturation(image, factor):
  """Float [H, W, 3] in [0, 255], blended with its grayscale."""
  return _blend(image, randaugment.luma(image), factor)


def adjust_hue(image, shift):
  """Float [H, W, 3] in [0, 255], its HSV hue turned by `shift` of the circle.

  Red turns towards green for shift > 0. A hue shift keeps HSV's value and
  saturation, i.e. each pixel's largest and smallest channel, so the result is
  built from those directly (the piecewise-linear HSV-to-RGB map) rather than
  by a full round trip; grey pixels, which have no chroma, stay exact.
  """
  red, green, blue = jnp.moveaxis(image, -1, 0)
  high, low = image.max(axis=-1), image.min(axis=-1)
  chroma = high - low
  safe_chroma = jnp.where(chroma > 0, chroma, 1.0)
  # The hue in sixths of the circle, in [0, 6): 0 red, 2 green, 4 blue.
  hue = jnp.where(
      high == red, jnp.mod((green - blue) / safe_chroma, 6),
      jnp.where(high == green, (blue - red) / safe_chroma + 2,
                (red - green) / safe_chroma + 4))
  hue = jnp.mod(hue + 6 * shift, 6)
  # A channel is at the max within one sixth of its own hue, at the min from
  # two sixths away, and linear in between.
  distance = jnp.mod(jnp.array([5.0, 3.0, 1.0]) + hue[..., None], 6)
  drop = jnp.clip(jnp.minimum(distance, 4 - distance), 0, 1)
  return high[..., None] - chroma[..., None] * drop


def _factor(key, strength):
  return jax.random.uniform(key, (), minval=max(0.0, 1 - strength),
                            maxval=1 + strength)


def color_jitter(key, image, brightness=0.0, contrast=0.0, saturation=0.0,
                 hue=0.0):
  """torchvision's `ColorJitter`: the ops that are on, in a random order.

  Args:
    key: PRNG key; draws each op's strength and the order of the ops.
    image: [H, W, 3] in [0, 255], uint8 or float.
    brightness: Python float; factor uniform in [max(0, 1 - b), 1 + b].
    contrast: Python float; factor uniform in [max(0, 1 - c), 1 + c].
    saturation: Python float; factor uniform in [max(0, 1 - s), 1 + s].
    hue: Python float in [0, 0.5]; shift uniform in [-hue, hue].

  Returns:
    `image` with the ops applied, in its dtype. The ops run in float32 with
    clipping after each (as torchvision's do on float images); integer images
    are rounded to the nearest whole number once, at the end. An op whose
    strength is 0 is left out; with all 0, `image` is returned as it is.
  """
  order_key, *op_keys = jax.random.split(key, 5)
  # Each op keeps its own key whichever others are on.
  ops = []
  if brightness:
    ops.append(functools.partial(adjust_brightness,
                                 factor=_factor(op_keys[0], brightness)))
  if contrast:
    ops.append(functools.partial(adjust_contrast,
                                 factor=_factor(op_keys[1], contrast)))
  if saturation:
    ops.append(functools.partial(adjust_saturation,
                                 factor=_factor(op_keys[2], saturation)))
  if hue:
    ops.append(functools.partial(adjust_hue, shift=jax.random.uniform(
        op_keys[3], (), minval=-hue, maxval=hue)))
  if not ops:
    return image
  jittered = image.astype(jnp.float32)
  for index in jax.random.permutation(order_key, len(ops)):
    jittered = jax.lax.switch(index, ops, jittered)
  if jnp.issubdtype(image.dtype, jnp.integer):
    jittered = jnp.round(jittered)
  return jittered.astype(image.dtype)


def per_example(keys, images, config):
  """uint8 images, one key each: crop, flip, rotation, jitter, RandAugment.

  Each runs only if it is on in `config` (`config.augment`), in that order.
  Rotation and jitter draw from keys folded from each example's key, so the
  crop, flip and RandAugment of a key are the same whether they are on or not.
  Jittered images are rounded back to uint8 (see `color_jitter`).
  """
  split_keys = jax.vmap(jax.random.split)(keys)
  images = jax.vmap(_crop_and_flip, in_axes=(0, 0, None, None))(
      split_keys[:, 0], images, config.crop_padding, config.flip)
  if config.rotate_degrees:
    images = jax.vmap(_random_rotation, in_axes=(0, 0, None))(
        _fold(keys, _ROTATE_STREAM), images, config.rotate_degrees)
  if config.brightness or config.contrast or config.saturation or config.hue:
    images = jax.vmap(color_jitter, in_axes=(0, 0) + (None,) * 4)(
        _fold(keys, _JITTER_STREAM), images, config.brightness,
        config.contrast, config.saturation, config.hue)
  if config.randaugment_layers:
    images = jax.vmap(randaugment.randaugment, in_axes=(0, 0, None, None))(
        split_keys[:, 1], images, config.randaugment_layers,
        config.randaugment_magnitude)
  return images


def erase_box(key, image, area, ratio):
  """Zeroes a random box of [H, W, C], as torchvision's `RandomErasing` does.

  Of `_ERASE_TRIES` candidates, the first with h < H and w < W is zeroed, at a
  uniformly drawn place where it fits; if none fits the image is unchanged.

  Args:
    key: PRNG key.
    image: [H, W, C], any dtype.
    area: (lo, hi); the box's target area is uniform in [lo, hi] * H * W.
    ratio: (lo, hi); its aspect ratio h / w is log-uniform in [lo, hi].

  Returns:
    `image` with the box set to 0; h and w are the target's sides, rounded.
  """
  height, width = image.shape[:2]
  area_key, ratio_key, top_key, left_key = jax.random.split(key, 4)
  areas = height * width * jax.random.uniform(
      area_key, (_ERASE_TRIES,), minval=area[0], maxval=area[1])
  ratios = jnp.exp(jax.random.uniform(
      ratio_key, (_ERASE_TRIES,), minval=jnp.log(ratio[0]),
      maxval=jnp.log(ratio[1])))
  box_h = jnp.round(jnp.sqrt(areas * ratios)).astype(jnp.int32)
  box_w = jnp.round(jnp.sqrt(areas / ratios)).astype(jnp.int32)
  fits = (box_h < height) & (box_w < width)
  first = jnp.argmax(fits)
  box_h = jnp.where(fits[first], box_h[first], 0)  # 0: nothing fits.
  box_w = box_w[first]
  top = jax.random.randint(top_key, (), 0, height - box_h + 1)
  left = jax.random.randint(left_key, (), 0, width - box_w + 1)
  rows, cols = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
  inside = ((rows >= top) & (rows < top + box_h) &
            (cols >= left) & (cols < left + box_w))
  return jnp.where(inside[..., None], 0, image)


def erase(keys, images, config):
  """Random erasing of normalised images, after `per_example` and `normalize`.

  Args:
    keys: the same per-example keys as given to `per_example`, [N, 2] uint32
      or typed [N]; a constant is folded into each, so erasing draws
      independently of the other augmentations.
    images: float [N, H, W, C], normalised, so the 0 they are erased to is the
      mean colour.
    config: `config.augment`; each image is erased with probability
      `erase_prob` (0: `images` returned as they are), see `erase_box` for
      `erase_area` and `erase_ratio`.

  Returns:
    [N, H, W, C] like `images`.
  """
  if not config.erase_prob:
    return images

  def erase_one(key, image):
    apply_key, box_key = jax.random.split(key)
    erased = erase_box(box_key, image, config.erase_area, config.erase_ratio)
    return jnp.where(jax.random.bernoulli(apply_key, config.erase_prob),
                     erased, image)

  return jax.vmap(erase_one)(_fold(keys, _ERASE_STREAM), images)


def mix(key, images, targets, mixup_alpha, cutmix_alpha):
  """Mixup or CutMix (each half the time when both are on) within the batch.

  Each example is mixed with its mirror in the batch; `targets` are soft
  labels, mixed in the same proportion as the pixels.
  """
  if not mixup_alpha and not cutmix_alpha:
    return images, targets
  choice_key, mixup_key, cutmix_key, box_key = jax.random.split(key, 4)
  partner_images, partner_targets = images[::-1], targets[::-1]

  def mixup():
    ratio = jax.random.beta(mixup_key, mixup_alpha, mixup_alpha)
    return ratio * images + (1 - ratio) * partner_images, ratio

  def cutmix():
    ratio = jax.random.beta(cutmix_key, cutmix_alpha, cutmix_alpha)
    height, width = images.shape[1:3]
    cut_h = jnp.round(height * jnp.sqrt(1 - ratio)).astype(jnp.int32)
    cut_w = jnp.round(width * jnp.sqrt(1 - ratio)).astype(jnp.int32)
    center_y, center_x = jax.random.randint(box_key, (2,), 0,
                                            jnp.array([height, width]))
    rows, cols = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
    inside = ((jnp.abs(rows - center_y) * 2 < cut_h) &
              (jnp.abs(cols - center_x) * 2 < cut_w))
    mixed = jnp.where(inside[None, :, :, None], partner_images, images)
    return mixed, 1.0 - inside.mean()  # The area actually kept.

  if mixup_alpha and cutmix_alpha:
    (mixup_images, mixup_ratio), (cutmix_images, cutmix_ratio) = (mixup(),
                                                                  cutmix())
    use_mixup = jax.random.bernoulli(choice_key)
    mixed = jnp.where(use_mixup, mixup_images, cutmix_images)
    ratio = jnp.where(use_mixup, mixup_ratio, cutmix_ratio)
  else:
    mixed, ratio = mixup() if mixup_alpha else cutmix()
  return mixed, ratio * targets + (1 - ratio) * partner_targets
