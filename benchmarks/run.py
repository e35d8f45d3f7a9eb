r"""Throughput benchmarks: train step, input pipeline, PyTorch peer, scaling.

  python benchmarks/run.py --out=docs/benchmarks   # about 20 min on 2 cores

Writes results.json, a Markdown table (results.md) and the plots into --out;
docs/BENCHMARKS.md reproduces them with the machine and date. The PyTorch peer
runs when torch is installed (pip install -e '.[bench]'), else it is skipped.
Every timing is the median over --steps steps after --warmup steps, with the
device synchronised around each step; the headline train steps are timed in
--rounds interleaved rounds, and each reports the median of its rounds; the
ratios that the targets are about (hybrid / baseline, float32 / bf16) come
from the two steps timed alternately, step by step (`step_ratio`).
On a Linux CPU, run it as the trainer runs, with
GLIBC_TUNABLES set to mixer_jax.fast_malloc.MALLOC_TUNABLES (fast_malloc.py says why).
"""

import functools
import importlib.util
import json
import os
import sys
import time

from absl import app
from absl import flags
from flax import jax_utils
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top
from mixer_jax import flops
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax.experiments import sweep

flags.DEFINE_string('out', 'docs/benchmarks', 'Where results go.')
flags.DEFINE_integer('steps', 12, 'Timed steps per measurement.')
flags.DEFINE_integer('warmup', 3, 'Untimed steps first.')
flags.DEFINE_integer('rounds', 3, 'Interleaved rounds over the headline '
                     'train steps; the ratios alternate steps * rounds steps.')
flags.DEFINE_bool('quick', False, 'Only the headline rows (for a smoke run).')
FLAGS = flags.FLAGS


def _median_seconds(fn, steps, warmup):
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def matmul_peak(steps, warmup, dtype='float32'):
  """The best matmul rate of XLA here, in FLOP/s, for the products that a
  `compute_dtype` train step runs: float32, or bf16 inputs with float32
  accumulation."""
  best = 0.0
  for n in (1024, 2048):
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n)).astype(dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n)).astype(dtype)
    matmul = jax.jit(functools.partial(jnp.dot,
                                       preferred_element_type=jnp.float32))
    best = max(best, 2 * n**3 / _median_seconds(lambda: matmul(a, b), steps,
                                                 warmup))
  return best


def _config(variant='nano', stem='none', batch_size=128, **overrides):
  config = config_lib.get_config('cifar10', variant, stem)
  config.batch_size = batch_size
  for key, value in overrides.items():
    config[key] = value
  return config


def _with_dtype(config, dtype):
  config = config.copy_and_resolve_references()
  config.compute_dtype = dtype
  return config


def compiled_step(config):
  """The trainer's pmapped step on one fixed batch, as a no-argument call.

  Returns (one_step, XLA's cost analysis, the optimised HLO text).
  """
  schedule = train.learning_rate_schedule(config, 100, 1000)
  state = train.create_train_state(
      config, train.create_model(config),
      train.create_optimizer(config, schedule), jax.random.PRNGKey(0))
  p_step = jax.pmap(functools.partial(train.train_step, config=config,
                                      schedule=schedule),
                    axis_name=train.AXIS, donate_argnums=(0,))
  rng = np.random.default_rng(0)
  split = input_pipeline.Split(
      rng.integers(0, 256, (config.batch_size, 32, 32, 3), dtype=np.uint8),
      rng.integers(0, 10, (config.batch_size,), dtype=np.int32))
  batch = jax.device_put(next(input_pipeline.train_batches(
      split, config.batch_size, 0)))
  key = jax_utils.replicate(jax.random.PRNGKey(0), axis_name=train.AXIS)
  state = jax_utils.replicate(state, axis_name=train.AXIS)
  compiled = p_step.lower(state, batch, key).compile()
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, list) else analysis
  box = [state]

  def one_step():
    box[0], metrics = p_step(box[0], batch, key)
    return metrics

  return one_step, analysis, compiled.as_text()


def train_step_rows(configs, peaks, steps, warmup, rounds=1, compiled=None):
  """Images/s and utilisation (of the peak for its dtype) of each config's
  compiled, pmapped train step (`compiled`: compiled_step's of `configs`,
  compiled here if not given).

  The configs are timed in `rounds` interleaved rounds, and each one's step
  time is the median of its rounds: on a shared machine steps can run 1.5x
  slower for minutes at a time. The ratios that the targets are about come
  from `step_ratio` instead.
  """
  compiled = compiled or [compiled_step(config) for config in configs]
  seconds = [[] for _ in configs]
  for _ in range(rounds):
    for times, (one_step, _, _) in zip(seconds, compiled):
      times.append(_median_seconds(one_step, steps, warmup))
  return [{**_train_step_row(config, analysis, float(np.median(times)), peaks),
           'round_ms': [1e3 * t for t in times]}
          for config, (_, analysis, _), times in zip(configs, compiled,
                                                     seconds)]


def step_ratio(step_a, step_b, steps, warmup):
  """Median over `steps` of (time of b's step) / (time of a's step right
  before it): the two steps alternate, so both run in the same spell of
  this machine. (On the 2-vCPU VM of docs/BENCHMARKS.md the slowest round
  of one headline step took twice its fastest: `round_ms` in results.json.)"""
  for _ in range(warmup):
    jax.block_until_ready(step_a())
    jax.block_until_ready(step_b())
  ratios = []
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(step_a())
    middle = time.perf_counter()
    jax.block_until_ready(step_b())
    ratios.append((time.perf_counter() - middle) / (middle - start))
  return float(np.median(ratios))


def ratio_rows(configs, compiled, steps, warmup, batch_size=128):
  """The targets' ratios at `batch_size`, each from `step_ratio`: hybrid
  step / baseline step per model and dtype, and float32 step / bf16 step per
  model and stem."""
  by_key = {(c.model.model_name, c.model.locality.type, c.compute_dtype): step
            for c, (step, _, _) in zip(configs, compiled)
            if c.batch_size == batch_size}
  rows = []
  for (model, stem, dtype), step in by_key.items():
    if stem == 'none' and (model, 'dwsep', dtype) in by_key:
      rows.append({'ratio': 'locality cost', 'model': model, 'dtype': dtype,
                   'value': step_ratio(step, by_key[model, 'dwsep', dtype],
                                       steps, warmup)})
  for (model, stem, dtype), step in by_key.items():
    if dtype == 'float32' and (model, stem, 'bfloat16') in by_key:
      rows.append({'ratio': 'bf16 speed-up', 'model': model, 'stem': stem,
                   'value': step_ratio(by_key[model, stem, 'bfloat16'], step,
                                       steps, warmup)})
  return rows


def _train_step_row(config, analysis, seconds, peaks):
  per_image = flops.train_flops(config.model, 32, config.num_classes)
  images_per_sec = config.batch_size / seconds
  return {
      'model': config.model.model_name, 'stem': config.model.locality.type,
      'blocks': flops.num_locality_blocks(config.model),
      'batch': config.batch_size, 'dtype': config.compute_dtype,
      'images_per_sec': images_per_sec, 'step_ms': 1e3 * seconds,
      'gflop_per_image': per_image / 1e9,
      'xla_gflop_per_image': analysis.get('flops', float('nan')) /
                             config.batch_size / jax.local_device_count() / 1e9,
      'utilisation': images_per_sec * per_image / peaks[config.compute_dtype],
  }


def input_pipeline_row(batch_size, steps):
  """The pipeline alone: host batches, transfer, on-device augmentation."""
  config = _config(batch_size=batch_size)
  rng = np.random.default_rng(0)
  split = input_pipeline.Split(
      rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
      rng.integers(0, 10, (50_000,), dtype=np.int32))

  @jax.pmap
  def augment_batch(batch, key):
    from mixer_jax import augment  # pylint: disable=g-import-not-at-top
    keys = jax.random.split(key, batch['image'].shape[0])
    images = augment.per_example(keys, batch['image'], config.augment)
    return augment.normalize(images, (0.5,) * 3, (0.25,) * 3)

  key = jax_utils.replicate(jax.random.PRNGKey(0))
  batches = jax_utils.prefetch_to_device(
      input_pipeline.train_batches(split, batch_size, 0), 2)
  jax.block_until_ready(augment_batch(next(batches), key))
  start = time.perf_counter()
  for _ in range(steps * 4):
    out = augment_batch(next(batches), key)
  jax.block_until_ready(out)
  return {'batch': batch_size,
          'images_per_sec': steps * 4 * batch_size /
                            (time.perf_counter() - start)}


# The JAX rows (model, stem) that each PyTorch peer model mirrors.
_TORCH_PEERS = {('Mixer-nano_4', 'none'): ('nano', 'baseline'),
                ('Mixer-nano_4', 'dwsep'): ('nano', 'stem'),
                ('Mixer-seed_4', 'none'): ('seed', 'baseline'),
                ('Mixer-seed_4', 'dwsep'): ('seed', 'hybrid')}
TORCH_PRECISIONS = ('float32', 'bf16_autocast', 'compile')


def torch_rows(steps, warmup, quick):
  """The PyTorch peer: the nano models at batch 128 and 512 in float32, and
  every peer model at batch 128 in each of TORCH_PRECISIONS."""
  if importlib.util.find_spec('torch') is None:
    return []
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import torch_peer  # pylint: disable=g-import-not-at-top
  cases = [(jax_row, 512, 'float32') for jax_row in list(_TORCH_PEERS)[:2]]
  cases += [(jax_row, 128, precision) for jax_row in _TORCH_PEERS
            for precision in (TORCH_PRECISIONS[:1] if quick else
                              TORCH_PRECISIONS)]
  rows = []
  for (model, stem), batch, precision in cases:
    result = torch_peer.images_per_second(
        *_TORCH_PEERS[model, stem], batch, precision=precision, steps=steps,
        warmup=warmup, threads=os.cpu_count())
    rows.append({**result, 'model': model, 'stem': stem})
    print(json.dumps(rows[-1]), flush=True)
  return rows


def _plot(results, out):
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  nano = [r for r in results['train_step']
          if (r['stem'], r['dtype']) == ('none', 'float32')]
  rows = sorted(results['batch_scaling'] + nano, key=lambda r: r['batch'])
  axes[0].plot([r['batch'] for r in rows], [r['images_per_sec'] for r in rows],
               'o-')
  axes[0].set(xscale='log', xlabel='global batch', ylabel='images/s',
              title='nano baseline: images/s vs batch')
  rows = [r for r in nano if r['batch'] == 128] + results['model_scaling']
  labels = [f"{r['model']}\n{r['gflop_per_image']:.2f} GFLOP/img"
            for r in rows]
  axes[1].bar(labels, [r['images_per_sec'] for r in rows])
  axes[1].set(ylabel='images/s', title='images/s vs model (batch 128)')
  fig.suptitle(results['machine'])
  fig.tight_layout()
  fig.savefig(os.path.join(out, 'scaling.png'), dpi=100)


def _torch_table(results):
  """JAX against the PyTorch peer, same model and batch, at equal precision:
  float32 against eager float32, bf16 against eager bf16 autocast."""
  jax_rate = {(r['model'], r['stem'], r['batch'], r['dtype']):
              r['images_per_sec'] for r in results['train_step']}
  torch_rate = {(r['model'], r['stem'], r['batch'], r['precision']):
                r['images_per_sec'] for r in results['torch']}
  lines = ['| model | stem | batch | JAX float32 | JAX bf16 | PyTorch eager '
           'float32 | PyTorch eager bf16 autocast | torch.compile float32 | '
           'JAX / PyTorch, float32 | JAX / PyTorch, bf16 |',
           '|---|---|---|---|---|---|---|---|---|---|']
  fmt = lambda rate: 'n/a' if rate is None else f'{rate:.1f}'
  ratio = lambda a, b: 'n/a' if None in (a, b) else f'{a / b:.2f}x'
  for model, stem, batch in sorted({key[:3] for key in torch_rate}):
    jax32, jax16 = (jax_rate.get((model, stem, batch, d))
                    for d in ('float32', 'bfloat16'))
    eager32, eager16, compiled = (torch_rate.get((model, stem, batch, p))
                                  for p in TORCH_PRECISIONS)
    lines.append(f'| {model} | {stem} | {batch} | {fmt(jax32)} | '
                 f'{fmt(jax16)} | {fmt(eager32)} | {fmt(eager16)} | '
                 f'{fmt(compiled)} | {ratio(jax32, eager32)} | '
                 f'{ratio(jax16, eager16)} |')
  failed = [f"{r['model']} {r['stem']} {r['precision']}: {r['error']}"
            for r in results['torch'] if r.get('error')]
  lines += [f'\nFailed: {f}' for f in failed]
  return '\n'.join(lines)


def _markdown(results):
  peaks = ', '.join(f'{dtype} {gflops:.0f}'
                    for dtype, gflops in results['peak_gflops'].items())
  lines = [f"Machine: {results['machine']}; JAX {results['jax']}; "
           f"{results['date']}. Matmul peak (the best of 1024^3 and 2048^3 "
           f"jnp.dot, float32 accumulation, measured), GFLOP/s: {peaks}. "
           f"Utilisation is "
           f"against the peak of the step's dtype.", '',
           '| model | stem | locality blocks | batch | dtype | images/s | step '
           'ms | GFLOP/img (analytic) | GFLOP/img (XLA) | utilisation of peak |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for section in ('train_step', 'batch_scaling', 'model_scaling'):
    for r in results[section]:
      lines.append(
          f"| {r['model']} | {r['stem']} | {r.get('blocks', 0)} | "
          f"{r['batch']} | {r['dtype']} | "
          f"{r['images_per_sec']:.1f} | {r['step_ms']:.0f} | "
          f"{r['gflop_per_image']:.3f} | {r['xla_gflop_per_image']:.3f} | "
          f"{100 * r['utilisation']:.1f}% |")
  targets = {'Mixer-nano_4': 1.05, 'Mixer-seed_4': 1.25}
  lines += ['', '| locality cost at batch 128 (alternating steps) | dtype | '
            'hybrid step / baseline step | target |', '|---|---|---|---|']
  lines += [f"| {r['model']} | {r['dtype']} | {r['value']:.2f}x | "
            f"<= {targets[r['model']]}x |"
            for r in results['ratios'] if r['ratio'] == 'locality cost']
  lines += ['', '| bf16 speed-up at batch 128 (alternating steps) | stem | '
            'float32 step / bf16 step | target |', '|---|---|---|---|']
  lines += [f"| {r['model']} | {r['stem']} | {r['value']:.2f}x | >= 1.4x |"
            for r in results['ratios'] if r['ratio'] == 'bf16 speed-up']
  lines += ['', '| input pipeline alone, batch | images/s |', '|---|---|']
  lines += [f"| {r['batch']} | {r['images_per_sec']:.0f} |"
            for r in results['input_pipeline']]
  if results['torch']:
    lines += ['', _torch_table(results)]
  else:
    lines += ['', 'PyTorch peer: skipped (torch not installed).']
  return '\n'.join(lines) + '\n'


def main(_):
  os.makedirs(FLAGS.out, exist_ok=True)
  steps, warmup = FLAGS.steps, FLAGS.warmup
  peaks = {dtype: matmul_peak(steps, warmup, dtype)
           for dtype in config_lib.COMPUTE_DTYPES}
  results = {
      'machine': f'{sweep.cpu_description()}, {os.cpu_count()} cores, {jax.devices()[0].device_kind}',
      'jax': jax.__version__, 'date': time.strftime('%Y-%m-%d'),
      'peak_gflops': {dtype: peak / 1e9 for dtype, peak in peaks.items()},
  }
  headline = [_config(stem=stem, batch_size=batch)
              for stem in ('none', 'dwsep') for batch in (128, 512)]
  # The seed's models and recipe (its augmentations and BatchNorm included).
  headline += [config_lib.seed_config('cifar10', blocks)
               for blocks in ('baseline', 'hybrid')]
  if not FLAGS.quick:
    headline += [_with_dtype(config, 'bfloat16') for config in headline
                 if config.batch_size == 128]
  compiled = [compiled_step(config) for config in headline]
  results['train_step'] = train_step_rows(headline, peaks, steps, warmup,
                                          FLAGS.rounds, compiled)
  results['ratios'] = ratio_rows(headline, compiled, steps * FLAGS.rounds,
                                 warmup)
  del compiled
  print(json.dumps(results['train_step']), flush=True)
  batch_sizes = (32, 64, 256, 1024) if not FLAGS.quick else ()
  results['batch_scaling'] = train_step_rows(
      [_config(batch_size=b) for b in batch_sizes], peaks, steps, warmup)
  models = ['S/4', 'nano/2'] if not FLAGS.quick else []
  results['model_scaling'] = train_step_rows(
      [_config(variant=v) for v in models], peaks, max(steps // 2, 3), 2)
  results['input_pipeline'] = [input_pipeline_row(b, steps)
                               for b in (128, 512)]
  results['torch'] = torch_rows(steps, warmup, FLAGS.quick)
  with open(os.path.join(FLAGS.out, 'results.json'), 'w') as f:
    json.dump(results, f, indent=1)
  table = _markdown(results)
  with open(os.path.join(FLAGS.out, 'results.md'), 'w') as f:
    f.write(table)
  _plot(results, FLAGS.out)
  print(table)


if __name__ == '__main__':
  app.run(main)
