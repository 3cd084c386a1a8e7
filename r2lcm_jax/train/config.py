"""Training configs: the base ConfigDict, named presets and the config-file arguments.

The config files (`experiments/configs/<name>.py`, loaded by path with
`--config experiments/configs/<name>.py:arg=value,...`) import this module
(`from r2lcm_jax.train import config as base`), start from a preset, override only
what differs and return `base.apply_args(c, arg)`.

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

Config-file arguments (`ARGUMENTS`; the same names in every file; `key=value`, comma
separated, typed by the key's value in the config). A file accepts every argument whose
config key it has, plus the ones it names itself (the PriorRAW config's stage budgets):
  seed, num_steps, num_devices, init_from    the top-level keys of the same name
  N, latent_channels, coverage, compute_dtype, base, residual_gain
                                             model.<name> (R2LCMConfig fields)
  arch                                       model.arch ("ijcv24" | "cvpr23"), in files
                                             whose model config names it (cvpr23.py)
  T                                          model.num_steps, the context steps (T in the
                                             paper; `num_steps` is the training budget)
  lmbda                                      loss.lmbda
  source, root, camera, batch_size           data.<name>
  patch_size                                 data.patch_size; data.patch_stride keeps its
                                             ratio to it (non-overlapping stays so)
  lr, eps                                    optim.learning_rate, optim.eps
Any other key: `--config.<group>.<key>=value` on the command line.
"""

from __future__ import annotations

import importlib.util
import pathlib

import ml_collections

from r2lcm_jax.errors import ConfigError

__all__ = ["ARGUMENTS", "parse_arg", "apply_args", "official", "small_cpu", "gopro_cpu", "load_file"]

# Config-file argument -> the config key it sets.
ARGUMENTS = {
  "seed": "seed",
  "num_steps": "num_steps",
  "num_devices": "num_devices",
  "init_from": "init_from",
  "N": "model.N",
  "latent_channels": "model.latent_channels",
  "T": "model.num_steps",
  "arch": "model.arch",
  "coverage": "model.coverage",
  "compute_dtype": "model.compute_dtype",
  "base": "model.base",
  "residual_gain": "model.residual_gain",
  "lmbda": "loss.lmbda",
  "source": "data.source",
  "root": "data.root",
  "camera": "data.camera",
  "patch_size": "data.patch_size",
  "batch_size": "data.batch_size",
  "lr": "optim.learning_rate",
  "eps": "optim.eps",
}


def _convert(key: str, value: str, default):
  """`value` as the type of `default`; ConfigError if it is not one."""
  try:
    if isinstance(default, bool):
      if value.lower() in ("1", "true", "yes"):
        return True
      if value.lower() in ("0", "false", "no"):
        return False
      raise ValueError(value)
    if isinstance(default, int):
      return int(value)
    if isinstance(default, float):
      return float(value)
  except ValueError:
    raise ConfigError(f"config argument {key}={value!r}: not of type {type(default).__name__}") from None
  return value


def parse_arg(arg: str | None, **spec) -> ml_collections.ConfigDict:
  """Parses `key=value,key2=value2` (big_vision style) with typed defaults.

  Args:
    arg: the text after `:` in `--config file.py:arg`, or None.
    **spec: allowed keys and their defaults (the type of the default is the type
      of the value).

  Returns:
    ConfigDict of all keys in `spec`.

  Raises:
    ConfigError: an unknown key, a key without `=value`, or a value of the wrong type.
  """
  out = ml_collections.ConfigDict(spec)
  for item in filter(None, (arg or "").split(",")):
    key, eq, value = item.partition("=")
    if key not in spec:
      raise ConfigError(f"unknown config argument {key!r}; allowed: {sorted(spec)}")
    if not eq:
      raise ConfigError(f"config argument {key!r} needs a value ({key}=...)")
    out[key] = _convert(key, value, spec[key])
  return out


def _lookup(c: ml_collections.ConfigDict, dotted: str):
  """(group, leaf) of a dotted key, or None when `c` lacks it."""
  *path, leaf = dotted.split(".")
  for name in path:
    if name not in c:
      return None
    c = c[name]
  return (c, leaf) if leaf in c else None


def apply_args(c: ml_collections.ConfigDict, arg: str | None, **extra: str) -> ml_collections.ConfigDict:
  """Sets the config keys named by the arguments in `arg` (see the module docstring).

  Args:
    c: the config with its defaults; changed in place.
    arg: `name=value,...` (the text after `:` in `--config file.py:arg`), or None.
    **extra: more argument names of this config file -> dotted config keys.

  Returns:
    `c`. Accepted arguments: those of `ARGUMENTS` and `extra` whose key `c` has.

  Raises:
    ConfigError: an argument this config does not accept, or a value of the wrong type.
  """
  targets = {name: _lookup(c, key) for name, key in {**ARGUMENTS, **extra}.items()}
  targets = {name: t for name, t in targets.items() if t is not None}
  args = parse_arg(arg, **{name: group[leaf] for name, (group, leaf) in targets.items()})
  if "patch_size" in targets and "patch_stride" in c.data:
    c.data.patch_stride = args.patch_size * c.data.patch_stride // c.data.patch_size
  for name, (group, leaf) in targets.items():
    group[leaf] = args[name]
  return c


def official() -> ml_collections.ConfigDict:
  """The official README training configuration (SPEC sections 0 and 9).

  N=64, C=8, T=4; loss 0.24 * 255^2 * L1 + bpp; Adam lr 1e-4 (eps 1e-6) after a
  global-norm clip of 1.0; batch 8 of 256x256 patches, stride 128, no augmentation;
  ReduceLROnPlateau(0.1, patience 40) on the `val` split; 1000 epochs.
  """
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


def small_cpu() -> ml_collections.ConfigDict:
  """`official()` shrunk for a CPU: N=16, C=4 (T=4), augmented 64x64 patches (stride
  32), batch 8, Adam lr 1e-3; log every 25 steps, validate and checkpoint every 250,
  keep 2 checkpoints."""
  c = official()
  c.log_every_steps = 25
  c.model.N = 16
  c.model.latent_channels = 4
  c.data.update(dict(patch_size=64, patch_stride=32, augment=True))
  c.optim.learning_rate = 1e-3
  c.eval.every_steps = 250
  c.ckpt.update(dict(every_steps=250, max_to_keep=2))
  return c


def gopro_cpu() -> ml_collections.ConfigDict:
  """`small_cpu()` on the rendered GoPro frames (`data/gopro`, camera "gopro"), the
  packaged models' setting: non-overlapping patches, no validation split (two training
  frames leave none that is not the test split, so the learning rate stays constant),
  3000 steps."""
  c = small_cpu()
  c.num_steps = 3000
  c.data.update(dict(root="data/gopro", camera="gopro", patch_stride=64, val_split=""))
  return c


def load_file(spec: str) -> ml_collections.ConfigDict:
  """`get_config(arg)` of a config file given as `path.py[:arg]` (as `--config` takes it).

  Raises:
    ConfigError: no such file, or a bad argument.
  """
  path, _, arg = spec.partition(":")
  if not pathlib.Path(path).is_file():
    raise ConfigError(f"config file {path} not found")
  module_spec = importlib.util.spec_from_file_location(f"r2lcm_config_{pathlib.Path(path).stem}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)
