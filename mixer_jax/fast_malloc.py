"""glibc malloc settings that make XLA:CPU's steps faster, and a restart
that gives them to a command that was started without them.

XLA:CPU allocates a step's buffers afresh at every step, and glibc's malloc
maps the large ones with new 4 KiB pages that the kernel faults in and zeroes
each time: about 250,000 faults a step, a quarter to a third of the step on
the 2-core development CPU. glibc reads its tunables only when a process
starts, so an entry point calls `restart_with_tunables()` first thing, before
jax or TensorFlow is imported. This module imports neither.
"""

import importlib.metadata
import importlib.util
import os
import sys

from absl import logging

# With this tunable (glibc >= 2.35) malloc maps large buffers with transparent
# huge pages; the results are bit for bit the same (docs/BENCHMARKS.md, "Page
# faults").
HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1'
# Even then the step's largest buffer (about 1 GB for the seed models at batch
# 128) comes from a thread's arena, whose heaps are 64 MB at most, so malloc
# maps it on its own and unmaps it when it is freed: about 500 huge pages
# faulted in and zeroed again at every step. One arena (the main one, grown by
# sbrk), no separate maps and no trimming keep that memory in the process from
# one step to the next (docs/BENCHMARKS.md, "Page faults").
MALLOC_TUNABLES = ':'.join([
    HUGE_PAGES_TUNABLE, 'glibc.malloc.arena_max=1', 'glibc.malloc.mmap_max=0',
    f'glibc.malloc.trim_threshold={16 << 30}'])

# Set to 1 to keep an entry point from restarting itself with the tunables.
DISABLE_VARIABLE = 'MIXER_JAX_NO_REEXEC'
# Set by the restart, so that a process restarts at most once.
_RESTARTED_VARIABLE = 'MIXER_JAX_REEXECUTED'


def missing_tunables(glibc_tunables):
  """The names of MALLOC_TUNABLES' settings that `glibc_tunables` (the
  variable's value) leaves out; a value other than ours is the user's choice."""
  return [t.split('=')[0] for t in MALLOC_TUNABLES.split(':')
          if t.split('=')[0] + '=' not in glibc_tunables]


def _runs_on_cpu(environ):
  """Whether jax will pick its CPU backend, judged without importing jax:
  JAX_PLATFORMS names cpu first, or it is unset and no accelerator runtime
  (a jax plugin such as CUDA's, or libtpu) is installed."""
  platforms = environ.get('JAX_PLATFORMS', '')
  if platforms:
    return platforms.split(',')[0] == 'cpu'
  return not (importlib.metadata.entry_points(group='jax_plugins') or
              importlib.util.find_spec('jax_plugins') or
              importlib.util.find_spec('libtpu'))


def restart_with_tunables():
  """On a Linux CPU run whose GLIBC_TUNABLES lacks MALLOC_TUNABLES' settings,
  executes this command again, once, with them added.

  Not when MIXER_JAX_NO_REEXEC=1, nor a second time. sys.orig_argv repeats
  the command as typed, `python -m mixer_jax.sweep ...` included.
  """
  environ = os.environ
  given = environ.get('GLIBC_TUNABLES', '')
  missing = missing_tunables(given)
  if (not sys.platform.startswith('linux') or not missing or
      environ.get(DISABLE_VARIABLE) == '1' or _RESTARTED_VARIABLE in environ
      or not _runs_on_cpu(environ)):
    return
  added = [t for t in MALLOC_TUNABLES.split(':') if t.split('=')[0] in missing]
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {
      **environ, _RESTARTED_VARIABLE: '1',
      'GLIBC_TUNABLES': ':'.join(filter(None, [given, *added]))})


def warn_without_tunables(backend):
  """On a Linux CPU run that lacks any of MALLOC_TUNABLES' settings (the
  restart was turned off, or the run does not come from an entry point),
  says how to set them."""
  if not sys.platform.startswith('linux') or backend != 'cpu':
    return
  missing = missing_tunables(os.environ.get('GLIBC_TUNABLES', ''))
  if missing:
    logging.warning(
        'GLIBC_TUNABLES does not set %s: each training step faults in and '
        'zeroes its buffers afresh, which costs up to a quarter of the step on '
        'a CPU. Start the command with GLIBC_TUNABLES=%s (glibc >= 2.35; '
        'results are unchanged); train.py and mixer_jax.sweep add them '
        'themselves unless %s=1.', ', '.join(missing), MALLOC_TUNABLES,
        DISABLE_VARIABLE)
