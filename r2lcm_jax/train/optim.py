"""Optimizer: global-norm clipping on the true gradients, then Adam.

The learning rate is an injected hyperparameter (`optax.inject_hyperparams`), so
the plateau schedule can change it between steps without recompiling; it lives
in the optimizer state and is therefore checkpointed with it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

__all__ = ["create_optimizer", "get_learning_rate", "set_learning_rate"]


def _clip_then_adam(learning_rate, grad_clip: float, b1: float, b2: float, eps: float):
  parts = []
  if grad_clip and grad_clip > 0:
    parts.append(optax.clip_by_global_norm(grad_clip))
  parts.append(optax.adam(learning_rate, b1=b1, b2=b2, eps=eps))
  return optax.chain(*parts)


def create_optimizer(
  learning_rate: float = 1e-4,
  grad_clip: float = 1.0,
  b1: float = 0.9,
  b2: float = 0.999,
  eps: float = 1e-8,
) -> optax.GradientTransformation:
  """`clip_by_global_norm(grad_clip)` followed by Adam with an injectable lr.

  Args:
    learning_rate: initial Adam learning rate (official: 1e-4).
    grad_clip: max global gradient norm; 0 or negative disables clipping.
    b1: Adam first-moment decay.
    b2: Adam second-moment decay.
    eps: Adam epsilon (official PyTorch run: 1e-6; optax default 1e-8).

  Returns:
    An optax transformation whose state holds `hyperparams["learning_rate"]`.
  """
  make = optax.inject_hyperparams(_clip_then_adam, static_args=("grad_clip", "b1", "b2", "eps"))
  return make(learning_rate=learning_rate, grad_clip=grad_clip, b1=b1, b2=b2, eps=eps)


def get_learning_rate(opt_state) -> jax.Array:
  """The current learning rate stored in an `inject_hyperparams` state."""
  return opt_state.hyperparams["learning_rate"]


def set_learning_rate(opt_state, learning_rate: float | jax.Array):
  """A copy of `opt_state` with its learning rate replaced (same dtype, no recompile)."""
  old = opt_state.hyperparams["learning_rate"]
  hyper = dict(opt_state.hyperparams)
  hyper["learning_rate"] = jnp.asarray(learning_rate, dtype=old.dtype)
  return opt_state._replace(hyperparams=hyper)
