"""Tiny R2LCM on synthetic RAW/sRGB pairs: the real training path in seconds on CPU.

Same code path as `r2lcm_default.py` (model, loss, grain pipeline, optimizer,
validation-driven schedule, checkpoints), shrunk: N=8, C=4, T=2, 32x32 patches,
global batch 4 (splits over 1, 2 or 4 devices), 8 steps, validation on separate
synthetic images every 4 steps, a checkpoint every 2 steps.

Command:

  .venv/bin/r2lcm train --config experiments/configs/tiny.py --workdir /tmp/r2lcm_tiny

Variants: `:num_steps=40`, `:devices=4` (with
XLA_FLAGS=--xla_force_host_platform_device_count=4 on CPU), `:lr=1e30` (diverges:
exits with code 2 and keeps the last good checkpoint).

Expected result: finishes in well under a minute on a laptop CPU; the training loss
goes down over the steps (tests/train/train_loop_test.py checks it).
"""

import importlib.util
import os


def _load(name):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"r2lcm_experiments_configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg=None):
  common = _load("common")
  arg = common.parse_arg(arg, num_steps=8, devices=0, lr=1e-3, seed=0, bf16=False)
  c = common.base_config()
  c.seed = arg.seed
  c.num_steps = arg.num_steps
  c.num_devices = arg.devices
  c.log_every_steps = 1
  c.model.N = 8
  c.model.latent_channels = 4
  c.model.num_steps = 2
  if arg.bf16:
    c.model.compute_dtype = "bfloat16"
  c.data.source = "synthetic"
  c.data.patch_size = 32
  c.data.patch_stride = 32
  c.data.batch_size = 4
  c.data.synthetic_images = 4
  c.data.synthetic_height = 64
  c.data.synthetic_width = 64
  c.data.val_crop = 32
  c.optim.learning_rate = arg.lr
  c.schedule.patience = 1
  c.eval.every_steps = 4
  c.eval.batch_size = 4
  c.ckpt.every_steps = 2
  c.ckpt.max_to_keep = 2
  return c
