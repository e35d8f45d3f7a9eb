r"""Classifies image files with a trained model: the top-5 classes of each.

  python -m mixer_jax.predict --workdir=WORKDIR [--checkpoint=best|latest]
      [--top=5] IMAGE [IMAGE ...]

PNG or JPEG files of any size are resized to the training data's size
(bilinear), then normalised and resized for the model as training's
evaluation does (`train.model_inputs`). Class names come from the dataset's
tfds metadata.
"""

import glob
import os

from absl import app
from absl import flags
import jax
import numpy as np
from PIL import Image

from mixer_jax import checkpointing
from mixer_jax import host
from mixer_jax import input_pipeline
from mixer_jax import train
from mixer_jax import trained


def read_image(path, size):
  """uint8 [size, size, 3] of an image file; a DataError if unreadable."""
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert('RGB').resize(
          (size, size), Image.Resampling.BILINEAR), np.uint8)
  except (OSError, ValueError) as e:
    raise input_pipeline.DataError(
        f'{path} cannot be read as an image ({type(e).__name__}: {e}); pass '
        f'PNG or JPEG files.') from e


def class_names(config):
  """The dataset's class names: from tfds's metadata, else the prepared
  copy's label.labels.txt, else the class indices."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    names = tfds.builder(config.dataset, data_dir=config.tfds_data_dir
                         ).info.features['label'].names
  except Exception:  # pylint: disable=broad-except
    names = []
  if len(names) == config.num_classes and names[0] != '0':
    return list(names)
  for path in glob.glob(os.path.join(config.tfds_data_dir or '',
                                     config.dataset, '*', 'label.labels.txt')):
    with open(path) as f:
      names = f.read().split()
    if len(names) == config.num_classes:
      return names
  return [str(i) for i in range(config.num_classes)]


def predict(workdir, paths, top=5, checkpoint='best'):
  """[[(class name, probability)] * top] for each image of `paths`, by the
  workdir's best model or its latest train state."""
  config, _, variables = trained.variables(workdir, checkpoint,
                                           train.train_state_template)
  images = np.stack([read_image(path, config.image_size) for path in paths])
  model = train.create_model(config)
  logits = jax.jit(lambda v, x: model.apply(
      v, train.model_inputs(config, x), train=False))(variables, images)
  probabilities = np.asarray(jax.nn.softmax(logits))
  names = class_names(config)
  return [[(names[i], float(p[i])) for i in np.argsort(-p)[:top]]
          for p in probabilities]


def main(argv):
  if len(argv) < 2:
    raise app.UsageError('Name one or more image files.')
  checkpointing.quiet_orbax_logs()
  with host.exit_codes():
    results = predict(flags.FLAGS.workdir, argv[1:], flags.FLAGS.top,
                      flags.FLAGS.checkpoint)
  for path, classes in zip(argv[1:], results):
    print(path)
    for name, probability in classes:
      print(f'  {probability:7.2%}  {name}')


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'The workdir of a training run.')
  flags.DEFINE_integer('top', 5, 'How many classes to print per image.')
  flags.DEFINE_enum('checkpoint', 'best', trained.CHECKPOINT_KINDS,
                    'The best model, or the latest train state.')
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
