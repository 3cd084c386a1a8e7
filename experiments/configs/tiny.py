"""Tiny R2LCM on synthetic RAW/sRGB pairs: the real training path in seconds on CPU.

Same code path as `r2lcm_default.py` (model, loss, grain pipeline, optimizer,
validation-driven schedule, checkpoints), shrunk: N=8, C=4, T=2, 32x32 patches,
global batch 4 (splits over 1, 2 or 4 devices), 8 steps, validation on separate
synthetic images every 4 steps, a checkpoint every 2 steps.

Command:

  .venv/bin/r2lcm train --config experiments/configs/tiny.py --workdir /tmp/r2lcm_tiny

Variants: `:num_steps=40`, `:num_devices=4` (with
XLA_FLAGS=--xla_force_host_platform_device_count=4 on CPU), `:compute_dtype=bfloat16`,
`:lr=1e30` (diverges: exits with code 2 and keeps the last good checkpoint). Arguments:
`r2lcm_jax/train/config.py`.

Expected result: finishes in well under a minute on a laptop CPU; the training loss
goes down over the steps (tests/train/train_loop_test.py checks it).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = base.official()
  c.num_steps = 8
  c.log_every_steps = 1
  c.model.update(dict(N=8, latent_channels=4, num_steps=2))
  c.data.update(dict(source="synthetic", patch_size=32, patch_stride=32, batch_size=4,
                     synthetic_images=4, synthetic_height=64, synthetic_width=64, val_crop=32))
  c.optim.learning_rate = 1e-3
  c.schedule.patience = 1
  c.eval.update(dict(every_steps=4, batch_size=4))
  c.ckpt.update(dict(every_steps=2, max_to_keep=2))
  return base.apply_args(c, arg)
