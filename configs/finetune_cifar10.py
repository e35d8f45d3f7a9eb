r"""vit_jax's recipe for fine-tuning a pre-trained Mixer on CIFAR-10.

Source: google-research/vision_transformer, vit_jax/configs/common.py and
vit_jax/configs/mixer_base16_cifar10.py: SGD with momentum 0.9, learning
rate 0.03 with 500 warmup steps then cosine decay, 10,000 steps of batch 512,
gradient norm clipped at 1, no weight decay, images at 224x224 scaled to
[-1, 1], trained on train[:98%], evaluated on test.

Published (vision_transformer README, "Expected Mixer results", four V100
GPUs): CIFAR-10 test accuracy 96.72% for Mixer-B/16 from ImageNet, 98.34%
for Mixer-L/16 from ImageNet-21k. NOT measured here: no published weights
can be had offline, and a B/16 step at 224x224 is a GPU job.

What differs: vit_jax's random crop is Inception-style at the full size;
here it is the data's 4-pixel-padding crop and flip at 32x32, then the
resize to 224 on the device. Momentum is kept in float32 (vit_jax: bfloat16).

With a published checkpoint (vit_jax's gs://mixer_models/imagenet1k/):
  python train.py --config=configs/finetune_cifar10.py:B/16 \
    --workdir=/tmp/finetune_b16 --config.init_from=Mixer-B_16.npz \
    --config.tfds_data_dir=../shared/data/tfds
`:L/16` and the other sizes (config_lib.MODEL_SIZES) take the same recipe.
"""

from mixer_jax import config_lib


def get_config(variant='B/16'):
  config = config_lib.get_config('cifar10', variant)
  config.model_input_size = 224
  config.normalization = config_lib.MINUS_ONE_TO_ONE
  config.validation_size = 1000  # train[:98%] trains; the last 2% is held out.
  config.optimizer.update(name='sgd', momentum=0.9, learning_rate=0.03,
                          weight_decay=0.0, grad_clip_norm=1.0,
                          schedule='warmup_cosine',
                          # 500 steps: 49,000 images make 95 steps of 512.
                          warmup_epochs=500 / 95)
  config.batch_size = 512
  config.num_train_steps = 10_000
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 1000
  return config
