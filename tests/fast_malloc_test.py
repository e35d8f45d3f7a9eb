"""The entry points restart themselves once with the malloc tunables."""

import os
import subprocess
import sys
from unittest import mock

import pytest

from conftest import REPO
from mixer_jax import fast_malloc

_ALL_FOUR = ('glibc.malloc.hugetlb, glibc.malloc.arena_max, '
             'glibc.malloc.mmap_max, glibc.malloc.trim_threshold')

# Prints a line at each start, then what the (restarted) process has.
_PROBE = ('import os; print("start", flush=True); '
          'from mixer_jax import fast_malloc; '
          'fast_malloc.restart_with_tunables(); '
          'print(os.environ.get("GLIBC_TUNABLES"))')


def _probe(**environ):
  env = {k: v for k, v in os.environ.items()
         if k not in ('GLIBC_TUNABLES', fast_malloc.DISABLE_VARIABLE)}
  result = subprocess.run([sys.executable, '-c', _PROBE], cwd=REPO,
                          env={**env, 'JAX_PLATFORMS': 'cpu', **environ},
                          capture_output=True, text=True, timeout=60,
                          check=True)
  lines = result.stdout.splitlines()
  return lines.count('start'), lines[-1]


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='Linux only')
def test_a_command_without_the_tunables_restarts_once_with_them():
  assert _probe() == (2, fast_malloc.MALLOC_TUNABLES)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='Linux only')
def test_the_users_tunables_are_kept_and_the_missing_ones_added():
  starts, tunables = _probe(GLIBC_TUNABLES='glibc.malloc.arena_max=4')
  assert starts == 2
  assert tunables.split(':') == ['glibc.malloc.arena_max=4'] + [
      t for t in fast_malloc.MALLOC_TUNABLES.split(':')
      if not t.startswith('glibc.malloc.arena_max=')]


@pytest.mark.parametrize('environ', [
    {'GLIBC_TUNABLES': fast_malloc.MALLOC_TUNABLES},
    {fast_malloc.DISABLE_VARIABLE: '1'}], ids=['all_set', 'turned_off'])
def test_no_restart_when_set_or_turned_off(environ):
  assert _probe(**environ)[0] == 1


@pytest.mark.parametrize('platform,environ', [
    ('darwin', {'JAX_PLATFORMS': 'cpu'}),
    ('linux', {'JAX_PLATFORMS': 'cuda'}),
    ('linux', {'JAX_PLATFORMS': 'cpu', 'MIXER_JAX_REEXECUTED': '1'})],
                         ids=['off_linux', 'not_on_cpu', 'restarted_once'])
def test_no_restart_off_linux_off_the_cpu_or_a_second_time(
    monkeypatch, platform, environ):
  monkeypatch.setattr(sys, 'platform', platform)
  monkeypatch.delenv('GLIBC_TUNABLES', raising=False)
  monkeypatch.delenv(fast_malloc.DISABLE_VARIABLE, raising=False)
  for name, value in environ.items():
    monkeypatch.setenv(name, value)
  with mock.patch.object(os, 'execve') as execve:
    fast_malloc.restart_with_tunables()
  assert not execve.called


@pytest.mark.parametrize('tunables, missing', [
    (None, _ALL_FOUR),
    ('glibc.malloc.arena_max=2', 'glibc.malloc.hugetlb, glibc.malloc.mmap_max, '
     'glibc.malloc.trim_threshold'),
    ('glibc.malloc.hugetlb=1', 'glibc.malloc.arena_max, glibc.malloc.mmap_max, '
     'glibc.malloc.trim_threshold'),
    (fast_malloc.MALLOC_TUNABLES, None),
    # Any value is the user's choice, not an omission.
    (fast_malloc.MALLOC_TUNABLES.replace('hugetlb=1', 'hugetlb=0'), None)])
def test_a_cpu_run_without_the_malloc_tunables_says_how_to_set_them(
    monkeypatch, tunables, missing):
  monkeypatch.setattr(sys, 'platform', 'linux')
  if tunables is None:
    monkeypatch.delenv('GLIBC_TUNABLES', raising=False)
  else:
    monkeypatch.setenv('GLIBC_TUNABLES', tunables)
  with mock.patch.object(fast_malloc.logging, 'warning') as warning:
    fast_malloc.warn_without_tunables('cpu')
  assert warning.called == (missing is not None)
  if missing is not None:
    message = warning.call_args.args[0] % warning.call_args.args[1:]
    assert message.startswith(f'GLIBC_TUNABLES does not set {missing}: ')
    assert f'GLIBC_TUNABLES={fast_malloc.MALLOC_TUNABLES} ' in message
