r"""What bounding the steps in flight (host.MAX_STEPS_IN_FLIGHT) costs and buys.

  python benchmarks/steps_in_flight.py --tfds_data_dir=../shared/data/tfds \
      --config=configs/hybrid_cifar10.py --cpu=1 --steps=20 --rounds=3

(1) Cost: the trainer's step on one fixed batch, timed over --steps steps
    with at most MAX_STEPS_IN_FLIGHT queued and with none waited for until
    the last, alternating for --rounds rounds; the median seconds per step of
    each.
(2) Gain: train.py on a fresh workdir, logging only every 1,000 steps (no
    host sync in between, the case the bound is for), trains for
    --train_seconds after its first progress report and is sent SIGTERM; the
    seconds until it has saved its checkpoint and exited. A cloud preemption
    notice gives about 30 s (Compute Engine).
With --cpu, both run pinned to that core, as a sweep worker runs under taskset.
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top
from mixer_jax import host
import run  # pylint: disable=g-import-not-at-top  # Also --steps, --rounds.

FLAGS = flags.FLAGS
flags.DEFINE_string('config', 'configs/hybrid_cifar10.py', 'The config.')
flags.DEFINE_string('tfds_data_dir', None, 'A prepared tfds data dir.')
flags.DEFINE_integer('cpu', None, 'Pin to this core, as taskset does.')
flags.DEFINE_float('train_seconds', 120, '(2): training time before SIGTERM.')
flags.mark_flag_as_required('tfds_data_dir')

_PROGRESS = re.compile(r'\[\d+\] steps_per_sec=')
_STOPPED = re.compile(r'Stopped by SIGTERM .* after step (\d+)')


def seconds_per_step(one_step, steps, bounded):
  start = time.perf_counter()
  updates = []
  for _ in range(steps):
    updates.append(one_step())
    if bounded:
      host.bound_steps_in_flight(updates)
  jax.block_until_ready(updates)
  return (time.perf_counter() - start) / steps


def step_cost():
  config = config_lib.load_config_file(FLAGS.config)
  one_step, _, _ = run.compiled_step(config)
  jax.block_until_ready([one_step() for _ in range(3)])  # Warm up.
  times = {'bounded': [], 'unbounded': []}
  for _ in range(FLAGS.rounds):
    times['bounded'].append(seconds_per_step(one_step, FLAGS.steps, True))
    times['unbounded'].append(seconds_per_step(one_step, FLAGS.steps, False))
  bounded, unbounded = (statistics.median(times[k])
                        for k in ('bounded', 'unbounded'))
  print(f'{FLAGS.config}, batch {config.batch_size}: {bounded:.3f} s a step '
        f'with at most {host.MAX_STEPS_IN_FLIGHT} in flight, '
        f'{unbounded:.3f} s unbounded ({bounded / unbounded:.3f}x; median '
        f'of {FLAGS.rounds} alternating rounds of {FLAGS.steps} steps)')


def preemption_latency():
  with tempfile.TemporaryDirectory() as workdir:
    process = subprocess.Popen(
        [sys.executable, 'train.py', f'--config={FLAGS.config}',
         f'--workdir={workdir}', f'--config.tfds_data_dir={FLAGS.tfds_data_dir}',
         '--config.log_every_steps=1000'],
        stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True)
    lines, deadline, sent = [], None, None
    for line in process.stdout:
      lines.append(line)
      if deadline is None and _PROGRESS.search(line):
        deadline = time.monotonic() + FLAGS.train_seconds
      if sent is None and deadline is not None and time.monotonic() > deadline:
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
    process.wait()
    exited = time.monotonic()
  stopped = _STOPPED.search(''.join(lines))
  if sent is None or not stopped:
    sys.exit('train.py ended before it was sent SIGTERM, or did not save '
             'on it; its log ends:\n' + ''.join(lines[-20:]))
  print(f'{FLAGS.config}: SIGTERM to exit {exited - sent:.1f} s, with its '
        f'checkpoint at step {stopped.group(1)}')


def main(argv):
  del argv
  if FLAGS.cpu is not None:
    os.sched_setaffinity(0, {FLAGS.cpu})  # Inherited by train.py too.
  step_cost()
  preemption_latency()


if __name__ == '__main__':
  app.run(main)
