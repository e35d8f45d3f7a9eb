"""benchmarks/profile_step.py maps profiled ops back to the model's parts."""

import sys

from conftest import REPO
from conftest import tiny_config

# benchmarks/ is a folder of scripts, not a package; profile_step imports run.
sys.path.insert(0, str(REPO / 'benchmarks'))
import profile_step  # pylint: disable=g-import-not-at-top,wrong-import-position
import run as benchmark  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_the_profile_attributes_traced_ops_to_model_parts_and_kinds():
  one_step, _, hlo_text = benchmark.compiled_step(tiny_config())
  origins = profile_step.instruction_origins(hlo_text)
  times = profile_step.traced_op_times(one_step, steps=2)
  seen = {origins[name] for name in times if name in origins}
  parts = {part for part, _ in seen}
  assert {'channel_mixing', 'token_mixing', 'LayerNorm', 'locality_stem',
          'loss, augmentation, optimizer'} <= parts
  assert ('channel_mixing', 'matmul/conv') in seen
  assert ('LayerNorm', 'elementwise/reductions') in seen
