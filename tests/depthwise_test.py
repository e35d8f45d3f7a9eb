"""mixer_jax.depthwise: every implementation is nn.Conv's depthwise conv.

Tolerances, float32: outputs and input gradients to rtol = atol = 1e-5 (sums
of at most k*k = 49 products of O(1) values, reordered); kernel and bias
gradients, sums over the N*H*W = 150 positions as well, to rtol 1e-5 and
atol 1e-4.
"""

import flax
import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_jax import depthwise

# Non-square, few channels, and a batch of 5: not a whole number of the
# kernel gradient's batch chunks.
SHAPE = (5, 6, 5, 3)


def reference_conv(channels, k, use_bias=True):
  return nn.Conv(channels, (k, k), feature_group_count=channels,
                 padding='SAME', use_bias=use_bias)


def outputs_and_grads(module, params, x, cotangent):
  """y, and the gradients of <y, cotangent> w.r.t. params and x."""

  def loss(params, x):
    return jnp.sum(module.apply({'params': params}, x) * cotangent)

  y = jax.jit(module.apply)({'params': params}, x)
  return y, jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)


@pytest.mark.parametrize('k', [3, 5, 7])
@pytest.mark.parametrize('implementation', depthwise.IMPLEMENTATIONS)
def test_matches_nn_conv_forward_and_gradients(implementation, k):
  channels = SHAPE[-1]
  x = jax.random.normal(jax.random.PRNGKey(0), SHAPE)
  cotangent = jax.random.normal(jax.random.PRNGKey(1), SHAPE)
  conv = reference_conv(channels, k)
  params = conv.init(jax.random.PRNGKey(2), x)['params']
  # Zero-initialised biases would hide a wrong bias gradient's scale.
  params = jax.tree.map(
      lambda p: p + jax.random.normal(jax.random.PRNGKey(3), p.shape), params)
  want_y, (want_params, want_x) = outputs_and_grads(conv, params, x,
                                                    cotangent)
  module = depthwise.DepthwiseConv(k, implementation=implementation)
  got_y, (got_params, got_x) = outputs_and_grads(module, params, x, cotangent)
  np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got_x, want_x, rtol=1e-5, atol=1e-5)
  for name in ('kernel', 'bias'):
    np.testing.assert_allclose(got_params[name], want_params[name],
                               rtol=1e-5, atol=1e-4, err_msg=name)


# 'xla' is the reference here; the nn.Conv comparison above covers it.
@pytest.mark.parametrize('implementation', ['shift', 'dense'])
def test_square_grid_and_kernel_larger_than_the_grid(implementation):
  for shape, k in (((2, 8, 8, 4), 3), ((3, 2, 3, 2), 5)):
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    kernel = jax.random.normal(jax.random.PRNGKey(1), (k, k, 1, shape[-1]))
    want = depthwise.depthwise_conv(x, kernel, 'xla')
    got = jax.jit(depthwise.depthwise_conv, static_argnums=2)(
        x, kernel, implementation)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('k,use_bias', [(3, True), (5, True), (3, False)])
def test_parameters_are_nn_convs_names_shapes_and_initial_values(k, use_bias):
  x = jnp.zeros(SHAPE)
  want = reference_conv(SHAPE[-1], k, use_bias).init(jax.random.PRNGKey(7), x)
  got = depthwise.DepthwiseConv(k, use_bias=use_bias).init(
      jax.random.PRNGKey(7), x)
  want = flax.traverse_util.flatten_dict(want, sep='/')
  got = flax.traverse_util.flatten_dict(got, sep='/')
  assert list(got) == list(want)
  assert want['params/kernel'].shape == (k, k, 1, SHAPE[-1])
  for name in want:
    assert got[name].dtype == want[name].dtype, name
    np.testing.assert_array_equal(got[name], want[name], err_msg=name)
  # Not all zeros: the kernels' initialiser really ran, with the same key.
  assert np.std(got['params/kernel']) > 0.1


@pytest.mark.parametrize('height,width', [(8, 8), (16, 16), (32, 32), (6, 5)])
@pytest.mark.parametrize('k', [3, 5, 7])
def test_auto_picks_a_known_implementation(height, width, k):
  assert depthwise.choose_implementation(
      'cpu', height, width, k) in depthwise.IMPLEMENTATIONS
  assert depthwise.choose_implementation('gpu', height, width, k) == 'xla'
  assert depthwise.choose_implementation('tpu', height, width, k) == 'xla'


@pytest.mark.parametrize('k', [3, 7])
def test_auto_computes_the_conv(k):
  x = jax.random.normal(jax.random.PRNGKey(0), SHAPE)
  kernel = jax.random.normal(jax.random.PRNGKey(1), (k, k, 1, SHAPE[-1]))
  np.testing.assert_allclose(depthwise.depthwise_conv(x, kernel),
                             depthwise.depthwise_conv(x, kernel, 'xla'),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('implementation', depthwise.IMPLEMENTATIONS)
def test_output_keeps_the_input_dtype_unless_told(implementation):
  x = jax.random.normal(jax.random.PRNGKey(0), SHAPE, jnp.bfloat16)
  kernel = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 1, SHAPE[-1]))
  y = depthwise.depthwise_conv(x, kernel, implementation)
  assert y.dtype == jnp.bfloat16
  y32 = depthwise.depthwise_conv(x, kernel, implementation,
                                 preferred_element_type=jnp.float32)
  assert y32.dtype == jnp.float32
  want = lax.conv_general_dilated(
      x.astype(jnp.float32), kernel.astype(jnp.bfloat16).astype(jnp.float32),
      (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      feature_group_count=SHAPE[-1])
  np.testing.assert_allclose(y32, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(y.astype(jnp.float32), want, rtol=2e-2,
                             atol=2e-2)


@pytest.mark.parametrize('kernel_shape,message', [
    ((4, 4, 1, 3), 'must be odd'),
    ((3, 3, 3, 1), r'kernel must be \[k, k, 1, C\] = \[k, k, 1, 3\]'),
    ((3, 3, 1, 4), r'got shape \(3, 3, 1, 4\)'),
    ((3, 5, 1, 3), r'kernel must be \[k, k, 1, C\]'),
    ((3, 3, 3), r'kernel must be \[k, k, 1, C\]'),
])
def test_bad_kernels_raise_saying_what_is_wrong(kernel_shape, message):
  x = jnp.zeros(SHAPE)
  with pytest.raises(ValueError, match=message):
    depthwise.depthwise_conv(x, jnp.zeros(kernel_shape))


def test_bad_inputs_raise_saying_what_is_wrong():
  kernel = jnp.zeros((3, 3, 1, 3))
  with pytest.raises(ValueError, match=r'x must be \[N, H, W, C\]'):
    depthwise.depthwise_conv(jnp.zeros((6, 5, 3)), kernel)
  with pytest.raises(ValueError, match="Unknown implementation 'fft'"):
    depthwise.depthwise_conv(jnp.zeros(SHAPE), kernel, 'fft')
  with pytest.raises(ValueError, match='must be odd.*got k=4'):
    depthwise.DepthwiseConv(4).init(jax.random.PRNGKey(0), jnp.zeros(SHAPE))
