"""Training of the U-Net de-rendering baseline (L1 loss, Adam, the project's train pieces).

Reuses `train.optim.create_optimizer` (global-norm clip + Adam), `train.state`,
`train.schedule` (plateau state, unused here: the scale stays 1) and `train.step.
make_train_step`, with batches from `data.pipeline.make_train_iter` (grain; random
patches with flips/rotations). Parameters are initialised from
`fold_in(key(seed), INIT_PURPOSE)`; batch order and patches derive from `seed`, so a run
is deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from r2lcm_jax.baselines.unet import UNet, init_params
from r2lcm_jax.data.nus import ImagePair
from r2lcm_jax.data.pipeline import make_train_iter
from r2lcm_jax.errors import ConfigError, TrainingDivergedError
from r2lcm_jax.train.optim import create_optimizer
from r2lcm_jax.train.schedule import create_plateau_schedule
from r2lcm_jax.train.state import create_train_state
from r2lcm_jax.train.step import make_train_step

__all__ = ["INIT_PURPOSE", "UNetTrainResult", "l1_loss_fn", "train_unet"]

INIT_PURPOSE = 3  # fold_in purpose of the initialisation key (0-2 are the step streams)


@dataclasses.dataclass(frozen=True, eq=False)
class UNetTrainResult:
  """Outcome of `train_unet`.

  Attributes:
    model: the trained `UNet` definition.
    params: its parameters.
    losses: (steps,) float32 training L1 loss of each step.
  """

  model: UNet
  params: Any
  losses: np.ndarray


def l1_loss_fn(model: UNet):
  """`loss_fn(params, batch, rngs, training) -> (L1, {"l1": L1})` on batch["srgb"/"raw"]."""

  def loss_fn(params, batch, rngs, training):
    del rngs, training
    pred = model.apply({"params": params}, batch["srgb"])
    l1 = jnp.mean(jnp.abs(pred - batch["raw"]))
    return l1, {"l1": l1}

  return loss_fn


def train_unet(pairs: Sequence[ImagePair | tuple[np.ndarray, np.ndarray]], *, features: int = 16,
               levels: int = 3, steps: int = 200, batch_size: int = 8, patch_size: int = 64,
               learning_rate: float = 1e-3, grad_clip: float = 1.0, seed: int = 0,
               progress: bool = False) -> UNetTrainResult:
  """Trains a U-Net on (raw-RGB, sRGB) pairs with an L1 loss.

  Args:
    pairs: `ImagePair`s or (raw (H, W, 3), srgb (H, W, 3)) float32 [0, 1] arrays.
    features, levels: `UNet` size.
    steps: optimizer steps.
    batch_size, patch_size: training batches of (B, P, P, 3) random patches; P must be a
      multiple of 2^levels.
    learning_rate, grad_clip: Adam learning rate and global-norm clip.
    seed: all randomness (init, patches, order, augmentation).
    progress: show a tqdm bar.

  Returns:
    UNetTrainResult with the parameters and the per-step losses.

  Raises:
    ConfigError: bad sizes; TrainingDivergedError: a non-finite loss.
  """
  if steps < 1 or patch_size % 2**levels:
    raise ConfigError(f"need steps >= 1 and patch_size a multiple of {2**levels}, got {steps}, {patch_size}")
  model = UNet(features=features, levels=levels)
  base_key = jax.random.key(seed)
  params = init_params(model, jax.random.fold_in(base_key, INIT_PURPOSE), patch_size)
  tx = create_optimizer(learning_rate, grad_clip=grad_clip)
  state = create_train_state(params, tx, create_plateau_schedule())
  step_fn = jax.jit(make_train_step(l1_loss_fn(model), tx, base_key))
  lr = jnp.asarray(learning_rate, jnp.float32)
  batches = make_train_iter(pairs, patch_size=patch_size, batch_size=batch_size, seed=seed,
                            augment=True)
  losses = np.zeros(steps, np.float32)
  for i in tqdm(range(steps), desc="unet", disable=not progress):
    state, metrics = step_fn(state, next(batches), lr)
    losses[i] = float(metrics["loss"])
    if not int(metrics["finite"]):
      raise TrainingDivergedError(f"U-Net training: non-finite loss at step {i}")
  return UNetTrainResult(model=model, params=state.params, losses=losses)
