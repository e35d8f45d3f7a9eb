"""Joining a multi-host run: one program on every host, via jax.distributed.

On a TPU pod slice, and under SLURM, `jax.distributed.initialize()` finds the
coordinator and this process's id by itself (`--distributed`). Elsewhere the
launcher passes them (`--coordinator_address`, `--num_processes`,
`--process_id`). A single-host run initializes nothing.
"""

from absl import logging
import jax


def initialize(auto=False, coordinator_address=None, num_processes=None,
               process_id=None):
  """Starts jax.distributed when asked to; returns whether it did."""
  explicit = (coordinator_address, num_processes, process_id)
  if not auto and all(v is None for v in explicit):
    return False
  if not auto and any(v is None for v in explicit):
    raise ValueError(
        '--coordinator_address, --num_processes and --process_id go '
        'together; pass all three, or --distributed alone on a TPU pod or '
        'under SLURM.')
  # CPU processes need a collectives library to talk to each other; GPU and
  # TPU runs ignore this setting.
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  if auto:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  logging.info('Process %d of %d; %d local and %d global devices.',
               jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())
  return True
