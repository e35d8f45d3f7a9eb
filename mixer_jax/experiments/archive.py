"""A run's workdir, packed small enough to commit, so a grid outlives its machine.

A session's machine and work tree can be new each time: a sweep directory
under `runs/` (ignored by git) is gone with them. The sweep writes each run
of its grid to `<archive>/<run name>.tar.gz` when the run finishes or is
preempted (SIGTERM), and unpacks it into an empty workdir before training, so
that committing the archive folder carries the grid to the next machine:

- a finished run: its result.json and TensorBoard event files (kilobytes),
  all that mixer_jax.experiments.report reads; not its weights;
- an unfinished one: its event files and its newest latest and best
  checkpoints, from which train.py resumes bit-identically on the same CPU
  model (XLA's CPU kernels differ in the last bits between models);
- either: its starts (`STARTS`), one line each time the sweep began or
  resumed training it, with the step and the machine, so that a run whose
  steps were computed on different CPU models says so.

While a run trains, `refreshing` packs it again every few minutes, at its
newest checkpoint: a machine lost without a SIGTERM (a session cut off) leaves
an archive at most that old in the work tree, not one from the run's start.
"""

import contextlib
import io
import json
import os
import re
import tarfile
import threading
import time

from absl import logging

from mixer_jax import run_config

_STEP = re.compile(r'\d+')
_MANIFEST = 'ARCHIVED.json'
_CHECKPOINT_DIRS = ('checkpoints', 'best')
STARTS = 'starts.jsonl'


def path(archive, name):
  return os.path.join(archive, f'{name}.tar.gz')


def _newest_step(workdir, directory):
  """The newest checkpoint step in `workdir/directory`, or None."""
  directory = os.path.join(workdir, directory)
  if not os.path.isdir(directory):
    return None
  steps = [int(e) for e in os.listdir(directory) if _STEP.fullmatch(e)]
  return max(steps, default=None)


def record_start(workdir, machine):
  """Appends to the run's starts: training begins at its newest checkpoint."""
  start = {'step': _newest_step(workdir, 'checkpoints') or 0,
           'machine': machine,
           'time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
  with open(os.path.join(workdir, STARTS), 'a') as f:
    f.write(json.dumps(start) + '\n')


def starts(workdir):
  """The run's recorded starts, oldest first ([] before any was recorded)."""
  try:
    with open(os.path.join(workdir, STARTS)) as f:
      return [json.loads(line) for line in f if line.strip()]
  except FileNotFoundError:
    return []


def _progress_of(manifest):
  """Orders a run's states: any step < a later step < finished."""
  return (manifest['finished'], manifest['step'] or 0)


def _progress(workdir):
  """The progress of the run state in `workdir`, or None if it has none."""
  if os.path.exists(os.path.join(workdir, 'result.json')):
    return (True, 0)
  step = _newest_step(workdir, 'checkpoints')
  return None if step is None else (False, step)


def furthest_progress(workdir, archive, name):
  """(finished, step) of the run's furthest state, its workdir's or its
  archive's (`archive` may be None); None if neither holds one. `step` is
  that of the newest checkpoint, 0 once finished."""
  states = [_progress(workdir)]
  if archive and (archived := manifest(archive, name)):
    states.append(_progress_of(archived))
  return max((state for state in states if state), default=None)


def _members(workdir):
  """(Paths relative to `workdir` to pack, the step they hold)."""
  finished = os.path.exists(os.path.join(workdir, 'result.json'))
  # The resolved config too, so that a restored workdir is evaluated,
  # exported or classified with from it alone (mixer_jax.evaluate, ...).
  members = [e for e in sorted(os.listdir(workdir))
             if e.startswith('events.out.tfevents.') or
             e in (STARTS, run_config.FILENAME)]
  step = None
  if finished:
    members.append('result.json')
  else:
    for directory in _CHECKPOINT_DIRS:
      newest = _newest_step(workdir, directory)
      if newest is not None:
        members.append(os.path.join(directory, str(newest)))
        if directory == 'checkpoints':
          step = newest
  return members, {'finished': finished, 'step': step}


def save(workdir, archive, name):
  """Packs `workdir` into the archive, replacing the run's earlier file."""
  members, manifest = _members(workdir)
  os.makedirs(archive, exist_ok=True)
  target = path(archive, name)
  manifest['archived'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
  manifest_bytes = json.dumps(manifest).encode()
  try:
    with tarfile.open(target + '.tmp', 'w:gz') as tar:
      info = tarfile.TarInfo(_MANIFEST)
      info.size, info.mtime = len(manifest_bytes), time.time()
      tar.addfile(info, io.BytesIO(manifest_bytes))
      for member in members:
        tar.add(os.path.join(workdir, member), arcname=member)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(target + '.tmp')
    raise
  os.replace(target + '.tmp', target)  # Never a half-written archive.
  logging.info('%s: archived to %s (%s).', name, target, manifest)


@contextlib.contextmanager
def refreshing(workdir, archive, name, seconds):
  """Packs the run into the archive every `seconds` while the block trains
  it, whenever it has a newer checkpoint than the last time.

  From a background thread, stopped before the block ends, so that the
  archive written when the run finishes or is preempted comes last. A pack
  that fails (orbax removed a replaced best checkpoint while it was read) is
  logged and tried again at the next refresh; the archive keeps its last
  whole version.
  """
  stop = threading.Event()

  def refresh():
    packed_step = None  # As no checkpoint: nothing to resume from yet.
    while not stop.wait(seconds):
      step = _newest_step(workdir, 'checkpoints')
      if step == packed_step:
        continue  # Nothing new since the last pack, or no checkpoint yet.
      try:
        save(workdir, archive, name)
        packed_step = step
      except (OSError, tarfile.TarError) as e:
        logging.warning('%s: refreshing its archive failed (%s); it is tried '
                        'again in %g s.', name, e, seconds)

  thread = threading.Thread(target=refresh, name=f'archive {name}',
                            daemon=True)
  thread.start()
  try:
    yield
  finally:
    stop.set()
    thread.join()


def manifest(archive, name):
  """The run's archived state: {'finished', 'step', 'archived'}; None if the
  archive has no file for it."""
  source = path(archive, name)
  if not os.path.exists(source):
    return None
  with tarfile.open(source) as tar:
    return json.load(tar.extractfile(_MANIFEST))


def restore(archive, name, workdir):
  """Unpacks the run's archive into `workdir` if it holds no run state yet.

  Returns the archive's manifest, or None when there was nothing to restore
  or `workdir` already had state of its own (which is then kept).
  """
  source = path(archive, name)
  if not os.path.exists(source):
    return None
  with tarfile.open(source) as tar:
    manifest = json.load(tar.extractfile(_MANIFEST))
    own = _progress(workdir)
    if own is not None:
      if own < _progress_of(manifest):
        logging.warning('%s: %s has state of its own, older than the archive '
                        '%s (%s); it is kept, and the archive is not unpacked '
                        'over it. To resume from the archive instead, move '
                        'that workdir away.', name, workdir, source, manifest)
      return None
    # The manifest describes the archive, not the workdir: unpacked, it would
    # keep claiming this step after the run has moved on.
    tar.extractall(workdir, filter='data', members=[
        m for m in tar.getmembers() if m.name != _MANIFEST])
  logging.info('%s: restored from %s (%s).', name, source, manifest)
  return manifest
