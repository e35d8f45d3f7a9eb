"""bf16 inputs with float32 accumulation, in the forward and the backward pass."""

import functools

import flax.linen as nn
import jax
import jax.extend
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_jax import mixed_precision
from mixer_jax import models

BF16 = jnp.bfloat16


def _round(x):
  return x.astype(BF16).astype(jnp.float32)


def _normal(seed, shape):
  return jax.random.normal(jax.random.PRNGKey(seed), shape)


def _dot_generals(jaxpr):
  """Every dot_general in a closed jaxpr, sub-jaxprs (custom VJPs) included."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'dot_general':
      found.append(eqn)
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      found += _dot_generals(sub)
  return found


def test_forward_is_the_float32_product_of_the_rounded_inputs():
  x, w = _normal(0, (64, 96)), _normal(1, (96, 32))
  np.testing.assert_allclose(mixed_precision.bf16_matmul(x, w),
                             _round(x) @ _round(w), rtol=1e-5, atol=1e-5)


def test_gradients_are_the_float32_products_of_rounded_operands():
  x, w, g = _normal(0, (64, 96)), _normal(1, (96, 32)), _normal(2, (64, 32))
  _, vjp = jax.vjp(mixed_precision.bf16_matmul, x, w)
  grad_x, grad_w = vjp(g)
  np.testing.assert_allclose(grad_x, _round(g) @ _round(w).T, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(grad_w, _round(x).T @ _round(g), rtol=1e-5,
                             atol=1e-5)
  # Summed in float32 and not rounded back to bf16, as autodiff of a cast
  # to bf16 would do.
  assert grad_w.dtype == jnp.float32
  assert not np.array_equal(grad_w, _round(grad_w))


def test_every_product_of_a_dense_layer_runs_bf16_in_float32_out():
  layer = nn.Dense(32, dot_general=mixed_precision.dot_general(BF16))
  x = _normal(0, (4, 16, 96))
  params = layer.init(jax.random.PRNGKey(1), x)
  loss = lambda p, x: jnp.sum(layer.apply(p, x) ** 2)
  jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(params, x)
  dots = _dot_generals(jaxpr.jaxpr)
  assert len(dots) == 3  # forward, input gradient, kernel gradient
  for eqn in dots:
    assert [v.aval.dtype for v in eqn.invars] == [BF16, BF16]
    assert eqn.outvars[0].aval.dtype == jnp.float32


@pytest.mark.parametrize('kernel,strides,image', [
    ((4, 4), (4, 4), (32, 32)),  # the patch embedding
    ((1, 1), (1, 1), (8, 8)),  # a pointwise conv
])
def test_tiling_convs_equal_xla_on_rounded_inputs(kernel, strides, image):
  x = _normal(0, (3, *image, 5))
  w = _normal(1, (*kernel, 5, 7))
  conv = mixed_precision.conv_general_dilated(BF16)
  expected = lax.conv_general_dilated(
      _round(x), _round(w), strides, 'SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(
      conv(x, w, strides, 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')),
      expected, rtol=1e-5, atol=1e-5)


def test_other_convs_and_products_are_refused_with_the_reason():
  conv = mixed_precision.conv_general_dilated(BF16)
  with pytest.raises(NotImplementedError, match='stride = kernel size'):
    conv(jnp.ones((1, 8, 8, 4)), jnp.ones((3, 3, 4, 4)), (1, 1), 'SAME',
         dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  dot = mixed_precision.dot_general(BF16)
  with pytest.raises(NotImplementedError, match='nn.Dense'):
    dot(jnp.ones((2, 3, 4)), jnp.ones((2, 4, 5)), (((2,), (1,)), ((0,), (0,))))
  with pytest.raises(ValueError, match='float32 or bfloat16'):
    mixed_precision.dot_general(jnp.float16)


def _seed_hybrid(dtype):
  return models.MlpMixer(
      patches={'size': (4, 4)}, num_classes=10, num_blocks=2, hidden_dim=32,
      tokens_mlp_dim=16, channels_mlp_dim=64, dtype=dtype,
      locality={'type': 'dwsep', 'kernel_size': 3, 'residual': False,
                'norm': 'batchnorm', 'activation': 'gelu',
                'placement': 'after', 'use_bias': False},
      locality_at={'after_embedding': True, 'every_k_blocks': 1,
                   'inside_blocks': False})


def _loss_and_grads(model, variables, images, labels):
  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, images,
                            train=True, mutable=['batch_stats'])
    return jnp.mean(-jnp.take_along_axis(jax.nn.log_softmax(logits),
                                         labels[:, None], 1))
  return jax.value_and_grad(loss)


@pytest.mark.slow
def test_the_bf16_model_learns_what_the_float32_one_does():
  images, labels = _normal(0, (16, 32, 32, 3)), jnp.arange(16) % 10
  init = jax.jit(functools.partial(_seed_hybrid(jnp.float32).init,
                                   train=False))  # Eager init takes seconds.
  variables = init(jax.random.PRNGKey(1), images)
  # A random head, so that every layer gets a gradient.
  variables['params']['head']['kernel'] = _normal(2, (32, 10))
  results = {dtype: jax.jit(_loss_and_grads(_seed_hybrid(dtype), variables,
                                            images, labels))(
                                                variables['params'])
             for dtype in (jnp.float32, BF16)}
  (loss32, grads32), (loss16, grads16) = results[jnp.float32], results[BF16]
  np.testing.assert_allclose(loss16, loss32, rtol=2e-2)
  for path, g32 in jax.tree_util.tree_leaves_with_path(grads32):
    g16 = dict(jax.tree_util.tree_leaves_with_path(grads16))[path]
    assert g16.dtype == jnp.float32
    cosine = jnp.vdot(g16, g32) / (jnp.linalg.norm(g16) *
                                   jnp.linalg.norm(g32))
    assert cosine > 0.99, jax.tree_util.keystr(path)


def test_only_the_head_multiplies_in_float32():
  images, labels = jnp.ones((4, 32, 32, 3)), jnp.arange(4)
  model = _seed_hybrid(BF16)
  variables = jax.jit(functools.partial(model.init, train=False))(
      jax.random.PRNGKey(0), images)
  jaxpr = jax.make_jaxpr(_loss_and_grads(model, variables, images, labels))(
      variables['params'])
  dots = _dot_generals(jaxpr.jaxpr)
  float32_dots = [e for e in dots
                  if any(v.aval.dtype == jnp.float32 for v in e.invars)]
  # 2 Mixer blocks x 2 MLPs x 2 layers, the patch embedding and 3 pointwise
  # convs (after the embedding and after each block): 12 layers, 3 products
  # each; the head: 3 float32 products.
  assert len(dots) - len(float32_dots) == 3 * 12
  assert len(float32_dots) == 3
  assert all(e.outvars[0].aval.dtype == jnp.float32 for e in dots)
