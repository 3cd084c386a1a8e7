"""Training of the reconstructor (Algorithm 3) with a fixed prior and a frozen encoder.

Batches are random (sRGB, raw) patches of the training images (`data.pipeline.
make_train_iter`, flips / rotations); the encoder's embeddings are computed in the step
with its parameters held fixed (stop-gradient; not at all for a reconstructor without the
prior, `use_prior=False`), the prior arrays are constants of the
compiled step, and the loss is `reconstructor.l1_ssim_loss`. `create_reconstructor_task`
packages this as a `train.task_api.Task` for the project's loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.data.nus import ImagePair
from r2lcm_jax.data.pipeline import make_train_dataset, make_train_iter
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.encoder import PixelSearchEncoder
from r2lcm_jax.prior.model_file import init_reconstructor_params
from r2lcm_jax.prior.prior_file import Prior
from r2lcm_jax.prior.reconstructor import PriorReconstructor, l1_ssim_loss
from r2lcm_jax.train.task_api import Task

__all__ = ["reconstructor_loss_fn", "create_reconstructor_task"]

Pairs = Sequence[ImagePair | tuple[np.ndarray, np.ndarray]]


def reconstructor_loss_fn(recon: PriorReconstructor, encoder: PixelSearchEncoder,
                          encoder_params: Any, prior: Prior, *, alpha: float = 1.0,
                          beta: float = 0.1):
  """`loss_fn(params, batch, rngs, training)` on batch["srgb"/"raw"] (B, P, P, 3), P % 8 == 0."""
  pf, ps, pr = (jnp.asarray(a, jnp.float32) for a in (prior.features, prior.srgb, prior.raw))

  def loss_fn(params, batch, rngs, training):
    del rngs, training
    if recon.use_prior:
      feats = jax.lax.stop_gradient(encoder.apply({"params": encoder_params}, batch["srgb"]))
    else:  # "sRGB + U-Net": the embeddings are not used
      b, h, w, _ = batch["srgb"].shape
      feats = jnp.zeros((b, h // 2, w // 2, encoder.embed_dim), jnp.float32)
    pred = recon.apply({"params": params}, batch["srgb"], feats, pf, ps, pr)
    return l1_ssim_loss(pred, batch["raw"], alpha=alpha, beta=beta)

  return loss_fn


def create_reconstructor_task(recon: PriorReconstructor, encoder: PixelSearchEncoder,
                              encoder_params: Any, prior: Prior, train: Pairs, val: Pairs, *,
                              patch_size: int = 64, batch_size: int = 8, val_batches: int = 2,
                              alpha: float = 1.0, beta: float = 0.1, seed: int = 0) -> Task:
  """The loop `Task` training `recon` on `train` (validation: fixed patches of `val`)."""
  if patch_size % 8:
    raise ConfigError(f"reconstructor patch_size must be a multiple of 8, got {patch_size}")
  it = make_train_iter(train, patch_size=patch_size, batch_size=batch_size, seed=seed)
  vals = []
  if val:
    ds = make_train_dataset(val, patch_size=patch_size, batch_size=batch_size,
                            seed=(seed + 7) % 2**32, augment=False)
    vals = [ds[i] for i in range(val_batches)]
  return Task(init_params=lambda key: init_reconstructor_params(recon, encoder.embed_dim, key),
              loss_fn=reconstructor_loss_fn(recon, encoder, encoder_params, prior, alpha=alpha,
                                            beta=beta),
              train_iter=it, val_batches=vals)
