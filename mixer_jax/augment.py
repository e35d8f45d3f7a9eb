"""Training augmentation on the device, inside the jitted step.

Every random choice for an example comes from a key folded from its position
in the global batch, so a batch is augmented identically whatever the number
of devices and hosts it is split over.
"""

import jax
import jax.numpy as jnp

from mixer_jax import randaugment


def normalize(images, mean, std):
  """uint8 [..., H, W, C] -> float32, per-channel standardised."""
  images = images.astype(jnp.float32) / 255.0
  return (images - jnp.asarray(mean)) / jnp.asarray(std)


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


def per_example(keys, images, config):
  """uint8 images, one key each: crop and flip, then RandAugment if on."""
  keys = jax.vmap(jax.random.split)(keys)
  images = jax.vmap(_crop_and_flip, in_axes=(0, 0, None, None))(
      keys[:, 0], images, config.crop_padding, config.flip)
  if config.randaugment_layers:
    images = jax.vmap(randaugment.randaugment, in_axes=(0, 0, None, None))(
        keys[:, 1], images, config.randaugment_layers,
        config.randaugment_magnitude)
  return images


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
