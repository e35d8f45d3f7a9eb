"""Saves to both checkpoint managers back to back, as every evaluation step
of a run does, in one process of a multi-process job.

  python tests/back_to_back_saves.py WORKDIR NUM_SAVES COORDINATOR \
      NUM_PROCESSES PROCESS_ID

Process 1 lags behind process 0 by random fractions of a second, as hosts
do, so that one manager's background finalize and the other's save meet in
their cross-process barriers. Exits 0 once every save has landed on every
process.
"""

import random
import sys
import time

import flax
import jax
import ml_collections
import numpy as np

from mixer_jax import checkpointing
from mixer_jax import distributed


@flax.struct.dataclass
class _State:
  """What the managers read of a train state: all of it, or the model."""
  params: dict
  batch_stats: dict


def main(workdir, num_saves, coordinator, num_processes, process_id):
  distributed.initialize(False, coordinator, int(num_processes),
                         int(process_id))
  config = ml_collections.ConfigDict({
      'model': {'model_name': 'tiny', 'locality': {'type': 'none'}},
      'num_classes': 10, 'keep_checkpoints': 3})
  checkpoints = checkpointing.Checkpoints(workdir, config)
  state = _State(params={'w': np.zeros((64, 64), np.float32)},
                 batch_stats={})
  for step in range(1, int(num_saves) + 1):
    checkpoints.save(state, step)
    if jax.process_index() == 1:
      time.sleep(random.uniform(0, 0.1))
    checkpoints.save_if_best(state, step, accuracy=step)
  checkpoints.wait_until_finished()
  checkpoints.close()
  assert checkpoints.latest.latest_step() == int(num_saves)
  assert checkpoints.best.latest_step() == int(num_saves)


if __name__ == '__main__':
  main(*sys.argv[1:])
