"""The benchmark scripts' own logic: the profile's op attribution, the machine
description."""

import subprocess
import sys
import types

import pytest

from conftest import REPO
from conftest import tiny_config

# benchmarks/ is a folder of scripts, not a package; profile_step imports run.
sys.path.insert(0, str(REPO / 'benchmarks'))
import profile_step  # pylint: disable=g-import-not-at-top,wrong-import-position
import page_faults  # pylint: disable=g-import-not-at-top,wrong-import-position
import run as benchmark  # pylint: disable=g-import-not-at-top,wrong-import-position

from mixer_jax import fast_malloc  # pylint: disable=g-bad-import-order
from mixer_jax.experiments import sweep  # pylint: disable=g-bad-import-order


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


def test_the_locality_blocks_between_mixer_blocks_are_a_part_of_their_own():
  hlo = ('  %fusion.7 = f32[128,8,8,128]{3,2,1,0} fusion(%p), kind=kLoop, '
         'metadata={op_name="jit(f)/jvp(MlpMixer)/locality_after_MixerBlock_1'
         '/BatchNorm_0/sub"}')
  assert profile_step.instruction_origins(hlo) == {
      'fusion.7': ('locality_after', 'elementwise/reductions')}


def test_the_machine_description_names_the_generation_and_bf16_instructions(
    tmp_path):
  def described(flags_line, family=''):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text(f'processor\t: 0\n{family}model name\t: Some CPU\n'
                       f'flags\t\t: {flags_line}\n\nprocessor\t: 1\n'
                       f'model name\t: Another CPU\n')
    return sweep.cpu_description(str(cpuinfo))

  assert described('fma avx512f avx512_bf16 amx_bf16 amx_tile') == (
      'Some CPU (AMX, AVX-512-BF16)')
  assert described('fma avx512f avx512_bf16') == 'Some CPU (AVX-512-BF16)'
  assert described('fma avx2') == 'Some CPU (no bf16 matrix instructions)'
  # One model name, two generations: the family and model tell them apart.
  assert described('avx512_bf16', 'cpu family\t: 26\nmodel\t\t: 2\n') == (
      'Some CPU (family 26, model 2; AVX-512-BF16)')


def test_interleaved_rounds_give_one_row_per_config():
  configs = [tiny_config(), tiny_config(batch_size=8)]
  rows = benchmark.train_step_rows(configs, {'float32': 1e11}, steps=1,
                                   warmup=1, rounds=2)
  assert [row['batch'] for row in rows] == [16, 8]
  for row in rows:
    assert row['images_per_sec'] > 0 and 0 < row['utilisation'] < 1


def test_step_ratios_alternate_steps_so_a_slow_spell_cancels(monkeypatch):
  now = [0.0]
  calls = [0]

  def step(seconds):
    def one_step():
      calls[0] += 1
      spell = 1.5 if 20 <= calls[0] < 50 else 1.0  # A slow minute.
      now[0] += seconds * spell
    return one_step

  monkeypatch.setattr(benchmark.time, 'perf_counter', lambda: now[0])
  # Timed one after the other, the spell would fall on b's steps only.
  assert benchmark.step_ratio(step(1.0), step(3.0), steps=30,
                              warmup=2) == 3.0
  configs = [tiny_config(), tiny_config(**{'model.locality.type': 'none'}),
             tiny_config(compute_dtype='bfloat16')]
  compiled = [(step(s), None, None) for s in (1.2, 1.0, 0.6)]
  rows = benchmark.ratio_rows(configs, compiled, steps=5, warmup=1,
                              batch_size=configs[0].batch_size)
  assert rows == [
      {'ratio': 'locality cost', 'model': configs[0].model.model_name,
       'dtype': 'float32', 'value': pytest.approx(1.2)},
      {'ratio': 'bf16 speed-up', 'model': configs[0].model.model_name,
       'stem': 'dwsep', 'value': pytest.approx(2.0)}]


@pytest.mark.parametrize('setting', list(page_faults.SETTINGS))
def test_each_page_faults_child_runs_under_its_settings_tunables_alone(
    monkeypatch, setting):
  # Importing page_faults beside run.py and profile_step.py also checks that
  # their absl flags do not clash.
  assert list(page_faults.SETTINGS.values()) == [
      None, fast_malloc.HUGE_PAGES_TUNABLE, fast_malloc.MALLOC_TUNABLES]
  monkeypatch.setenv('GLIBC_TUNABLES', 'glibc.malloc.arena_max=8')
  children = []

  def child(command, env, **kwargs):
    children.append((command, env.get('GLIBC_TUNABLES')))
    return subprocess.CompletedProcess(command, 0, stdout='{"step_ms": 1}\n')

  monkeypatch.setattr(page_faults.subprocess, 'run', child)
  monkeypatch.setattr(page_faults, 'FLAGS', types.SimpleNamespace(steps=2))
  assert page_faults.run_child('nano', page_faults.SETTINGS[setting]) == {
      'step_ms': 1}
  # The calling shell's own tunables never reach a child: the default
  # setting is glibc's defaults.
  [(command, tunables)] = children
  assert command[-2:] == ['--child=nano', '--steps=2']
  assert tunables == page_faults.SETTINGS[setting]
