"""CIFAR through tfds, held in host memory; batches by index, sharded by host.

tfds reads each split once, at start-up, into uint8 arrays (CIFAR-10 is 150 MB).
After that no TensorFlow runs: every global batch is a slice of a per-epoch
permutation that is a pure function of (seed, epoch), so

* a resumed run continues the exact data order from its step,
* each process takes only its own rows of every global batch (disjoint data
  across hosts), and the global batch is the same whatever the number of hosts
  and devices,
* augmentation runs on the device, inside the jitted step (`augment.py`).
"""

import dataclasses
import functools
import socket
import urllib.parse
from typing import Iterator

import jax
import numpy as np


class DataError(RuntimeError):
  """The data cannot be had; the message says where it looked and what to do."""


@dataclasses.dataclass(frozen=True)
class Split:
  images: np.ndarray  # [N, H, W, C] uint8
  labels: np.ndarray  # [N] int32

  def __len__(self):
    return len(self.labels)


def _read_split(builder, split):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # Batched reads, not batch_size=-1, which needs a known split size (and
  # tfds.testing.mock_data knows none).
  dataset = builder.as_dataset(split=split, as_supervised=True,
                               shuffle_files=False).batch(8192)
  images, labels = zip(*tfds.as_numpy(dataset))
  return Split(np.concatenate(images).astype(np.uint8),
               np.concatenate(labels).astype(np.int32))


def _builder(name, data_dir):
  """The tfds builder for `name`, prepared; a DataError when it cannot be."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(f'tfds has no dataset named {name!r}. Set config.dataset '
                    f'to cifar10 or cifar100.') from e
  if builder.is_prepared():
    return builder
  try:
    _check_download_host(builder)
    builder.download_and_prepare()
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(
        f'Dataset {name!r} is not prepared in {builder.data_dir} and could '
        f'not be downloaded ({type(e).__name__}). Either run where tfds can '
        f'download it, or point --config.tfds_data_dir (or $TFDS_DATA_DIR) at '
        f'a directory that holds a prepared copy, e.g. '
        f'--config.tfds_data_dir=../shared/data/tfds for the offline '
        f'CIFAR-10 and CIFAR-100 copies.') from e
  return builder


def _check_download_host(builder):
  """Fails at once where tfds's own retries would take minutes to give up."""
  url = getattr(getattr(builder, '_cifar_info', None), 'url', None)
  if url:
    host = urllib.parse.urlparse(url).hostname
    try:
      socket.getaddrinfo(host, 443)
    except OSError as e:
      raise ConnectionError(f'cannot resolve {host}') from e


def load(config):
  """(train Split, {eval split name: Split}) as `config` asks.

  Validation is held out from the end of the training split first; the
  training subset is then drawn from the rest.
  """
  builder = _builder(config.dataset, config.tfds_data_dir)
  try:
    train = _read_split(builder, 'train')
    test = (_read_split(builder, 'test') if 'test' in config.eval_splits
            else None)
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(
        f'Could not read {config.dataset!r} from {builder.data_dir} '
        f'({type(e).__name__}: {e}). The files may be damaged: delete that '
        f'directory and prepare it again.') from e
  split_size = len(train)
  validation = None
  _check_validation_size(config, split_size)
  if config.validation_size:
    validation = _take(train, np.arange(split_size - config.validation_size,
                                        split_size))
    train = _take(train, np.arange(split_size - config.validation_size))
  train = _take(train, balanced_subset(
      train.labels, count=_subset_size(config, split_size),
      seed=config.subset_seed))
  evals = {'validation': validation, 'test': test}
  if 'train_clean' in config.eval_splits:
    evals['train_clean'] = _take(
        train, np.arange(min(config.train_clean_size, len(train))))
  return train, {name: evals[name] for name in config.eval_splits}


def _check_validation_size(config, split_size):
  if config.validation_size >= split_size:
    raise DataError(f'config.validation_size={config.validation_size} '
                    f'leaves no training data out of {split_size} images; '
                    f'hold out fewer.')


def _subset_size(config, split_size):
  """The training subset's size, drawn from a train split of `split_size`
  (before validation is held out); 0 for all that validation leaves."""
  return config.train_count or (round(config.train_fraction * split_size)
                                if config.train_fraction < 1.0 else 0)


@functools.lru_cache(maxsize=None)  # One read for a grid's many runs.
def _train_split_size(dataset, data_dir):
  return _builder(dataset, data_dir).info.splits['train'].num_examples


def num_train_examples(config):
  """How many images `load(config)` trains on, from the dataset's metadata
  alone: no image is read."""
  split_size = _train_split_size(config.dataset, config.tfds_data_dir)
  _check_validation_size(config, split_size)
  return _subset_size(config, split_size) or split_size - config.validation_size


def _take(split, indices):
  return Split(split.images[indices], split.labels[indices])


def balanced_subset(labels, fraction=1.0, count=0, seed=0):
  """Sorted indices of a class-balanced subset, fixed by `seed`.

  `count` > 0 takes that many images, else `fraction` of them; each class gets
  its share (the remainder goes to the lowest class ids).
  """
  if count <= 0 and fraction >= 1.0:
    return np.arange(len(labels))
  total = count if count > 0 else int(round(fraction * len(labels)))
  if not 0 < total <= len(labels):
    raise DataError(f'A training subset of {total} images cannot be drawn '
                    f'from {len(labels)}; use config.train_count in '
                    f'[1, {len(labels)}] or config.train_fraction in (0, 1].')
  classes = np.unique(labels)
  per_class = np.full(len(classes), total // len(classes))
  per_class[:total % len(classes)] += 1
  rng = np.random.default_rng(seed)
  chosen = []
  for cls, n in zip(classes, per_class):
    members = np.flatnonzero(labels == cls)
    if n > len(members):
      raise DataError(f'Class {cls} has {len(members)} images, fewer than '
                      f'the {n} a balanced subset of {total} needs.')
    chosen.append(rng.permutation(members)[:n])
  return np.sort(np.concatenate(chosen))


def epoch_permutation(num_examples, seed, epoch):
  """The order of epoch `epoch`: a pure function, so resume is exact."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def process_rows(global_batch_size):
  """This process's slice of every global batch."""
  per_process = global_batch_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def _device_shaped(tree):
  """[per_process, ...] -> [local_devices, per_device, ...]."""
  n = jax.local_device_count()
  return jax.tree.map(lambda x: x.reshape((n, -1) + x.shape[1:]), tree)


def check_data(config, num_train_examples):
  if config.batch_size > num_train_examples:
    raise DataError(
        f'config.batch_size={config.batch_size} is larger than the '
        f'{num_train_examples} training images; lower it or use more data.')


def num_steps_per_epoch(num_examples, global_batch_size, keep_partial_batch):
  if keep_partial_batch:
    return -(-num_examples // global_batch_size)
  return num_examples // global_batch_size


def train_batches(split: Split, global_batch_size: int, seed: int,
                  start_step: int = 0,
                  keep_partial_batch: bool = False) -> Iterator[dict]:
  """Endless training batches from `start_step` on, shaped for pmap.

  Each epoch drops its last partial batch, or with `keep_partial_batch` pads
  it to full size with `mask` 0 rows, so that the step compiles once; `mask`
  is 1 for every real example.
  """
  steps_per_epoch = num_steps_per_epoch(len(split), global_batch_size,
                                       keep_partial_batch)
  rows = process_rows(global_batch_size)
  step = start_step
  while True:
    epoch, index_in_epoch = divmod(step, steps_per_epoch)
    order = epoch_permutation(len(split), seed, epoch)
    for i in range(index_in_epoch, steps_per_epoch):
      yield _padded_batch(split, order[i * global_batch_size:][
          :global_batch_size], global_batch_size, rows)
    step = (epoch + 1) * steps_per_epoch


def _padded_batch(split, indices, global_batch_size, rows):
  """This process's rows of a global batch, padded with masked rows."""
  mask = np.arange(global_batch_size) < len(indices)
  indices = np.pad(indices, (0, global_batch_size - len(indices)))[rows]
  return _device_shaped({'image': split.images[indices],
                         'label': split.labels[indices],
                         'mask': mask[rows].astype(np.float32)})


def eval_batches(split: Split, global_batch_size: int) -> Iterator[dict]:
  """Every example exactly once; the last batch is padded and masked."""
  rows = process_rows(global_batch_size)
  for start in range(0, len(split), global_batch_size):
    yield _padded_batch(split, np.arange(start, min(
        start + global_batch_size, len(split))), global_batch_size, rows)
