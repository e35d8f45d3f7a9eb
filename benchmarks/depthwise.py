r"""Depthwise conv implementations on this machine: alone and in a train step.

  taskset -c 1 python benchmarks/depthwise.py             # ~10 min on 1 core
  taskset -c 1 python benchmarks/depthwise.py --quick     # 8x8 only

Prints Markdown: the machine, then (1) forward and forward+backward times of
each `mixer_jax.depthwise` implementation at batch 128, 128 channels,
k = 3, 5, 7 on 8x8, 16x16 and 32x32 grids, and (2) a train step of a small
network of the seed notebook's block, depthwise -> pointwise (Dense C->C) ->
BatchNorm (batch statistics) -> GELU, five times on [128, 8, 8, 128], with
each implementation and with the depthwise conv removed. Every time is the
median of --repeats jitted calls after 2 warm-up calls, synchronised with
block_until_ready; the step's implementations are timed in turns, --rounds
times, and the median of the rounds' medians is shown, since other work on
the machine slows some rounds.
"""

import datetime
import os
import platform
import sys
import time

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mixer_jax import depthwise  # pylint: disable=g-import-not-at-top

flags.DEFINE_integer('repeats', 7, 'Timed calls per measurement.')
flags.DEFINE_integer('rounds', 5, 'Turns of the step timings.')
flags.DEFINE_bool('quick', False, 'Only the 8x8 grid (a smoke run).')
FLAGS = flags.FLAGS

CHANNELS = 128
BATCH = 128
# 32x32 at batch 128 takes minutes with 'xla'; batch 32 keeps it short.
GRIDS = ((8, BATCH), (16, BATCH), (32, 32))
KERNEL_SIZES = (3, 5, 7)
# 'dense' holds a [C, T, T] float32 matrix: 512 MiB at 32x32 (T = 1024).
DENSE_MAX_TOKENS = 256
STEP_BLOCKS = 5


def machine_header():
  model = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      model = next(line.split(':', 1)[1].strip() for line in f
                   if line.startswith('model name'))
  except (OSError, StopIteration):
    pass
  return (f'{model}, os.cpu_count()={os.cpu_count()}, '
          f'{len(os.sched_getaffinity(0))} usable; jax {jax.__version__} '
          f'({jax.default_backend()}); {datetime.date.today().isoformat()}')


def median_ms(fn, *args):
  for _ in range(2):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(FLAGS.repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def conv_times(implementation, x, kernel):
  """(forward ms, forward+backward ms) of one implementation."""
  cotangent = jax.random.normal(jax.random.PRNGKey(2), x.shape)

  def conv(x, kernel):
    return depthwise.depthwise_conv(x, kernel, implementation)

  def loss(x, kernel):
    return jnp.sum(conv(x, kernel) * cotangent)

  return (median_ms(jax.jit(conv), x, kernel),
          median_ms(jax.jit(jax.grad(loss, argnums=(0, 1))), x, kernel))


def conv_table(grids):
  print('\n## The conv alone: forward / forward+backward, ms\n')
  print(f'{CHANNELS} channels, float32; auto = what '
        f'`choose_implementation` picks here.\n')
  print('| grid | batch | k | ' + ' | '.join(depthwise.IMPLEMENTATIONS) +
        ' | auto |')
  print('|---|---|---|' + '---|' * (len(depthwise.IMPLEMENTATIONS) + 1))
  for size, batch in grids:
    for k in KERNEL_SIZES:
      x = jax.random.normal(jax.random.PRNGKey(0),
                            (batch, size, size, CHANNELS))
      kernel = jax.random.normal(jax.random.PRNGKey(1), (k, k, 1, CHANNELS))
      cells = []
      for implementation in depthwise.IMPLEMENTATIONS:
        if implementation == 'dense' and size * size > DENSE_MAX_TOKENS:
          mib = CHANNELS * size**4 * 4 / 2**20
          cells.append(f'skipped: A would be {mib:.0f} MiB')
          continue
        forward, both = conv_times(implementation, x, kernel)
        cells.append(f'{forward:.1f} / {both:.1f}')
      auto = depthwise.choose_implementation(jax.default_backend(), size,
                                             size, k)
      print(f'| {size}x{size} | {batch} | {k} | ' + ' | '.join(cells) +
            f' | {auto} |', flush=True)


class SeedBlockNet(nn.Module):
  """The seed block, STEP_BLOCKS times, then mean pooling and a classifier."""
  implementation: str
  kernel_size: int

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    for _ in range(STEP_BLOCKS):
      if self.implementation != 'none':
        x = depthwise.DepthwiseConv(self.kernel_size, use_bias=False,
                                    implementation=self.implementation)(x)
      x = nn.Dense(channels, use_bias=False)(x)
      x = nn.BatchNorm(use_running_average=False)(x)
      x = nn.gelu(x)
    return nn.Dense(10)(jnp.mean(x, axis=(1, 2)))


def make_step(implementation, kernel_size, images, labels):
  """A jitted SGD step of SeedBlockNet, and its initial state."""
  model = SeedBlockNet(implementation, kernel_size)
  variables = model.init(jax.random.PRNGKey(0), images)

  def loss_fn(params, batch_stats):
    logits, updates = model.apply(
        {'params': params, 'batch_stats': batch_stats}, images,
        mutable=['batch_stats'])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.mean(loss), updates['batch_stats']

  @jax.jit
  def step(params, batch_stats):
    grads, batch_stats = jax.grad(loss_fn, has_aux=True)(params, batch_stats)
    params = jax.tree.map(lambda p, g: p - 0.01 * g, params, grads)
    return params, batch_stats

  return step, (variables['params'], variables['batch_stats'])


def step_table(kernel_sizes):
  print(f'\n## Train step, {STEP_BLOCKS} x (depthwise -> Dense -> BatchNorm '
        f'-> GELU) on [{BATCH}, 8, 8, {CHANNELS}], ms\n')
  print('Median over rounds of each round\'s median step; per conv = (step - '
        f'step without the conv) / {STEP_BLOCKS}.\n')
  implementations = ('none',) + depthwise.IMPLEMENTATIONS + ('auto',)
  images = jax.random.normal(jax.random.PRNGKey(0), (BATCH, 8, 8, CHANNELS))
  labels = jnp.arange(BATCH) % 10
  print('| k | ' + ' | '.join(f'step: {name}' for name in implementations) +
        ' | ' + ' | '.join(f'per conv: {name}'
                           for name in implementations[1:]) + ' |')
  print('|---|' + '---|' * (2 * len(implementations) - 1))
  for k in kernel_sizes:
    steps = {name: make_step(name, k, images, labels)
             for name in implementations}
    rounds = {name: [] for name in implementations}
    for _ in range(FLAGS.rounds):
      for name, (step, state) in steps.items():
        rounds[name].append(median_ms(step, *state))
    step_ms = {name: float(np.median(times)) for name, times in rounds.items()}
    per_conv = [(step_ms[name] - step_ms['none']) / STEP_BLOCKS
                for name in implementations[1:]]
    print(f'| {k} | ' + ' | '.join(f'{step_ms[n]:.1f}' for n in implementations)
          + ' | ' + ' | '.join(f'{t:.1f}' for t in per_conv) + ' |',
          flush=True)


def main(_):
  print(f'# Depthwise conv on {machine_header()}')
  grids = GRIDS[:1] if FLAGS.quick else GRIDS
  step_table(KERNEL_SIZES)
  conv_table(grids)


if __name__ == '__main__':
  app.run(main)
