r"""The train step's page faults, with and without transparent huge pages.

  python benchmarks/page_faults.py --rounds=2     # about 6 minutes on 2 cores
  python benchmarks/page_faults.py --models=seed_hybrid

XLA:CPU allocates the buffers of every step afresh, and glibc's malloc maps
the large ones with new 4 KiB pages, which the kernel faults in and zeroes
at each step. With GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc >= 2.35)
malloc asks for transparent huge pages for them (madvise), 512 times fewer
faults. The step's largest buffer is still mapped and unmapped at each step;
fast_malloc.MALLOC_TUNABLES (one arena, no separate maps, no trimming) keeps
it, and no page is faulted in after the first steps. The numbers do not change: only
where the buffers live does.

Each measurement is a fresh process (the tunable is read when a process
starts) that compiles the trainer's step (benchmarks/run.py) and times
--steps steps after 3 warm-up steps, counting its minor page faults and its
kernel and user CPU seconds (getrusage). The settings alternate, --rounds
rounds (run.py's flag), so that drift in the machine hits all alike; a hash of the steps'
metrics shows that all settings compute the same.
"""

import hashlib
import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax
import numpy as np

import run as benchmark  # benchmarks/run.py, beside this file.
# run puts the repository on sys.path.
from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top,g-bad-import-order
from mixer_jax import fast_malloc  # pylint: disable=g-bad-import-order
from mixer_jax.experiments import sweep  # pylint: disable=g-bad-import-order

SETTINGS = {'4 KiB pages (default)': None,
            'huge pages': fast_malloc.HUGE_PAGES_TUNABLE,
            'huge pages, one arena, kept': fast_malloc.MALLOC_TUNABLES}

flags.DEFINE_list('models', ['nano', 'seed_baseline', 'seed_hybrid'],
                  'nano (no stem), or seed_<baseline|stem|hybrid>.')
flags.DEFINE_string('child', None, 'Internal: measure this model, print JSON.')
FLAGS = flags.FLAGS


def model_config(model):
  if model.startswith('seed_'):
    return config_lib.seed_config('cifar10', model[len('seed_'):])
  return benchmark._config(variant=model)  # pylint: disable=protected-access


def measure(model):
  """Times this process's steps of `model`: ms, faults and CPU s per step."""
  one_step, _, _ = benchmark.compiled_step(model_config(model))
  for _ in range(3):
    jax.block_until_ready(one_step())
  digest = hashlib.sha256()
  before = resource.getrusage(resource.RUSAGE_SELF)
  times = []
  for _ in range(FLAGS.steps):
    start = time.perf_counter()
    metrics = jax.block_until_ready(one_step())
    times.append(time.perf_counter() - start)
    for leaf in jax.tree.leaves(metrics):
      digest.update(np.asarray(leaf).tobytes())
  after = resource.getrusage(resource.RUSAGE_SELF)
  steps = FLAGS.steps
  return {
      'step_ms': 1e3 * float(np.median(times)),
      'minor_faults': (after.ru_minflt - before.ru_minflt) / steps,
      'kernel_s': (after.ru_stime - before.ru_stime) / steps,
      'user_s': (after.ru_utime - before.ru_utime) / steps,
      'metrics_sha256': digest.hexdigest()[:16],
  }


def run_child(model, tunable):
  env = dict(os.environ)
  env.pop('GLIBC_TUNABLES', None)
  if tunable:
    env['GLIBC_TUNABLES'] = tunable
  output = subprocess.run(
      [sys.executable, os.path.abspath(__file__), f'--child={model}',
       f'--steps={FLAGS.steps}'], env=env, check=True, capture_output=True,
      text=True).stdout
  return json.loads(output.strip().splitlines()[-1])


def main(argv):
  del argv
  if FLAGS.child:
    print(json.dumps(measure(FLAGS.child)))
    return
  print(f'{sweep.cpu_description()}, {os.cpu_count()} cores, JAX '
        f'{jax.__version__}, {time.strftime("%Y-%m-%d %H:%M")}; batch 128, '
        f'float32, median of {FLAGS.steps} steps; per step:\n')
  print('| model | pages | round | step ms | minor page faults | kernel CPU s '
        '| user CPU s | metrics hash |\n|---|---|---|---|---|---|---|---|')
  for model in FLAGS.models:
    for round_index in range(FLAGS.rounds):
      for label, tunable in SETTINGS.items():
        result = run_child(model, tunable)
        print(f"| {model} | {label} | {round_index + 1} | "
              f"{result['step_ms']:.0f} | {result['minor_faults']:,.0f} | "
              f"{result['kernel_s']:.3f} | {result['user_s']:.3f} | "
              f"{result['metrics_sha256']} |", flush=True)


if __name__ == '__main__':
  app.run(main)
