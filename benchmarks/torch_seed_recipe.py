r"""The seed notebook's recipe in PyTorch on this project's data: a fidelity check.

The notebook trained on the original CIFAR-10; mixer_jax trains on the JPEG
copy, with its own initialisers and on-device augmentation (docs/SEED.md).
This trains `torch_peer`'s seed Mixer the notebook's way on the JPEG copy:
PyTorch's default initialisers everywhere (the head too; or, with
--initialisers=mixer_jax, this project's), augmentation on PIL
images (flip, crop with padding 4, rotation ±15° nearest with fill 0, colour
jitter (0.1, 0.1, 0.1, 0.02) in random order, normalise, random erasing
p 0.1), AdamW (lr 3e-3, weight decay 5e-4 on every parameter),
CosineAnnealingLR(T_max=30) stepped after every batch, batch 128 with the
last partial batch kept. Where its epochs land, beside the notebook's and
mixer_jax's, tells the data's part of a gap from the implementation's.

The augmentation is written here with PIL and numpy, after torchvision's
definitions (the local torchvision wheels are CUDA builds that cannot load
beside the CPU torch of `.[bench]`).

  pip install -e '.[bench]'
  taskset -c 0 python benchmarks/torch_seed_recipe.py --blocks=baseline \
    --epochs=2 --workdir=runs/torch_seed_baseline \
    --tfds_data_dir=../shared/data/tfds

Prints and writes WORKDIR/epochs.json, a row per epoch: the epoch's mean
training loss (train mode, augmented batches, as the notebook's) and the
test accuracy after it. WORKDIR/state.pt is saved after every epoch; the same
command resumes from it and continues the same random streams. Then

  python benchmarks/torch_seed_recipe.py --blocks=baseline \
    --workdir=runs/torch_seed_baseline \
    --compare_with=runs/seed/seed_baseline_cifar10_frac1_seed0

prints those epochs beside the notebook's and a mixer_jax run's (whose
training loss is the mean of the 100-step logging intervals that end in the
epoch, which lags the epoch's own mean by up to 91 steps).
"""

import json
import os
import time

from absl import app
from absl import flags
import numpy as np
from PIL import Image
from PIL import ImageEnhance
import torch

from mixer_jax import config_lib
import torch_peer  # pylint: disable=g-bad-import-order  (this folder)

FLAGS = flags.FLAGS

# The notebook's normalisation, which the seed configs use too.
MEAN, STD = (np.array(v, np.float32)
             for v in config_lib.DATASETS['cifar10'][2:])
BATCH_SIZE = 128
T_MAX = 30  # CosineAnnealingLR(T_max=epochs), stepped per batch as it ran.


def _jitter(image, rng):
  """ColorJitter(0.1, 0.1, 0.1, 0.02): the four ops in a random order."""
  factors = [rng.uniform(0.9, 1.1) for _ in range(3)] + [rng.uniform(-0.02,
                                                                    0.02)]
  for op in rng.permutation(4):
    if op == 0:
      image = ImageEnhance.Brightness(image).enhance(factors[0])
    elif op == 1:
      image = ImageEnhance.Contrast(image).enhance(factors[1])
    elif op == 2:
      image = ImageEnhance.Color(image).enhance(factors[2])
    else:  # Hue: H in HSV shifted by int(f * 255), wrapping around in uint8.
      h, s, v = image.convert('HSV').split()
      shifted = (np.asarray(h, np.int16) + int(factors[3] * 255)) % 256
      image = Image.merge('HSV', (Image.fromarray(shifted.astype(np.uint8)),
                                  s, v)).convert('RGB')
  return image


def _erase(array, rng, scale=(0.02, 0.33), ratio=(0.3, 3.3)):
  """RandomErasing(p=0.1, value=0) on a normalised (H, W, C) array."""
  height, width, _ = array.shape
  for _ in range(10):
    area = height * width * rng.uniform(*scale)
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
    h = int(round(np.sqrt(area * aspect)))
    w = int(round(np.sqrt(area / aspect)))
    if h < height and w < width:
      i = rng.integers(0, height - h + 1)
      j = rng.integers(0, width - w + 1)
      array[i:i + h, j:j + w] = 0.0
      return array
  return array


def augment(image, rng):
  """One (32, 32, 3) uint8 image, the notebook's training transform, in its
  order; a normalised (3, 32, 32) float32 array."""
  pil = Image.fromarray(image)
  if rng.random() < 0.5:
    pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
  padded = Image.new('RGB', (40, 40))
  padded.paste(pil, (4, 4))
  top, left = rng.integers(0, 9, size=2)
  pil = padded.crop((left, top, left + 32, top + 32))
  pil = pil.rotate(rng.uniform(-15, 15), resample=Image.Resampling.NEAREST,
                   fillcolor=(0, 0, 0))
  array = (np.asarray(_jitter(pil, rng), np.float32) / 255 - MEAN) / STD
  if rng.random() < 0.1:
    array = _erase(array, rng)
  return array.transpose(2, 0, 1)


def normalize(images):
  """(N, 32, 32, 3) uint8 to the normalised (N, 3, 32, 32) float32 tensor."""
  arrays = (images.astype(np.float32) / 255 - MEAN) / STD
  return torch.from_numpy(arrays.transpose(0, 3, 1, 2).copy())


def train_epoch(model, optimizer, scheduler, images, labels, rng):
  """One pass in a random order; the mean training loss over its images."""
  model.train()
  order = rng.permutation(len(labels))
  total = 0.0
  for start in range(0, len(order), BATCH_SIZE):
    batch = order[start:start + BATCH_SIZE]
    inputs = torch.from_numpy(np.stack([augment(images[i], rng)
                                        for i in batch]))
    loss = torch_peer.train_step(model, optimizer, inputs,
                                 torch.from_numpy(labels[batch]).long())
    scheduler.step()
    total += loss.item() * len(batch)
  return total / len(order)


@torch.no_grad()
def accuracy(model, images, labels, batch_size=500):
  model.eval()
  correct = 0
  for start in range(0, len(labels), batch_size):
    logits = model(normalize(images[start:start + batch_size]))
    correct += (logits.argmax(1).numpy() == labels[start:start + batch_size]
                ).sum()
  return float(correct / len(labels))


# mixer_jax's, as flax's defaults: lecun-normal (truncated at 2 std) kernels.
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def use_mixer_jax_initialisers(model):
  """Re-initialises `model` as mixer_jax's default initialisers (flax's,
  `model.initialisers='flax'`) do: lecun-normal kernels, zero biases and a
  zero head (the norms start alike in both)."""
  for module in model.modules():
    if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
      fan_in = module.weight[0].numel()
      std = (1 / fan_in) ** 0.5 / _TRUNCATED_NORMAL_STD
      torch.nn.init.trunc_normal_(module.weight, std=std, a=-2 * std,
                                  b=2 * std)
      if module.bias is not None:
        torch.nn.init.zeros_(module.bias)
  torch.nn.init.zeros_(model.head.weight)


INITIALISERS = ('pytorch', 'mixer_jax')


def train(blocks, epochs, workdir, train_data, test_data, seed=0,
          initialisers='pytorch'):
  """Trains for `epochs` (resuming from `workdir`); [a row per epoch].

  `initialisers`: 'pytorch', the notebook's (PyTorch's defaults), or
  'mixer_jax', this project's.
  """
  torch.manual_seed(seed)
  model = torch_peer.build_model('seed', blocks, zero_head=False)
  if initialisers == 'mixer_jax':
    use_mixer_jax_initialisers(model)
  optimizer = torch_peer.make_optimizer(model)
  scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_MAX)
  rng = np.random.default_rng(seed)
  rows = []
  state_file = os.path.join(workdir, 'state.pt')
  if os.path.exists(state_file):
    state = torch.load(state_file)
    model.load_state_dict(state['model'])
    optimizer.load_state_dict(state['optimizer'])
    scheduler.load_state_dict(state['scheduler'])
    torch.set_rng_state(state['torch_rng'])
    rng.bit_generator.state = json.loads(state['numpy_rng'])
    rows = json.loads(state['rows'])
  os.makedirs(workdir, exist_ok=True)
  for epoch in range(len(rows) + 1, epochs + 1):
    start = time.time()
    loss = train_epoch(model, optimizer, scheduler, *train_data, rng)
    rows.append({'epoch': epoch, 'train_loss': loss,
                 'test_accuracy': accuracy(model, *test_data),
                 'learning_rate': scheduler.get_last_lr()[0],
                 'seconds': time.time() - start})
    torch.save({'model': model.state_dict(),
                'optimizer': optimizer.state_dict(),
                'scheduler': scheduler.state_dict(),
                'torch_rng': torch.get_rng_state(),
                'numpy_rng': json.dumps(rng.bit_generator.state),
                'rows': json.dumps(rows)}, state_file + '.tmp')
    os.replace(state_file + '.tmp', state_file)  # Never a half-written state.
    with open(os.path.join(workdir, 'epochs.json'), 'w') as f:
      json.dump(rows, f, indent=1)
    print(json.dumps(rows[-1]), flush=True)
  return rows


def load(split, data_dir):
  """(uint8 images, int labels) of a CIFAR-10 split, read with tfds."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data = tfds.as_numpy(tfds.load('cifar10', split=split, data_dir=data_dir,
                                 batch_size=-1, download=False))
  return data['image'], data['label'].astype(np.int64)


def comparison(rows, blocks, mixer_jax_workdir):
  """A Markdown table: each epoch of `rows` beside the notebook's (grids/
  seed.py) and, from its event files, a mixer_jax run's of the same model."""
  from mixer_jax.experiments.report import stats  # pylint: disable=g-import-not-at-top
  from mixer_jax.experiments.report import summaries  # pylint: disable=g-import-not-at-top
  published = config_lib.load_python_file(os.path.join(
      os.path.dirname(__file__), '..', 'grids', 'seed.py')).REPORT['published']
  notebook = published['curves'][f'seed_{blocks}_cifar10']
  scalars = summaries.logged_scalars(mixer_jax_workdir)
  jax_runs = {tag: stats.epoch_means(scalars[tag],
                                     published['steps_per_epoch'])
              for tag in ('test_accuracy', 'train_loss')}
  cell = lambda values, epoch, scale: (
      f'{scale * values[epoch]:.{2 if scale == 100 else 3}f}'
      if epoch in values else '')
  lines = ['| epoch | test acc %: notebook | this script | mixer_jax | '
           'train loss: notebook | this script | mixer_jax |',
           '|---|---|---|---|---|---|---|']
  for row in rows:
    e = row['epoch']
    lines.append(
        f'| {e} | {100 * notebook["test_accuracy"][e - 1]:.2f} | '
        f'{100 * row["test_accuracy"]:.2f} | '
        f'{cell(jax_runs["test_accuracy"], e, 100)} | '
        f'{notebook["train_loss"][e - 1]:.3f} | {row["train_loss"]:.3f} | '
        f'{cell(jax_runs["train_loss"], e, 1)} |')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if FLAGS.compare_with:
    with open(os.path.join(FLAGS.workdir, 'epochs.json')) as f:
      print(comparison(json.load(f), FLAGS.blocks, FLAGS.compare_with))
    return
  if not os.path.isdir(os.path.join(FLAGS.tfds_data_dir, 'cifar10')):
    raise app.UsageError(f'--tfds_data_dir={FLAGS.tfds_data_dir} holds no '
                         f'cifar10/; pass ../shared/data/tfds.')
  torch.set_num_threads(FLAGS.threads)
  train(FLAGS.blocks, FLAGS.epochs, FLAGS.workdir,
        load('train', FLAGS.tfds_data_dir), load('test', FLAGS.tfds_data_dir),
        FLAGS.seed, FLAGS.initialisers)


if __name__ == '__main__':
  flags.DEFINE_enum('blocks', 'baseline', list(torch_peer.BLOCKS),
                    "The seed model's locality blocks.")
  flags.DEFINE_integer('epochs', 30, 'Epochs to train (the notebook: 30).',
                       lower_bound=1)
  flags.DEFINE_string('workdir', None, 'Where epochs.json and state.pt go.',
                      required=True)
  flags.DEFINE_string('tfds_data_dir', '../shared/data/tfds',
                      'The tfds data dir holding cifar10/.')
  flags.DEFINE_integer('seed', 0, 'Initialisation, order and augmentation.')
  flags.DEFINE_enum('initialisers', 'pytorch', list(INITIALISERS),
                    "The notebook's (PyTorch's defaults, the head's too) or "
                    "mixer_jax's (lecun-normal kernels, zero biases and head).")
  flags.DEFINE_string('compare_with', None,
                      "Instead of training: print WORKDIR's epochs beside "
                      "the notebook's and this mixer_jax run's (its workdir).")
  flags.DEFINE_integer('threads', len(os.sched_getaffinity(0)),
                       "torch's intra-op threads (default: the cores this "
                       'process may run on).')
  app.run(main)
