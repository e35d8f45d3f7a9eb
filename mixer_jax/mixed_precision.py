"""Matrix products with bfloat16 inputs and float32 accumulation, both ways.

CPUs' AMX tiles and AVX-512-BF16 instructions, GPU tensor cores and TPU MXUs
multiply bfloat16 inputs into float32 sums. XLA:CPU reaches those units only for a
bf16 x bf16 product with a float32 result (`preferred_element_type`); a
product with a bf16 result runs slower than float32 (docs/BENCHMARKS.md).
Autodiff of such a product would not do either: it multiplies the float32
output gradient by the bf16 operand, which XLA:CPU runs in float32, and it
rounds the kernel gradient to bfloat16. The custom VJP below rounds the
output gradient to bf16 instead, so that all three products of a layer
(forward, input gradient, kernel gradient) run bf16 x bf16 -> float32, and
gradients reach the float32 parameters unrounded.

Only the products' inputs are bf16: their outputs, the activations between
them, normalisation statistics, the loss and the optimizer are float32.

`dot_general(dtype)` and `conv_general_dilated(dtype)` give the functions
that `nn.Dense(dot_general=...)` and `nn.Conv(conv_general_dilated=...)`
call: for float32 the plain `lax` ones, for bfloat16 these.
"""

import jax
from jax import lax
import jax.numpy as jnp

_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _bf16_dot(a, b, dimension_numbers):
  return lax.dot_general(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16),
                         dimension_numbers,
                         preferred_element_type=jnp.float32)


@jax.custom_vjp
def bf16_matmul(x, w):
  """x [M, K] @ w [K, N], both float32, as bf16 products; float32 [M, N]."""
  return _bf16_dot(x, w, (((1,), (0,)), ((), ())))


def _bf16_matmul_forward(x, w):
  x16, w16 = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
  # The bf16 copies are what the backward products need: half the memory.
  return _bf16_dot(x16, w16, (((1,), (0,)), ((), ()))), (x16, w16)


def _bf16_matmul_backward(residuals, grad):
  x16, w16 = residuals
  grad16 = grad.astype(jnp.bfloat16)
  grad_x = _bf16_dot(grad16, w16, (((1,), (1,)), ((), ())))
  grad_w = _bf16_dot(x16, grad16, (((0,), (0,)), ((), ())))
  return grad_x, grad_w


bf16_matmul.defvjp(_bf16_matmul_forward, _bf16_matmul_backward)


def _dense_dot_general(lhs, rhs, dimension_numbers, precision=None,
                       preferred_element_type=None):
  """What nn.Dense asks for: lhs's last axis against a [K, N] kernel."""
  del precision, preferred_element_type  # Always bf16 in, float32 out.
  (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
  if (rhs.ndim != 2 or tuple(lhs_contract) != (lhs.ndim - 1,) or
      tuple(rhs_contract) != (0,) or lhs_batch or rhs_batch):
    raise NotImplementedError(
        f'mixed_precision.dot_general computes nn.Dense\'s product (the last '
        f'axis of the input against a [K, N] kernel); got dimension_numbers='
        f'{dimension_numbers} for shapes {lhs.shape} and {rhs.shape}.')
  y = bf16_matmul(lhs.reshape(-1, lhs.shape[-1]).astype(jnp.float32),
                  rhs.astype(jnp.float32))
  return y.reshape(lhs.shape[:-1] + rhs.shape[1:])


def _patch_conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
                rhs_dilation=None, dimension_numbers=None,
                feature_group_count=1, precision=None,
                preferred_element_type=None):
  """A conv whose windows tile the input (1x1, or patch embedding) as one
  matrix product of the flattened patches with the flattened kernel."""
  del precision, preferred_element_type
  kernel_hw = rhs.shape[:2]
  pads = (lax.padtype_to_pads(lhs.shape[1:3], kernel_hw, window_strides,
                              padding)
          if isinstance(padding, str) else padding)
  tiles = (
      lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
      == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC) and
      tuple(window_strides) == tuple(kernel_hw) and
      all(d == 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ()))
      and feature_group_count == 1 and
      all(tuple(p) == (0, 0) for p in pads) and
      lhs.shape[1] % kernel_hw[0] == 0 and lhs.shape[2] % kernel_hw[1] == 0)
  if not tiles:
    raise NotImplementedError(
        f'mixed_precision.conv_general_dilated computes convolutions whose '
        f'windows tile an NHWC input (stride = kernel size, no padding, '
        f'dilation or groups: 1x1 convs and patch embeddings); got kernel '
        f'{rhs.shape}, strides {window_strides}, padding {padding} on input '
        f'{lhs.shape}.')
  n, height, width, channels = lhs.shape
  kh, kw = kernel_hw
  patches = lhs.reshape(n, height // kh, kh, width // kw, kw, channels)
  patches = patches.transpose(0, 1, 3, 2, 4, 5).reshape(-1, kh * kw * channels)
  y = bf16_matmul(patches.astype(jnp.float32),
                  rhs.reshape(kh * kw * channels, -1).astype(jnp.float32))
  return y.reshape(n, height // kh, width // kw, rhs.shape[-1])


def _for_dtype(dtype, float32_version, bfloat16_version):
  if jnp.dtype(dtype) == jnp.float32:
    return float32_version
  if jnp.dtype(dtype) == jnp.bfloat16:
    return bfloat16_version
  raise ValueError(f'Matrix product inputs are float32 or bfloat16; got '
                   f'{jnp.dtype(dtype)}.')


def dot_general(dtype):
  """The `dot_general` for nn.Dense whose inputs are `dtype`."""
  return _for_dtype(dtype, lax.dot_general, _dense_dot_general)


def conv_general_dilated(dtype):
  """The `conv_general_dilated` for nn.Conv whose inputs are `dtype`."""
  return _for_dtype(dtype, lax.conv_general_dilated, _patch_conv)
