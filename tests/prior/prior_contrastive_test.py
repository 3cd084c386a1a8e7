"""Algorithm 1: disjoint target / reference splits and a few steps that lower the L2 loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.contrastive import (
  contrastive_loss_fn,
  make_contrastive_iter,
  split_targets_references,
)
from r2lcm_jax.prior.encoder import PixelSearchEncoder, init_encoder_params
from r2lcm_jax.train.optim import create_optimizer
from r2lcm_jax.train.schedule import create_plateau_schedule
from r2lcm_jax.train.state import create_train_state
from r2lcm_jax.train.step import make_train_step

pytestmark = pytest.mark.usefixtures("fast_compilation")


def test_targets_and_references_are_disjoint_and_cover_the_set():
  items = list(range(7))
  t, r = split_targets_references(items)
  assert set(t).isdisjoint(r) and sorted(t + r) == items and t and r
  with pytest.raises(ConfigError):
    split_targets_references([1])


def test_contrastive_steps_reduce_the_assembly_loss(synthetic_pairs):
  targets, references = split_targets_references(synthetic_pairs)
  it = make_contrastive_iter(targets, references, patch_size=16, batch_size=4,
                             reference_batch_size=6, seed=0, augment=False)
  batch = next(it)
  assert batch["target_srgb"].shape == (4, 16, 16, 3)
  assert batch["reference_raw"].shape == (6, 16, 16, 3)
  again = next(make_contrastive_iter(targets, references, patch_size=16, batch_size=4,
                                     reference_batch_size=6, seed=0, augment=False))
  np.testing.assert_array_equal(again["reference_srgb"], batch["reference_srgb"])
  enc = PixelSearchEncoder(features=4, embed_dim=8)
  params = init_encoder_params(enc, jax.random.key(0))
  tx = create_optimizer(3e-3, grad_clip=1.0)
  state = create_train_state(params, tx, create_plateau_schedule())
  loss_fn = contrastive_loss_fn(enc, key_chunk=128, query_chunk=64)
  step = jax.jit(make_train_step(loss_fn, tx, jax.random.key(0)))
  lr = jnp.float32(3e-3)
  losses = []
  for _ in range(12):  # one fixed batch: the loss on it must go down
    state, m = step(state, batch, lr)
    losses.append(float(m["loss"]))
    assert int(m["finite"]) == 1
  final, _ = loss_fn(state.params, batch, None, False)
  assert float(final) < 0.8 * losses[0], losses
