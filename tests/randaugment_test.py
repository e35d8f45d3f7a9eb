"""RandAugment: each op's semantics, and the random, batched, jitted wrapper."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_jax import randaugment as ra

OPS = dict(ra.OPS)
NAMES = [name for name, _ in ra.OPS]
GEOMETRIC = ('Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY')
BLENDS = ('Color', 'Contrast', 'Brightness', 'Sharpness')
SIZE = 32


def random_image(seed=0, size=SIZE):
  return np.random.default_rng(seed).integers(0, 256, (size, size, 3),
                                              dtype=np.uint8)


def apply(name, image, m):
  out = jax.jit(OPS[name])(jnp.asarray(image, jnp.float32), m)
  assert out.dtype == jnp.float32 and out.shape == image.shape
  return np.asarray(out)


@functools.partial(jax.jit, static_argnums=(2, 3))
def batched(keys, images, num_layers, magnitude):
  return jax.vmap(ra.randaugment, in_axes=(0, 0, None, None))(
      keys, images, num_layers, magnitude)


def test_the_fourteen_standard_ops():
  assert NAMES == [
      'Identity', 'AutoContrast', 'Equalize', 'Rotate', 'Solarize', 'Color',
      'Posterize', 'Contrast', 'Brightness', 'Sharpness', 'ShearX', 'ShearY',
      'TranslateX', 'TranslateY']


@pytest.mark.parametrize('name', NAMES)
def test_ops_return_whole_numbers_in_range(name):
  image = random_image()
  for m in (-10.0, -3.7, 6.3, 10.0):
    out = apply(name, image, m)
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(out, np.round(out))


@pytest.mark.parametrize(
    'name', ('Identity', 'Solarize', 'Posterize') + GEOMETRIC + BLENDS)
def test_magnitude_zero_is_the_identity(name):
  image = random_image()
  np.testing.assert_array_equal(apply(name, image, 0.0), image)


@pytest.mark.parametrize('name', GEOMETRIC + BLENDS)
def test_strong_ops_change_the_image_and_the_sign_matters(name):
  image = random_image()
  plus, minus = apply(name, image, 9.0), apply(name, image, -9.0)
  assert (plus != image).mean() > 0.2
  assert (minus != image).mean() > 0.2
  assert (plus != minus).mean() > 0.2


def test_solarize_inverts_exactly_the_pixels_at_or_above_the_threshold():
  image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
  values = np.arange(256)
  for m, threshold in ((5.0, 128), (-5.0, 128), (10.0, 0), (2.5, 192)):
    expected = np.where(values >= threshold, 255 - values, values)
    np.testing.assert_array_equal(
        apply('Solarize', image, m)[..., 0].ravel(), expected)


def test_posterize_keeps_only_the_top_bits():
  image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
  for m, mask in ((10.0, 0xF0), (-10.0, 0xF0), (5.0, 0xFC), (2.4, 0xFF),
                  (2.5, 0xFE)):
    np.testing.assert_array_equal(apply('Posterize', image, m), image & mask)


def test_autocontrast_stretches_each_channel_and_keeps_constant_ones():
  rng = np.random.default_rng(1)
  image = np.stack([rng.integers(50, 201, (SIZE, SIZE)),
                    rng.integers(10, 21, (SIZE, SIZE)),
                    np.full((SIZE, SIZE), 77)], -1).astype(np.uint8)
  image[0, 0, :2] = (50, 10)
  image[0, 1, :2] = (200, 20)
  out = apply('AutoContrast', image, 10.0)
  np.testing.assert_array_equal(out[..., :2].min((0, 1)), [0, 0])
  np.testing.assert_array_equal(out[..., :2].max((0, 1)), [255, 255])
  np.testing.assert_array_equal(out[..., 2], 77)
  # Linear: a value midway between the extremes lands at about 127.5.
  np.testing.assert_allclose(out[..., 1][image[..., 1] == 15], 128, atol=0.5)
  np.testing.assert_allclose(
      out[..., 0], (image[..., 0] - 50.0) * 255 / 150, atol=0.51)


def test_equalize_flattens_a_skewed_histogram():
  # Most pixels dark: the cube of a ramp, different in each channel.
  ramp = np.linspace(0, 1, SIZE * SIZE).reshape(SIZE, SIZE)
  image = np.round(255 * np.stack([ramp**3, ramp**2, ramp[::-1]**4], -1))
  out = apply('Equalize', image.astype(np.uint8), 0.0)
  for c in range(3):
    assert np.quantile(image[..., c], 0.5) < 70
    np.testing.assert_allclose(
        np.quantile(out[..., c], [0.25, 0.5, 0.75]), [64, 128, 191], atol=10)
    # Monotone: the order of the pixels is kept.
    order = np.argsort(image[..., c].ravel(), kind='stable')
    assert np.all(np.diff(out[..., c].ravel()[order]) >= 0)
  np.testing.assert_array_equal(out, pil_equalize(image.astype(np.uint8)))
  constant = np.full((SIZE, SIZE, 3), 99, np.uint8)
  np.testing.assert_array_equal(apply('Equalize', constant, 0.0), constant)


def pil_equalize(image):
  """PIL's `ImageOps.equalize`, loop for loop, clipped at 255 like TF's port."""
  out = image.copy()
  for c in range(image.shape[-1]):
    hist = np.bincount(image[..., c].ravel(), minlength=256)
    step = (hist.sum() - hist[hist > 0][-1]) // 255
    if step:
      n, lut = step // 2, []
      for count in hist:
        lut.append(min(n // step, 255))
        n += count
      out[..., c] = np.array(lut)[image[..., c]]
  return out


def test_enhance_factors_follow_pil():
  gray_levels = np.where(np.arange(SIZE) % 2, 100, 160)  # Mean 130.
  image = np.broadcast_to(gray_levels[:, None, None], (SIZE, SIZE, 3))
  # Contrast 1.9 and 0.1 about the mean luma.
  np.testing.assert_array_equal(apply('Contrast', image, 10.0),
                                np.where(image == 160, 187, 73))
  np.testing.assert_array_equal(apply('Contrast', image, -10.0),
                                np.where(image == 160, 133, 127))
  # Brightness scales towards black, clipping at 255.
  np.testing.assert_array_equal(apply('Brightness', image, 10.0),
                                np.where(image == 160, 255, 190))
  np.testing.assert_array_equal(apply('Brightness', image, -10.0),
                                np.where(image == 160, 16, 10))
  # Colour leaves grey alone, and at 0.1 pulls channels towards their luma.
  np.testing.assert_array_equal(apply('Color', image, -10.0), image)
  colour = random_image()
  luma = np.round(colour @ np.array([0.299, 0.587, 0.114]))[..., None]
  np.testing.assert_allclose(apply('Color', colour, -10.0),
                             luma + 0.1 * (colour - luma), atol=1.5)


def test_sharpness_against_the_smooth_filter():
  image = np.zeros((SIZE, SIZE, 3), np.uint8)
  image[5, 7] = 130  # Smoothed: 50 at the dot, 10 around it.
  sharp, blurred = apply('Sharpness', image, 10.0), apply('Sharpness', image,
                                                          -10.0)
  assert sharp[5, 7, 0] == 202 and blurred[5, 7, 0] == 58
  assert (sharp[4:7, 6:9, 0].sum(), blurred[4:7, 6:9, 0].sum()) == (202,
                                                                    58 + 8 * 9)
  assert sharp.sum() == 202 * 3 and blurred.sum() == 130 * 3
  # Border pixels are kept; a flat image is unchanged.
  image[0, 3] = 200
  assert apply('Sharpness', image, -10.0)[0, 3, 0] == 200
  flat = np.full((SIZE, SIZE, 3), 90, np.uint8)
  np.testing.assert_array_equal(apply('Sharpness', flat, 10.0), flat)


def test_rotate_is_counter_clockwise_about_the_centre():
  image = jnp.asarray(random_image(), jnp.float32)
  np.testing.assert_array_equal(ra._rotate(image, 90.0), np.rot90(image))
  np.testing.assert_array_equal(ra._rotate(image, -90.0), np.rot90(image, -1))
  np.testing.assert_array_equal(ra._rotate(image, 180.0), image[::-1, ::-1])
  # Magnitude 10 is 30 degrees; the corners come in as grey.
  np.testing.assert_array_equal(apply('Rotate', image, 10.0),
                                ra._rotate(image, 30.0))
  out = apply('Rotate', image, -10.0)
  np.testing.assert_array_equal(out, ra._rotate(image, -30.0))
  assert np.all(out[[0, 0, -1, -1], [0, -1, 0, -1]] == 128)


@pytest.mark.parametrize('pixels', (4, -7))
def test_translate_shifts_by_whole_pixels_and_fills_grey(pixels):
  image = random_image()
  m = pixels / (0.045 * SIZE)
  expected = np.full_like(image, 128)
  if pixels > 0:
    expected[:, pixels:] = image[:, :-pixels]
  else:
    expected[:, :pixels] = image[:, -pixels:]
  np.testing.assert_array_equal(apply('TranslateX', image, m), expected)
  np.testing.assert_array_equal(
      apply('TranslateY', image.swapaxes(0, 1), m), expected.swapaxes(0, 1))


def test_shear_moves_rows_in_proportion_to_their_height():
  image = random_image()
  out = apply('ShearX', image, 10.0)  # Source x = x + 0.3 y.
  np.testing.assert_array_equal(out[0], image[0])
  np.testing.assert_array_equal(out[10, :29], image[10, 3:])
  np.testing.assert_array_equal(out[10, 29:], 128)
  out = apply('ShearY', image, -10.0)  # Source y = y - 0.3 x.
  np.testing.assert_array_equal(out[:, 0], image[:, 0])
  np.testing.assert_array_equal(out[3:, 10], image[:29, 10])
  np.testing.assert_array_equal(out[:3, 10], 128)


def test_batched_under_jit_keeps_shape_and_dtype_and_is_deterministic():
  images = np.stack([random_image(i) for i in range(8)])
  keys = jax.random.split(jax.random.PRNGKey(0), 8)
  out = batched(keys, images, 2, 9.0)
  assert out.dtype == jnp.uint8 and out.shape == (8, SIZE, SIZE, 3)
  np.testing.assert_array_equal(out, batched(keys, images, 2, 9.0))
  # Batching changes nothing: each example is as augmented on its own.
  for i in (0, 5):
    np.testing.assert_array_equal(
        out[i], ra.randaugment(keys[i], images[i], 2, 9.0))
  np.testing.assert_array_equal(batched(keys, images, 0, 9.0), images)


def test_different_keys_give_different_outputs():
  image = random_image()
  images = np.broadcast_to(image, (8,) + image.shape)
  keys = jax.random.split(jax.random.PRNGKey(1), 8)
  out = np.asarray(batched(keys, images, 2, 9.0))
  assert len({o.tobytes() for o in out}) >= 6
  assert sum((o != image).mean() > 0.1 for o in out) >= 5


def test_one_layer_is_one_op_from_the_list_chosen_uniformly():
  image = random_image()
  candidates = np.stack([apply(name, image, sign * 6.0)
                         for name in NAMES for sign in (1, -1)])
  n = 700
  keys = jax.random.split(jax.random.PRNGKey(2), n)
  out = np.asarray(batched(keys, np.broadcast_to(image, (n,) + image.shape),
                           1, 6.0))
  matches = (out[:, None] == candidates[None]).all((2, 3, 4))
  assert matches.any(1).all()  # Every output is some op at +-6.
  # Each op (and sign, for the ops that have one) turns up about equally.
  counts = matches.sum(0).reshape(len(NAMES), 2)
  assert counts.min() > 0
  signed = [NAMES.index(name) for name in GEOMETRIC + BLENDS]
  expected = n / len(NAMES) / 2
  assert np.all(np.abs(counts[signed] - expected) < 4 * np.sqrt(expected))


def test_two_layers_compose_two_independently_drawn_ops():
  image = random_image()
  firsts = [apply(name, image, sign * 6.0)
            for name in NAMES for sign in (1, -1)]
  composed = {}  # Output -> whether some op applied twice gives it.
  for i, first in enumerate(firsts):
    for j, name in enumerate(NAMES):
      for k, sign in enumerate((1, -1)):
        key = apply(name, first, sign * 6.0).astype(np.uint8).tobytes()
        composed[key] = composed.get(key, False) or i == 2 * j + k
  singles = {first.astype(np.uint8).tobytes() for first in firsts}
  n = 200
  keys = jax.random.split(jax.random.PRNGKey(3), n)
  out = np.asarray(batched(keys, np.broadcast_to(image, (n,) + image.shape),
                           2, 6.0))
  out = [o.tobytes() for o in out]
  assert all(o in composed for o in out)
  # Most outputs need two different ops (the rest have an identity in them).
  assert sum(composed[o] for o in out) < 0.2 * n
  assert sum(o in singles for o in out) < 0.4 * n
