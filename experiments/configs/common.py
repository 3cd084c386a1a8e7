"""Shared pieces of the training configs: the base ConfigDict and `parse_arg`.

Config files are loaded by path (`--config experiments/configs/<name>.py:<arg>`),
so they import this file with `load_common()` below rather than as a package.

Config keys (all consumed by `r2lcm_jax.train.loop` / `r2lcm_jax.train.task`):
  seed                      PRNG seed (params init, Gumbel/noise streams, data order)
  num_steps / num_epochs    total updates; num_steps=0 means num_epochs passes over the
                            training patches
  num_devices               data-parallel devices (0 = all); global batch is split
  log_every_steps           TensorBoard / progress-bar cadence
  model.*                   `r2lcm_jax.models.config.R2LCMConfig` fields
  loss.lmbda, loss.distortion   loss = lmbda * 255^2 * D + bpp (both levels), D = l1 | mse
  data.*                    source "nus" (root, camera) or "synthetic"; patch_size,
                            patch_stride, batch_size (global), augment; validation
                            split (never the test split) and its crop size
  optim.*                   clip the global norm to grad_clip, then Adam(learning_rate, b1, b2,
                            eps=1e-6 official); nan_policy, amp_loss_scale (train/optim.py)
  schedule.*                ReduceLROnPlateau on the validation loss: factor, patience, rtol
  eval.every_steps          validation cadence (0 = once per epoch); eval.batch_size
  ckpt.every_steps, ckpt.max_to_keep
  init_from                 "" or a parameter folder (exported checkpoint, packaged model)
                            whose parameters start a new run (`train.task.warm_start`)
"""

from __future__ import annotations

import ml_collections

__all__ = ["parse_arg", "base_config"]


def _convert(value: str, default):
  if isinstance(default, bool):
    if value.lower() in ("1", "true", "yes", ""):
      return True
    if value.lower() in ("0", "false", "no"):
      return False
    raise ValueError(f"not a boolean: {value!r}")
  if isinstance(default, int):
    return int(value)
  if isinstance(default, float):
    return float(value)
  return value


def parse_arg(arg: str | None, **spec) -> ml_collections.ConfigDict:
  """Parses `key=val,key2=val2,flag` (big_vision style) with typed defaults.

  Args:
    arg: the text after `:` in `--config file.py:arg`, or None.
    **spec: allowed keys and their defaults (the type of the default is the
      type of the value; a bare `flag` sets a bool to True).

  Returns:
    ConfigDict of all keys in `spec`.

  Raises:
    ValueError: an unknown key or a value of the wrong type.
  """
  out = ml_collections.ConfigDict(spec)
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key not in spec:
      raise ValueError(f"unknown config argument {key!r}; allowed: {sorted(spec)}")
    out[key] = _convert(value, spec[key]) if "=" in item else True
  return out


def base_config() -> ml_collections.ConfigDict:
  """The official README training configuration (SPEC section 0 and 9)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_steps = 0
  c.num_epochs = 1000
  c.num_devices = 0
  c.log_every_steps = 50
  c.init_from = ""

  c.model = ml_collections.ConfigDict(
    dict(
      N=64,
      latent_channels=8,
      num_steps=4,
      stride=2,
      down_num=2,
      adaptive_quant=True,
      coverage="official",
      compute_dtype="float32",
    )
  )
  c.loss = ml_collections.ConfigDict(dict(lmbda=0.24, distortion="l1"))
  c.data = ml_collections.ConfigDict(
    dict(
      source="nus",
      root="",
      camera="SonyA57",
      patch_size=256,
      patch_stride=128,
      batch_size=8,
      augment=False,
      val_split="val",
      val_crop=512,
      synthetic_images=8,
      synthetic_height=512,
      synthetic_width=512,
    )
  )
  c.optim = ml_collections.ConfigDict(
    dict(learning_rate=1e-4, grad_clip=1.0, b1=0.9, b2=0.999, eps=1e-6,
         nan_policy="skip_step", amp_loss_scale=0.0)
  )
  c.schedule = ml_collections.ConfigDict(dict(factor=0.1, patience=40, rtol=1e-4))
  c.eval = ml_collections.ConfigDict(dict(every_steps=0, batch_size=1))
  c.ckpt = ml_collections.ConfigDict(dict(every_steps=1000, max_to_keep=3))
  return c
