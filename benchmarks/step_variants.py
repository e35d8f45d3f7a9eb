r"""Issue 17 part 3: changes aimed at the step's elementwise work, timed in the
whole trainer step against the step as it is.

  python benchmarks/step_variants.py                    # nano, float32
  python benchmarks/step_variants.py --dtype=bfloat16
  python benchmarks/step_variants.py --stem=dwsep --reps=3

--model, --stem, --seed_model, --batch and --dtype are profile_step.py's, so
that a variant and its profile describe the same step.

Each variant swaps one piece of the model for the length of its measurement,
keeping parameter names and values, and times `benchmarks/run.py`'s compiled
trainer step (median of --steps steps, run.py's flag, after 3 warm-up steps). The variants
run interleaved, --reps rounds, so that drift in the machine hits all of
them alike. Variants that the step showed no gain for stay here, not in the
model, so that the comparison can be re-run:

- layer_norm_custom_vjp: LayerNorm with a hand-written backward (recomputes
  x-hat from the saved mean and 1/std, two reductions in all), instead of
  autodiff through flax's LayerNorm.
- gelu_in_bf16 (--dtype=bfloat16 only): the MLPs' hidden activations are
  rounded to bf16 before the GELU, so the GELU, the saved activation and its
  gradient move half the bytes. The bf16 path otherwise keeps activations in
  float32 (mixer_jax/mixed_precision.py).
"""

import contextlib
import functools
import os
import sys
from unittest import mock

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp

import profile_step  # Its flags and config choose the step.
import run as benchmark  # benchmarks/run.py, beside this file.
# run puts the repository on sys.path.
from mixer_jax import models  # pylint: disable=g-import-not-at-top,g-bad-import-order

flags.DEFINE_integer('reps', 2, 'Interleaved rounds over the variants.')
FLAGS = flags.FLAGS


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm(x, scale, bias, epsilon):
  return _layer_norm_forward(x, scale, bias, epsilon)[0]


def _layer_norm_forward(x, scale, bias, epsilon):
  mean = jnp.mean(x, -1, keepdims=True)
  # flax's single-pass variance, so that the forward matches nn.LayerNorm.
  variance = jnp.maximum(
      jnp.mean(jnp.square(x), -1, keepdims=True) - jnp.square(mean), 0.0)
  inverse_std = jax.lax.rsqrt(variance + epsilon)
  return (x - mean) * inverse_std * scale + bias, (x, mean, inverse_std,
                                                   scale)


def _layer_norm_backward(epsilon, residuals, grad):
  del epsilon
  x, mean, inverse_std, scale = residuals
  x_hat = (x - mean) * inverse_std
  grad_x_hat = grad * scale
  grad_x = inverse_std * (
      grad_x_hat - jnp.mean(grad_x_hat, -1, keepdims=True) -
      x_hat * jnp.mean(grad_x_hat * x_hat, -1, keepdims=True))
  batch_axes = tuple(range(grad.ndim - 1))
  return grad_x, jnp.sum(grad * x_hat, batch_axes), jnp.sum(grad, batch_axes)


layer_norm.defvjp(_layer_norm_forward, _layer_norm_backward)


def _custom_layer_norm(next_fun, args, kwargs, context):
  module = context.module
  if (isinstance(module, nn.LayerNorm) and context.method_name == '__call__'
      and not module.is_initializing()):
    return layer_norm(args[0], module.get_variable('params', 'scale'),
                      module.get_variable('params', 'bias'), module.epsilon)
  return next_fun(*args, **kwargs)


def _gelu_in_bf16(x):
  return nn.gelu(x.astype(jnp.bfloat16), approximate=True)


VARIANTS = {
    'default': contextlib.nullcontext,
    'layer_norm_custom_vjp':
        lambda: nn.intercept_methods(_custom_layer_norm),
    'gelu_in_bf16': lambda: mock.patch.object(models, 'gelu', _gelu_in_bf16),
}


def main(argv):
  del argv
  config = profile_step.flag_config()
  variants = [v for v in VARIANTS
              if v != 'gelu_in_bf16' or FLAGS.dtype == 'bfloat16']
  times = {v: [] for v in variants}
  for _ in range(FLAGS.reps):
    for variant in variants:
      jax.clear_caches()  # A cached trace would carry one variant into the next.
      with VARIANTS[variant]():
        one_step, _, _ = benchmark.compiled_step(config)
        seconds = benchmark._median_seconds(one_step, FLAGS.steps, 3)  # pylint: disable=protected-access
      times[variant].append(1e3 * seconds)
      print(f'{variant}: {1e3 * seconds:.0f} ms', flush=True)
  print(f'\n{profile_step.model_description(config)}, '
        f'{jax.local_device_count()} device(s), {os.cpu_count()} cores; '
        'step ms per round, and against default:\n')
  print('| variant | step ms | ratio to default (min) |\n|---|---|---|')
  for variant in variants:
    print(f"| {variant} | {', '.join(f'{t:.0f}' for t in times[variant])} | "
          f'{min(times[variant]) / min(times["default"]):.3f} |')


if __name__ == '__main__':
  sys.exit(app.run(main))
