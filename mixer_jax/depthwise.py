"""A k x k depthwise convolution that is fast on XLA:CPU, forward and backward.

`flax.linen.Conv(C, (k, k), feature_group_count=C)` lowers to a grouped
`lax.conv_general_dilated`, which XLA:CPU runs as C tiny matrix products.
Measured on one core of an AMD EPYC (benchmarks/depthwise.py, jax 0.10.2,
float32, batch 128, 128 channels, 8x8 grid), a 3x3 one takes 30 ms forward
and 79 ms forward+backward, and adds 95 ms per conv to a training step that
takes 132 ms without it (five blocks of depthwise -> Dense -> BatchNorm ->
GELU). Two exact reformulations avoid the grouped conv:

* 'shift': the sum of the k*k shifted copies of the zero-padded input, each
  times its per-channel weight. Plain autodiff of it is slow (its backward
  pads and slices every tap and reduces the kernel gradient over the whole
  tensor once per tap), so a custom VJP computes the input gradient as the
  same shifted sum of the output gradient with the kernel flipped, and the
  kernel gradient batch chunk by batch chunk, so that each chunk's k*k
  products stay in cache. 3x3 on 8x8: 0.6 ms forward, 5.4 ms both ways,
  10 ms per conv in the step.
* 'dense': each channel's kernel as a T x T token-mixing matrix on the
  T = H*W tokens (the kernel weights on k*k diagonals, zero where a tap falls
  off the grid), applied by one batched matrix product over channels. Its
  cost grows with T**2 but not with k: on 8x8, 3.5-4.2 ms forward, 7-8 ms
  both ways and 15-17.5 ms per conv in the step for k = 3, 5 and 7.

`depthwise_conv` picks one by backend and size (`choose_implementation`);
benchmarks/depthwise.py measures all three, alone and inside a training step,
and the numbers behind the choice are quoted there and in
`choose_implementation`.
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

IMPLEMENTATIONS = ('xla', 'shift', 'dense')

# Examples per chunk of the kernel gradient of 'shift': 4 was the fastest of
# 1, 4, 8 and 16 for 8x8, 16x16 and 32x32 grids of 128 channels.
_CHUNK = 4


def check_shapes(x_shape, kernel_shape):
  """Raises ValueError unless x is [N, H, W, C], kernel [k, k, 1, C], k odd."""
  if len(x_shape) != 4:
    raise ValueError(f'x must be [N, H, W, C]; got shape {tuple(x_shape)}.')
  channels = x_shape[-1]
  if (len(kernel_shape) != 4 or kernel_shape[0] != kernel_shape[1] or
      tuple(kernel_shape[2:]) != (1, channels)):
    raise ValueError(
        f'kernel must be [k, k, 1, C] = [k, k, 1, {channels}], nn.Conv\'s '
        f'depthwise layout; got shape {tuple(kernel_shape)}.')
  if kernel_shape[0] % 2 == 0:
    raise ValueError(f'kernel size must be odd, for \'SAME\' padding centred '
                     f'on each token; got k={kernel_shape[0]}.')


def choose_implementation(backend, height, width, kernel_size):
  """The fastest implementation for a backend and grid, by measurement.

  GPUs and TPUs have fast grouped convolutions: 'xla' there. On CPU
  (benchmarks/depthwise.py, 1 core of an AMD EPYC, batch 128, 128
  channels), ms added per conv to a training step of the seed block:

    grid   k   xla   shift  dense
    8x8    3    95     10     18
    8x8    5   165     18     15
    8x8    7   286     35     17
    16x16  3     -     49    188
    16x16  5     -     79    207
    16x16  7     -    182    205

  (The 16x16 rows: the script's step on [128, 16, 16, 128], without 'xla'.)
  'shift' grows with k*k and 'dense' with (H*W)**2 (and needs a [C, T, T]
  matrix: 512 MiB at 32x32), so 'dense' for k >= 5 on up to 64 tokens,
  'shift' everywhere else; alone, 'shift' is also the fastest at 32x32.
  """
  if backend != 'cpu':
    return 'xla'
  if kernel_size >= 5 and height * width <= 64:
    return 'dense'
  return 'shift'


def depthwise_conv(x, kernel, implementation='auto', *, precision=None,
                   preferred_element_type=None):
  """A stride-1 'SAME' depthwise conv, equal to the grouped XLA conv.

  Computes `lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=C)`, what
  `nn.Conv(C, (k, k), feature_group_count=C)` runs, but without XLA:CPU's
  slow grouped convolution (see the module docstring).

  Args:
    x: [N, H, W, C] input.
    kernel: [k, k, 1, C], k odd: nn.Conv's depthwise kernel. Cast to x's
      dtype.
    implementation: 'xla', 'shift', 'dense' or 'auto' (the choice of
      `choose_implementation` for the default backend).
    precision: passed to the matrix products of 'xla' and 'dense'; 'shift'
      multiplies elementwise, always at the accumulation dtype's precision.
    preferred_element_type: the accumulation and output dtype; x's dtype
      when None.

  Returns:
    [N, H, W, C] in `preferred_element_type`, else x's dtype.

  Raises:
    ValueError: for a wrong shape, an even k or an unknown implementation.
  """
  check_shapes(x.shape, kernel.shape)
  _, height, width, _ = x.shape
  k = kernel.shape[0]
  if implementation == 'auto':
    implementation = choose_implementation(jax.default_backend(), height,
                                           width, k)
  kernel = kernel.astype(x.dtype)
  out_dtype = jnp.dtype(preferred_element_type or x.dtype)
  if implementation == 'xla':
    return lax.conv_general_dilated(
        x, kernel, (1, 1), 'SAME',
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
        feature_group_count=x.shape[-1], precision=precision,
        preferred_element_type=preferred_element_type)
  if implementation == 'shift':
    return _shift_conv(x, kernel, out_dtype)
  if implementation == 'dense':
    return _dense_conv(x, kernel, out_dtype, precision)
  raise ValueError(f'Unknown implementation {implementation!r}; use one of '
                   f'{IMPLEMENTATIONS + ("auto",)}.')


def _pairwise_sum(terms):
  # A balanced tree of adds: XLA:CPU runs it faster than a chain, and it
  # rounds less.
  while len(terms) > 1:
    terms = [sum(terms[i:i + 2]) for i in range(0, len(terms), 2)]
  return terms[0]


def _pad_grid(x, pad):
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def _shifted_sum(x_padded, kernel, height, width, dtype):
  """sum_ij x_padded[:, i:i+H, j:j+W] * kernel[i, j]: the conv on padded x."""
  k = kernel.shape[0]
  x_padded = x_padded.astype(dtype)
  kernel = kernel.astype(dtype)
  return _pairwise_sum([
      x_padded[:, i:i + height, j:j + width] * kernel[i, j, 0]
      for i in range(k) for j in range(k)])


def _kernel_grad_chunk(x_padded, grad, k, dtype):
  """[k*k, C]: per tap, the sum over the chunk of shifted input * gradient."""
  n, height, width, channels = grad.shape
  grad = grad.astype(dtype)

  # A loop, not k*k unrolled taps, so that XLA does not materialise every
  # shifted copy at once.
  def add_tap(tap, total):
    shifted = lax.dynamic_slice(x_padded, (0, tap // k, tap % k, 0),
                                (n, height, width, channels))
    return total.at[tap].set(
        jnp.sum(shifted.astype(dtype) * grad, axis=(0, 1, 2)))

  return lax.fori_loop(0, k * k, add_tap, jnp.zeros((k * k, channels), dtype))


def _shift_kernel_grad(x_padded, grad, k, dtype):
  """The kernel gradient, [k, k, 1, C], a few examples at a time.

  Each chunk's input and gradient stay in cache across its k*k taps; over
  the whole batch at once each tap would stream both from memory.
  """
  n, height, width, channels = grad.shape
  full = n - n % _CHUNK
  chunks = (
      x_padded[:full].reshape((-1, _CHUNK) + x_padded.shape[1:]),
      grad[:full].reshape((-1, _CHUNK, height, width, channels)))
  total, _ = lax.scan(
      lambda total, chunk: (total + _kernel_grad_chunk(*chunk, k, dtype), None),
      jnp.zeros((k * k, channels), dtype), chunks)
  if full < n:
    total += _kernel_grad_chunk(x_padded[full:], grad[full:], k, dtype)
  return total.reshape(k, k, 1, channels)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _shift_conv(x, kernel, dtype):
  return _shift_conv_fwd(x, kernel, dtype)[0]


def _shift_conv_fwd(x, kernel, dtype):
  k = kernel.shape[0]
  x_padded = _pad_grid(x, k // 2)
  y = _shifted_sum(x_padded, kernel, x.shape[1], x.shape[2], dtype)
  return y, (x_padded, kernel)


def _shift_conv_bwd(dtype, residuals, grad):
  x_padded, kernel = residuals
  k = kernel.shape[0]
  _, height, width, _ = grad.shape
  # The transpose of a 'SAME' correlation is the correlation with the
  # kernel flipped in both spatial axes.
  grad_x = _shifted_sum(_pad_grid(grad, k // 2), kernel[::-1, ::-1], height,
                        width, dtype)
  grad_kernel = _shift_kernel_grad(x_padded, grad, k, dtype)
  return grad_x.astype(x_padded.dtype), grad_kernel.astype(kernel.dtype)


_shift_conv.defvjp(_shift_conv_fwd, _shift_conv_bwd)


def _taps_on_grid(height, width, k):
  """Per tap (i, j), row-major: (d, on_grid), d = (i - k//2) * W + j - k//2.

  Tap (i, j) links token t = h * W + w to token t + d, for the tokens t
  where on_grid[t] says the neighbour (h + i - k//2, w + j - k//2) exists.
  """
  rows, cols = np.divmod(np.arange(height * width), width)
  taps = []
  for di in range(-(k // 2), k // 2 + 1):
    for dj in range(-(k // 2), k // 2 + 1):
      on_grid = ((rows + di >= 0) & (rows + di < height) &
                 (cols + dj >= 0) & (cols + dj < width))
      taps.append((di * width + dj, on_grid))
  return taps


def _tap_index(height, width, k):
  """[T*T]: for A[t, s] flattened, the tap linking t to s; k*k for none."""
  tokens = height * width
  index = np.full(tokens * tokens, k * k, np.int32)
  for tap, (offset, on_grid) in enumerate(_taps_on_grid(height, width, k)):
    t = np.flatnonzero(on_grid)
    index[t * tokens + t + offset] = tap
  return index


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _token_mixing_matrices(kernel, height, width):
  """[C, T, T]: A[c, t, s], the weight of token s in token t's output.

  A gather from the k*k weights and a zero; its custom VJP reads the
  gradient back from A's diagonals by strided slices, where autodiff would
  scatter-add T*T values one by one.
  """
  k, _, _, channels = kernel.shape
  tokens = height * width
  weights = jnp.concatenate(
      [kernel.reshape(k * k, channels), jnp.zeros((1, channels), kernel.dtype)])
  # The indices are in range: 'clip' only spares the out-of-range fill.
  mixing = jnp.take(weights.T, _tap_index(height, width, k), axis=1,
                    mode='clip')
  return mixing.reshape(channels, tokens, tokens)


def _token_mixing_matrices_fwd(kernel, height, width):
  return _token_mixing_matrices(kernel, height, width), kernel.shape


def _token_mixing_matrices_bwd(height, width, kernel_shape, grad):
  k, _, _, channels = kernel_shape
  tokens = height * width
  grad = grad.reshape(channels, tokens * tokens)
  grad_taps = []
  for offset, on_grid in _taps_on_grid(height, width, k):
    t = np.flatnonzero(on_grid)
    if not t.size:
      grad_taps.append(jnp.zeros((channels,), grad.dtype))
      continue
    # A[t, t + offset] sits at t * (T + 1) + offset of the flat T*T axis.
    diagonal = lax.slice(grad, (0, t[0] * (tokens + 1) + offset),
                         (channels, t[-1] * (tokens + 1) + offset + 1),
                         (1, tokens + 1))
    grad_taps.append(
        jnp.sum(diagonal * on_grid[t[0]:t[-1] + 1].astype(grad.dtype), axis=1))
  return (jnp.stack(grad_taps).reshape(kernel_shape),)


_token_mixing_matrices.defvjp(_token_mixing_matrices_fwd,
                              _token_mixing_matrices_bwd)


def _dense_conv(x, kernel, dtype, precision):
  n, height, width, channels = x.shape
  mixing = _token_mixing_matrices(kernel, height, width)
  y = jnp.einsum('cts,nsc->ntc', mixing, x.reshape(n, height * width, channels),
                 precision=precision, preferred_element_type=dtype)
  return y.reshape(n, height, width, channels)


class DepthwiseConv(nn.Module):
  """Drop-in for `nn.Conv(C, (k, k), feature_group_count=C, padding='SAME')`.

  Same parameters (`kernel` [k, k, 1, C], lecun_normal over fan_in k*k;
  `bias` [C], zeros), same init values for the same key and same outputs,
  so that params trees load either way; but `depthwise_conv` runs it, which
  on CPU adds 9-17x less time per conv to a training step than nn.Conv's
  grouped convolution for k = 3 to 7 (see `choose_implementation`).

  Attributes:
    kernel_size: k, odd.
    use_bias: whether to add a per-channel bias.
    dtype: the computation and output dtype, as nn.Conv's `dtype`.
    implementation: 'auto', 'xla', 'shift' or 'dense'; see `depthwise_conv`.
    kernel_init, bias_init: as nn.Conv's (by default its defaults).
  """
  kernel_size: int
  use_bias: bool = True
  dtype: Any = jnp.float32
  implementation: str = 'auto'
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    k = self.kernel_size
    check_shapes(x.shape, (k, k, 1, channels))
    kernel = self.param('kernel', self.kernel_init, (k, k, 1, channels),
                        jnp.float32)
    bias = (self.param('bias', self.bias_init, (channels,), jnp.float32)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias,
                                              dtype=self.dtype)
    y = depthwise_conv(x, kernel, self.implementation)
    return y if bias is None else y + bias
