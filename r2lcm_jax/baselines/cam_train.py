"""Training of CAM's sampler and reconstructor together, with the project's loop.

Loss (official, without the meta-learning term): `L1(reconstruction, raw) + lambda_slic
x SLIC(assignment)`. The sampler sees [sRGB, raw] of a patch, its hard per-cell selection
(`cam_sampler.ste_mask`, straight-through gradient) masks the raw into the
reconstructor's input. Not done: the official MAML-style term (5 inner SGD steps on a
random mask, weight 0.01 / 0.001), which trains for the decode-time fine-tuning; here
fine-tuning runs on a network trained without it.

`create_cam_task` packages this as a `train.task_api.Task` (random patches with flips /
rotations from `data.pipeline.make_train_iter`, fixed validation patches);
`train_cam_stage` runs it through `train.loop.train_and_evaluate` (Orbax checkpoints,
resumption, events in `<workdir>/train/`) and writes `<workdir>/cam.msgpack`
(`cam_net.save_params`).

The config (`experiments/configs/cam_small_real.py`) holds `seed`, `log_every_steps`
and a `cam` group: features, levels, grid, patch_size, batch_size, num_steps,
learning_rate, lambda_slic, slic_alpha, slic_m, eval_every, ckpt_every.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from r2lcm_jax.baselines import cam_net, cam_sampler
from r2lcm_jax.baselines.cam_net import CamConfig
from r2lcm_jax.data.nus import ImagePair
from r2lcm_jax.data.pipeline import make_train_dataset, make_train_iter
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.train.task_api import Task

__all__ = ["cam_loss_fn", "create_cam_task", "loop_config", "train_cam_stage"]

Pairs = Sequence[ImagePair | tuple[np.ndarray, np.ndarray]]


def cam_loss_fn(config: CamConfig, *, lambda_slic: float = 1e-4, slic_alpha: float = 0.2,
                slic_m: float = 10.0):
  """`loss_fn(params, batch, rngs, training) -> (loss, {"l1", "slic", "psnr"})` on
  batch["srgb"/"raw"] (B, P, P, 3) float32, P a multiple of `config.multiple`."""
  sampler, recon, g = config.sampler(), config.reconstructor(), config.grid

  def loss_fn(params, batch, rngs, training):
    del rngs, training
    srgb, raw = batch["srgb"], batch["raw"]
    logits = sampler.apply({"params": params["sampler"]}, cam_net.sampler_input(srgb, raw))
    prob = jax.nn.softmax(logits, -1)
    slic = cam_sampler.slic_loss(prob, srgb, raw, g, alpha=slic_alpha, m=slic_m)
    mask = cam_sampler.ste_mask(logits, g)
    pred = recon.apply({"params": params["reconstructor"]},
                       cam_net.reconstructor_input(srgb, mask, raw))
    l1 = jnp.mean(jnp.abs(pred - raw))
    mse = jnp.mean((jnp.clip(pred, 0.0, 1.0) - raw) ** 2)
    psnr = -10.0 * jnp.log10(jnp.maximum(mse, 1e-12))
    return l1 + lambda_slic * slic, {"l1": l1, "slic": slic, "psnr": psnr}

  return loss_fn


def create_cam_task(config: CamConfig, train: Pairs, val: Pairs, *, patch_size: int = 64,
                    batch_size: int = 8, val_batches: int = 2, lambda_slic: float = 1e-4,
                    slic_alpha: float = 0.2, slic_m: float = 10.0, seed: int = 0) -> Task:
  """The loop `Task` training both CAM networks on `train` (validation: fixed patches of
  `val`, none if empty).

  Raises:
    ConfigError: a patch size that is not a multiple of `config.multiple`, or no data.
  """
  if patch_size % config.multiple or patch_size < config.multiple:
    raise ConfigError(f"CAM patch_size must be a multiple of {config.multiple}, got {patch_size}")
  if not train:
    raise ConfigError("CAM training: no training images")
  it = make_train_iter(train, patch_size=patch_size, batch_size=batch_size, seed=seed)
  vals = []
  if val:
    ds = make_train_dataset(val, patch_size=patch_size, batch_size=batch_size,
                            seed=(seed + 7) % 2**32, augment=False)
    vals = [ds[i] for i in range(val_batches)]
  return Task(init_params=lambda key: cam_net.init_params(config, key),
              loss_fn=cam_loss_fn(config, lambda_slic=lambda_slic, slic_alpha=slic_alpha,
                                  slic_m=slic_m),
              train_iter=it, val_batches=vals)


def loop_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The `train.loop` config keys of the CAM config's `cam` group."""
  s = config.cam
  c = ml_collections.ConfigDict()
  c.seed = int(config.seed)
  c.num_steps = int(s.num_steps)
  c.num_epochs = 0
  c.num_devices = 1
  c.log_every_steps = int(config.log_every_steps)
  c.optim = dict(learning_rate=float(s.learning_rate), grad_clip=1.0, b1=0.9, b2=0.999, eps=1e-8)
  c.schedule = dict(factor=0.5, patience=int(s.get("patience", 4)), rtol=1e-4)
  c.eval = dict(every_steps=int(s.eval_every), batch_size=1)
  c.ckpt = dict(every_steps=int(s.ckpt_every), max_to_keep=2)
  c.cam = s.to_dict()
  return c


def train_cam_stage(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                    train: Pairs, val: Pairs) -> tuple[CamConfig, dict]:
  """Trains (or resumes) CAM into `workdir`; writes `<workdir>/cam.msgpack`.

  Returns:
    (network config, parameters).
  """
  from r2lcm_jax.train import loop

  workdir = pathlib.Path(workdir)
  s = config.cam
  net = CamConfig(features=int(s.features), levels=int(s.levels), grid=int(s.grid))
  task = create_cam_task(net, train, val, patch_size=int(s.patch_size),
                         batch_size=int(s.batch_size), lambda_slic=float(s.lambda_slic),
                         slic_alpha=float(s.slic_alpha), slic_m=float(s.slic_m),
                         seed=int(config.seed))
  state = loop.train_and_evaluate(loop_config(config), workdir / "train", task=task)
  params = jax.device_get(state.params)
  cam_net.save_params(workdir / "cam.msgpack", net, params)
  return net, params
