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


def test_plain_dots_count_as_matmuls_whatever_their_shape():
  hlo = '\n'.join([
      '  %dot.3 = f32[128,64,64]{2,1,0} dot(f32[128,64,128]{2,1,0} %a, '
      'f32[128,128,64]{2,1,0} %b), metadata={op_name="jit(f)/jvp(MlpMixer)'
      '/MixerBlock_0/token_mixing/Dense_0/dot_general"}',
      '  ROOT %tuple.1 = (f32[2]{0}, f32[3]{0}) tuple(f32[2]{0} %x, '
      'f32[3]{0} %y)',
      '  %copy_bitcast_fusion = f32[64,16384]{1,0} fusion(%p), kind=kLoop',
  ])
  assert profile_step.instruction_origins(hlo) == {
      'dot.3': ('token_mixing', 'matmul/conv'),
      'tuple.1': ('loss, augmentation, optimizer', 'elementwise/reductions'),
      'copy_bitcast_fusion': ('loss, augmentation, optimizer',
                              'layout copies')}
