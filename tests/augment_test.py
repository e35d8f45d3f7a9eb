"""On-device augmentation: rotation, colour jitter, erasing, their wiring."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_jax import augment
from mixer_jax import config_lib

SIZE = 32
ALL_ON = dict(rotate_degrees=15.0, brightness=0.1, contrast=0.1,
              saturation=0.1, hue=0.02, erase_prob=0.5)
ALL_OFF = {field: 0.0 for field in ALL_ON}


def random_images(n, seed=0, size=SIZE, low=0):
  return np.random.default_rng(seed).integers(low, 256, (n, size, size, 3),
                                              dtype=np.uint8)


def example_keys(n, seed=0):
  """Per-example keys as the train step makes them: folded from one key."""
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
      jax.random.PRNGKey(seed), jnp.arange(n))


rotate = jax.jit(augment.rotate)


def augment_config(**fields):
  config = config_lib.get_config().augment
  config.update(fields)
  return config


# Rotation.


@pytest.mark.parametrize('dtype', (np.uint8, np.float32))
def test_rotate_by_zero_is_the_identity(dtype):
  image = random_images(1, size=31)[0].astype(dtype)
  out = rotate(image, 0.0)
  assert out.dtype == dtype and out.shape == image.shape
  np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize('size', (SIZE, 31))
@pytest.mark.parametrize('degrees,turns', ((90, 1), (180, 2), (270, 3),
                                           (-90, -1)))
def test_quarter_turns_are_exact_and_counter_clockwise(size, degrees, turns):
  image = random_images(1, size=size)[0]
  # np.rot90 turns counter-clockwise as displayed (rows down), like torchvision.
  np.testing.assert_array_equal(rotate(image, float(degrees)),
                                np.rot90(image, turns))


def test_rotate_fills_with_zero_and_only_moves_pixels():
  image = random_images(1, low=1)[0].astype(np.float32) / 7  # No zeros.
  out = np.asarray(rotate(image, 45.0))
  assert out.dtype == np.float32
  for corner in (out[0, 0], out[0, -1], out[-1, 0], out[-1, -1]):
    np.testing.assert_array_equal(corner, 0)
  assert (out != 0).any(axis=-1).mean() > 0.5
  # Nearest neighbour: every pixel is an input pixel, unchanged, or the fill.
  kept = out[(out != 0).all(axis=-1)]
  assert set(map(tuple, kept)) <= set(map(tuple, image.reshape(-1, 3)))


# Colour jitter.


@pytest.mark.parametrize('op', (augment.adjust_brightness,
                                augment.adjust_contrast,
                                augment.adjust_saturation))
def test_a_factor_of_one_is_the_identity(op):
  image = random_images(1)[0].astype(np.float32)
  out = op(image, 1.0)
  assert out.dtype == np.float32 and out.shape == image.shape
  np.testing.assert_array_equal(out, image)


def test_a_hue_shift_of_zero_is_the_identity_up_to_rounding():
  image = random_images(1)[0].astype(np.float32)
  out = np.asarray(augment.adjust_hue(image, 0.0))
  assert out.dtype == np.float32 and out.shape == image.shape
  np.testing.assert_allclose(out, image, atol=1e-3)
  np.testing.assert_array_equal(np.round(out), image)


@pytest.mark.parametrize('dtype', (np.uint8, np.float32))
def test_jitter_of_zero_strength_is_the_identity(dtype):
  image = random_images(1)[0].astype(dtype)
  out = augment.color_jitter(jax.random.PRNGKey(0), image)
  assert out.dtype == dtype
  np.testing.assert_array_equal(out, image)


def test_brightness_multiplies_and_clips():
  image = np.array([[[100.0, 20.0, 200.0]]], np.float32)
  np.testing.assert_allclose(augment.adjust_brightness(image, 1.5),
                             [[[150.0, 30.0, 255.0]]], rtol=1e-6)


def test_contrast_and_saturation_blend_towards_grey():
  image = np.array([[[200.0, 100.0, 0.0], [0.0, 0.0, 100.0]]], np.float32)
  grey = np.array([0.299 * 200 + 0.587 * 100, 0.114 * 100])
  np.testing.assert_allclose(augment.adjust_saturation(image, 0.0),
                             np.broadcast_to(grey[None, :, None], (1, 2, 3)),
                             rtol=1e-6)
  np.testing.assert_allclose(augment.adjust_contrast(image, 0.0),
                             np.full((1, 2, 3), grey.mean()), rtol=1e-6)
  np.testing.assert_allclose(augment.adjust_contrast(image, 0.5),
                             0.5 * image + 0.5 * grey.mean(), rtol=1e-6)


@pytest.mark.parametrize('shift,expected', ((1 / 3, (0, 255, 0)),
                                            (2 / 3, (0, 0, 255)),
                                            (-1 / 6, (255, 0, 255)),
                                            (1 / 12, (255, 127.5, 0))))
def test_hue_turns_red_towards_green(shift, expected):
  red = np.array([[[255.0, 0.0, 0.0]]], np.float32)
  np.testing.assert_allclose(augment.adjust_hue(red, shift), [[expected]],
                             atol=1e-3)


def test_a_half_turn_of_hue_twice_returns_the_input():
  image = random_images(1)[0].astype(np.float32)
  half = augment.adjust_hue(image, 0.5)
  assert np.abs(np.asarray(half) - image).max() > 50
  np.testing.assert_allclose(augment.adjust_hue(half, 0.5), image, atol=1e-3)


def test_grey_is_unchanged_by_saturation_and_hue():
  grey = np.repeat(random_images(1)[0][..., :1], 3, axis=-1).astype(np.float32)
  for factor in (0.0, 0.7, 1.3):
    # Exact but for the float rounding of the luma weights' sum.
    out = np.asarray(augment.adjust_saturation(grey, factor))
    np.testing.assert_allclose(out, grey, atol=1e-3)
    np.testing.assert_array_equal(np.round(out), grey)
  for shift in (-0.5, -0.02, 0.3):
    np.testing.assert_array_equal(augment.adjust_hue(grey, shift), grey)


def test_jitter_draws_factors_in_range_and_keeps_uint8():
  image = np.full((4, 4, 3), 100, np.uint8)
  jitter = jax.jit(jax.vmap(lambda key: augment.color_jitter(
      key, image, brightness=0.2)))
  out = np.asarray(jitter(jax.random.split(jax.random.PRNGKey(0), 64)))
  assert out.dtype == np.uint8 and out.shape == (64, 4, 4, 3)
  assert (out == out[:, :1, :1]).all()  # One factor per image.
  assert out.min() >= 80 and out.max() <= 120
  assert out.min() < 85 and out.max() > 115 and len(np.unique(out)) > 20


def test_uint8_jitter_is_the_float_jitter_rounded_once():
  images = random_images(4)
  strengths = dict(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)

  @jax.jit
  @jax.vmap
  def jitter(key, image):
    return (augment.color_jitter(key, image, **strengths),
            augment.color_jitter(key, image.astype(jnp.float32), **strengths))

  whole, exact = jitter(jax.random.split(jax.random.PRNGKey(1), 4), images)
  assert whole.dtype == np.uint8 and exact.dtype == np.float32
  assert np.abs(np.asarray(exact) - images).max() > 10
  np.testing.assert_array_equal(whole, np.round(exact))


# Erasing.


def test_erase_with_probability_zero_is_the_identity():
  images = np.ones((2, 8, 8, 3), np.float32)
  assert augment.erase(example_keys(2), images, augment_config()) is images


def test_an_erased_box_is_a_rectangle_of_the_drawn_area():
  area, ratio = (0.02, 0.33), (0.3, 3.3)
  n = 64
  images = random_images(n, low=1)  # No zeros.
  out = np.asarray(jax.jit(jax.vmap(
      lambda key, image: augment.erase_box(key, image, area, ratio)))(
          jax.random.split(jax.random.PRNGKey(0), n), images))
  assert out.dtype == np.uint8 and out.shape == images.shape
  sides = set()
  for erased in out == 0:
    assert (erased == erased[..., :1]).all()  # All channels alike.
    rows, cols = np.nonzero(erased[..., 0])
    assert rows.size  # Ten tries all failing is vanishingly rare.
    h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert rows.size == h * w  # The bounding box is all zero: a rectangle.
    assert h < SIZE and w < SIZE
    # h, w are sqrt(A r), sqrt(A / r) rounded, each off by at most 1 / 2, so
    # |h w - A| <= (sqrt(A r) + sqrt(A / r)) / 2 + 1 / 4 <= (h + w) / 2 + 3 / 4
    # (at most 31.75 pixels of the 1024 here).
    slack = (h + w) / 2 + 0.75
    assert area[0] * SIZE**2 - slack <= h * w <= area[1] * SIZE**2 + slack
    sides.add((h, w))
  assert len(sides) > n // 2


def test_a_box_as_tall_or_wide_as_the_image_is_never_erased():
  image = np.ones((8, 8, 3), np.float32)
  # Every candidate is 8 x 8 (or 4 x 16, 16 x 4): torchvision wants h < H and
  # w < W, so it gives up.
  for ratio in ((1, 1), (4, 4), (0.25, 0.25)):
    out = augment.erase_box(jax.random.PRNGKey(0), image, (1, 1), ratio)
    np.testing.assert_array_equal(out, image)


def test_about_erase_prob_of_the_images_are_erased():
  n, p = 2000, 0.1
  config = augment_config(erase_prob=p)
  images = np.ones((n, 16, 16, 1), np.float32)
  out = np.asarray(jax.jit(lambda keys, images: augment.erase(
      keys, images, config))(example_keys(n), images))
  erased = (out == 0).any(axis=(1, 2, 3)).sum()
  # Binomial(2000, 0.1): mean 200, standard deviation 13.4; allow 5 of them.
  assert abs(erased - n * p) <= 5 * np.sqrt(n * p * (1 - p))


# The wiring into the train step.


def test_per_example_with_new_fields_off_is_crop_and_flip_as_before():
  n = 8
  keys, images = example_keys(n), random_images(n)
  config = augment_config(**ALL_OFF)
  crop_keys = jax.vmap(jax.random.split)(keys)[:, 0]
  expected = jax.vmap(augment._crop_and_flip, in_axes=(0, 0, None, None))(  # pylint: disable=protected-access
      crop_keys, images, config.crop_padding, config.flip)
  out = augment.per_example(keys, images, config)
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out, expected)


def test_rotation_and_jitter_are_each_applied_by_per_example():
  n = 4
  keys = example_keys(n)
  alone = dict(crop_padding=0, flip=False)
  rotation = augment_config(rotate_degrees=45.0, **alone)
  brightness = augment_config(brightness=0.5, **alone)
  images = np.full((n, 8, 8, 3), 100, np.uint8)

  @jax.jit
  def per_example(keys, images):
    return (augment.per_example(keys, images, rotation),
            augment.per_example(keys, images, brightness))

  rotated, brightened = map(np.asarray, per_example(keys, images))
  assert set(np.unique(rotated)) == {0, 100}  # Moved and filled, no more.
  assert (rotated == 0).any(axis=(1, 2, 3)).all()
  assert (brightened == brightened[:, :1, :1]).all()  # One factor an image.
  assert len(np.unique(brightened)) == n
  assert brightened.min() >= 50 and brightened.max() <= 150


@pytest.fixture(scope='module')
def all_on():
  """per_example and erase, jitted, with every op on; 8 images, 32 x 32."""
  config = augment_config(**ALL_ON)

  @jax.jit
  def train_augment(keys, images):
    images = augment.per_example(keys, images, config)
    normalised = augment.normalize(images, 0.5, 0.25)
    return images, augment.erase(keys, normalised, config)

  return train_augment


def test_all_ops_run_jitted(all_on):
  n = 8
  keys, images = example_keys(n), random_images(n)
  augmented, erased = all_on(keys, images)
  assert augmented.dtype == np.uint8 and augmented.shape == images.shape
  assert erased.dtype == np.float32 and erased.shape == images.shape
  # Crop and flip alone move pixels; the jitter also changes their values.
  cropped = augment.per_example(keys, images, augment_config(**ALL_OFF))
  changed = np.asarray(augmented) != np.asarray(cropped)
  assert changed.any(axis=(1, 2, 3)).all()
  assert (np.asarray(erased) == 0).all(axis=-1).any(axis=(1, 2)).sum() >= 1


def test_an_example_is_augmented_by_its_key_alone(all_on):
  n = 8
  keys, images = example_keys(n), random_images(n)
  augmented, erased = all_on(keys, images)
  order = np.random.default_rng(0).permutation(n)
  shuffled, shuffled_erased = all_on(keys[order], images[order])
  np.testing.assert_array_equal(shuffled, np.asarray(augmented)[order])
  np.testing.assert_array_equal(shuffled_erased, np.asarray(erased)[order])
