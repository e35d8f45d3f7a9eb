r"""Writes a workdir's model in vit_jax's checkpoint format.

  python -m mixer_jax.export --workdir=WORKDIR --out=FILE.npz
      [--checkpoint=best|latest]

Parameters under their '/'-joined paths, BatchNorm statistics under
`batch_stats/` (mixer_jax/vit_checkpoint.py). vit_jax's `checkpoint.load`
reads it; `--config.init_from=FILE.npz` starts a run from it.
"""

import os

from absl import app
from absl import flags

from mixer_jax import checkpointing
from mixer_jax import host
from mixer_jax import train
from mixer_jax import trained
from mixer_jax import vit_checkpoint


def export(workdir, out, checkpoint='best'):
  """Writes the best model of `workdir`, or its latest train state's, to
  `out`; (step, number of arrays)."""
  _, step, variables = trained.variables(workdir, checkpoint,
                                         train.train_state_template)
  host.check_writable(os.path.dirname(os.path.abspath(out)), '--out')
  vit_checkpoint.write(out, variables)
  return step, len(vit_checkpoint.to_flat(variables))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  checkpointing.quiet_orbax_logs()
  with host.exit_codes():
    step, count = export(flags.FLAGS.workdir, flags.FLAGS.out,
                         flags.FLAGS.checkpoint)
  print(f'Wrote the {flags.FLAGS.checkpoint} model of {flags.FLAGS.workdir} '
        f'(step {step}, {count} arrays) to {flags.FLAGS.out}.')


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'The workdir of a training run.')
  flags.DEFINE_string('out', None, 'The .npz file to write.')
  flags.DEFINE_enum('checkpoint', 'best', trained.CHECKPOINT_KINDS,
                    'The best model, or the latest train state\'s.')
  flags.mark_flags_as_required(['workdir', 'out'])
  app.run(main)
