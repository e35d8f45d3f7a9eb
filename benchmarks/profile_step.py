r"""Where the train step's time goes: op time by model part and op kind.

  python benchmarks/profile_step.py --stem=none --batch=128
  python benchmarks/profile_step.py --stem=dwsep --batch=128
  python benchmarks/profile_step.py --stem=none --batch=128 --dtype=bfloat16
  python benchmarks/profile_step.py --seed_model=hybrid --batch=128

Traces the trainer's compiled step (the same one benchmarks/run.py times) with
jax.profiler, maps each executed XLA op to its instruction in the optimised
HLO, and sums the op times by the model part the instruction came from
(its `op_name` metadata, forward and backward together) and by kind: matmul
or convolution (library calls such as YNNPACK's, with whatever elementwise
work they absorbed), elementwise and reductions, layout copies. A fusion
counts for the op at its root. Prints the untraced step time, then the table
in ms a step, and with --top=N the N costliest op families. Compare XLA
flags by prefixing XLA_FLAGS=... to the command.
"""

import collections
import glob
import gzip
import json
import os
import re
import tempfile

from absl import app
from absl import flags
import jax

import run as benchmark  # benchmarks/run.py, beside this file.
# run puts the repository on sys.path.
from mixer_jax import config_lib  # pylint: disable=g-import-not-at-top,g-bad-import-order
from mixer_jax import flops  # pylint: disable=g-bad-import-order

flags.DEFINE_string('model', 'nano', 'Model variant, e.g. nano or S/4.')
flags.DEFINE_enum('stem', 'none', config_lib.LOCALITY_TYPES,
                  'Type of the locality block after the patch embedding.')
flags.DEFINE_integer('batch', 128, 'Batch size.')
flags.DEFINE_enum('dtype', 'float32', config_lib.COMPUTE_DTYPES,
                  'Input dtype of the matrix products.')
flags.DEFINE_enum('seed_model', None, ('baseline', 'stem', 'hybrid'),
                  "The seed's model and recipe (config_lib.seed_config, its "
                  'augmentations and BatchNorm included) instead of --model '
                  'and --stem.')
flags.DEFINE_integer('top', 0, 'Also list the N costliest op families.')
FLAGS = flags.FLAGS

# The first of these found in an instruction's op_name names its part.
PARTS = ('token_mixing', 'channel_mixing', 'locality_stem', 'locality_after',
         'LayerNorm', 'pre_head_layer_norm', 'head', 'stem')


def instruction_origins(hlo_text):
  """{instruction name: (model part, kind)}."""
  origins = {}
  for line in hlo_text.splitlines():
    match = re.match(r'^\s*(?:ROOT )?%?([\w.\-]+) = (.*)$', line)
    if not match:
      continue
    name, rest = match.groups()
    op_name = re.search(r'op_name="([^"]*)"', rest)
    op_name = op_name.group(1) if op_name else ''
    if 'MlpMixer' in op_name:
      part = next((p for p in PARTS if f'/{p}' in op_name), 'other model ops')
    else:
      part = 'loss, augmentation, optimizer'
    # `rest` starts with the result shape (an array or a tuple), then the op.
    opcode = re.match(r'(?:\([^)]*\)|\S+)\s+([\w-]+)\(', rest)
    opcode = opcode.group(1) if opcode else ''
    if (re.search(r'ynn_fusion|xnn_fusion|onednn', name) or
        opcode in ('dot', 'convolution', 'custom-call')):
      kind = 'matmul/conv'
    elif re.search(r'copy|transpose', name):
      kind = 'layout copies'
    else:
      kind = 'elementwise/reductions'
    origins[name] = (part, kind)
  return origins


def traced_op_times(one_step, steps):
  """{op name: total microseconds} over `steps` traced steps."""
  for _ in range(2):
    jax.block_until_ready(one_step())
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    for _ in range(steps):
      jax.block_until_ready(one_step())
    jax.profiler.stop_trace()
    trace_file, = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'),
                            recursive=True)
    with gzip.open(trace_file) as f:
      events = json.load(f)['traceEvents']
  totals = collections.Counter()
  for event in events:
    if event.get('ph') == 'X':
      totals[event['name']] += event['dur']
  return totals


def flag_config():
  """The config that the flags describe."""
  if FLAGS.seed_model:
    config = config_lib.seed_config('cifar10', FLAGS.seed_model)
    config.batch_size = FLAGS.batch
    config.compute_dtype = FLAGS.dtype
    return config
  return benchmark._config(variant=FLAGS.model, stem=FLAGS.stem,  # pylint: disable=protected-access
                           batch_size=FLAGS.batch, compute_dtype=FLAGS.dtype)


def model_description(config):
  return (f'{config.model.model_name}, stem {config.model.locality.type}, '
          f'{flops.num_locality_blocks(config.model)} locality block(s), '
          f'{config.compute_dtype}, batch {config.batch_size}')


def main(_):
  config = flag_config()
  one_step, _, hlo_text = benchmark.compiled_step(config)
  origins = instruction_origins(hlo_text)
  step_seconds = benchmark._median_seconds(one_step, steps=12, warmup=3)  # pylint: disable=protected-access
  steps = 5
  millis = {name: micros / steps / 1e3
            for name, micros in traced_op_times(one_step, steps).items()
            if name in origins}
  table = collections.defaultdict(collections.Counter)
  for name, op_millis in millis.items():
    part, kind = origins[name]
    table[part][kind] += op_millis
  kinds = ('matmul/conv', 'elementwise/reductions', 'layout copies')
  total = sum(millis.values())
  print(f'{model_description(config)} on {jax.devices()[0].device_kind} '
        f'({os.cpu_count()} cores): the step '
        f'takes {1e3 * step_seconds:.1f} ms (median of 12, untraced), '
        f'{total:.1f} ms of XLA ops traced\n')
  print('| part | ' + ' | '.join(kinds) + ' | total | share |')
  print('|---|' + '---|' * (len(kinds) + 2))
  rows = sorted(table.items(), key=lambda item: -sum(item[1].values()))
  for part, row in rows:
    cells = ' | '.join(f'{row[k]:.1f}' for k in kinds)
    row_total = sum(row.values())
    print(f'| {part} | {cells} | {row_total:.1f} | '
          f'{100 * row_total / total:.0f}% |')
  sums = ' | '.join(f'**{sum(r[k] for r in table.values()):.1f}**'
                    for k in kinds)
  print(f'| **all** | {sums} | **{total:.1f}** | |')
  if FLAGS.top:
    # XLA numbers each instance of an op family: ynn_fusion.12, ynn_fusion.13.
    families = collections.defaultdict(lambda: [0, 0.0])
    for name, op_millis in millis.items():
      family = families[re.sub(r'\.\d+$', '', name)]
      family[0] += 1
      family[1] += op_millis
    print('\n| op family (optimised HLO) | ops | ms a step |\n|---|---|---|')
    costliest = sorted(families.items(), key=lambda item: -item[1][1])
    for family, (count, family_millis) in costliest[:FLAGS.top]:
      print(f'| {family} | {count} | {family_millis:.1f} |')


if __name__ == '__main__':
  app.run(main)
