"""Pure train and eval steps (no I/O, no config).

The steps are built around a `loss_fn(params, batch, rngs, training) -> (loss,
metrics)`; `metrics` is a dict of scalars. Randomness is derived in-graph:

    step_key = fold_in(base_key, step)
    rngs = {"gumbel": fold_in(step_key, GUMBEL), "noise": fold_in(step_key, NOISE)}

Keys do not depend on the device split (threefry is partitionable), so a batch
split over N devices draws the same noise as on one device, and a resumed run
draws the same noise as an uninterrupted one.

A step whose loss or gradient norm is not finite leaves the state unchanged
(no update, step not incremented) and reports `finite = 0`; the loop stops on it
(`skip_nonfinite=False` applies such a step anyway, for the official NaN rule,
`optim.nan_policy="zero_tensor"`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from r2lcm_jax.train.state import TrainState

__all__ = ["GUMBEL", "NOISE", "EVAL", "step_rngs", "make_grad_fn", "make_update", "make_train_step",
           "make_eval_step"]

GUMBEL, NOISE, EVAL = 0, 1, 2

Batch = Mapping[str, jax.Array]
LossFn = Callable[[Any, Batch, dict, bool], tuple[jax.Array, dict]]


def step_rngs(base_key: jax.Array, step: jax.Array | int) -> dict[str, jax.Array]:
  """The named PRNG streams of one step (`gumbel`, `noise`)."""
  key = jax.random.fold_in(base_key, step)
  return {"gumbel": jax.random.fold_in(key, GUMBEL), "noise": jax.random.fold_in(key, NOISE)}


def make_grad_fn(loss_fn: LossFn, base_key: jax.Array) -> Callable:
  """Builds `grad_fn(params, batch, step) -> ((loss, metrics), grads)` (not yet jitted).

  The training-mode loss and its gradient at `params`, with the step's named PRNG
  streams (`step_rngs(base_key, step)`): the first half of `make_train_step`.
  """

  def grad_fn(params, batch: Batch, step: jax.Array):
    rngs = step_rngs(base_key, step)
    return jax.value_and_grad(lambda p: loss_fn(p, batch, rngs, True), has_aux=True)(params)

  return grad_fn


def make_update(
  tx: optax.GradientTransformation, *, skip_nonfinite: bool = True
) -> Callable[..., tuple[TrainState, dict]]:
  """Builds `update(state, grads, loss, metrics, base_lr) -> (state, metrics)` (not yet
  jitted): the optimizer step on given gradients, the second half of `make_train_step`.

  `metrics` comes back with `loss`, `grad_norm`, `lr` and `finite` added.
  """

  def update(state: TrainState, grads, loss: jax.Array, metrics: dict, base_lr: jax.Array):
    grad_norm = optax.tree.norm(grads)
    lr = base_lr * state.plateau.scale
    hyper = dict(state.opt_state.hyperparams)
    hyper["learning_rate"] = jnp.asarray(lr, hyper["learning_rate"].dtype)
    opt_state = state.opt_state._replace(hyperparams=hyper)
    updates, opt_state = tx.update(grads, opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    if skip_nonfinite:
      new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
    metrics = dict(metrics)
    metrics.update(loss=loss, grad_norm=grad_norm, lr=lr, finite=finite.astype(jnp.int32))
    return new_state, metrics

  return update


def make_train_step(
  loss_fn: LossFn, tx: optax.GradientTransformation, base_key: jax.Array,
  *, skip_nonfinite: bool = True,
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, dict]]:
  """Builds `train_step(state, batch, base_lr) -> (state, metrics)` (not yet jitted).

  Args:
    loss_fn: `(params, batch, rngs, training) -> (loss, metrics)`.
    tx: optimizer from `train.optim.create_optimizer` (lr is injected).
    base_key: `jax.random.key(seed)`.
    skip_nonfinite: leave the state unchanged when the loss or gradient norm is not
      finite (default); False applies the optimizer's update regardless.

  Returns:
    The step function: `make_grad_fn` then `make_update`, nothing else. `base_lr` is a
    () float32 array (an argument, not a constant, so changing it does not recompile):
    the learning rate at plateau scale 1; the step uses `base_lr * state.plateau.scale`.
    `metrics` adds `loss`, `grad_norm`, `lr`, `finite`.
  """
  grad_fn = make_grad_fn(loss_fn, base_key)
  update = make_update(tx, skip_nonfinite=skip_nonfinite)

  def train_step(state: TrainState, batch: Batch, base_lr: jax.Array) -> tuple[TrainState, dict]:
    (loss, metrics), grads = grad_fn(state.params, batch, state.step)
    return update(state, grads, loss, metrics, base_lr)

  return train_step


def make_eval_step(loss_fn: LossFn, base_key: jax.Array) -> Callable[[Any, Batch, jax.Array], dict]:
  """Builds `eval_step(params, batch, index) -> metrics` (not yet jitted).

  The `index`-th evaluation batch uses keys from `fold_in(fold_in(base_key,
  EVAL), index)`, so every validation pass is the same function of `params`.
  """

  def eval_step(params, batch: Batch, index: jax.Array) -> dict:
    rngs = step_rngs(jax.random.fold_in(base_key, EVAL), index)
    loss, metrics = loss_fn(params, batch, rngs, False)
    return {**metrics, "loss": loss}

  return eval_step
