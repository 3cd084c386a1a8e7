"""Optimizer: NaN handling, global-norm clipping, then Adam, as the official step does it.

One step of the official script (`train_raw.py`, SPEC section 9), reproduced exactly by
`tests/train/train_step_parity_test.py`:

    g = dloss/dtheta
    [nan_policy "zero_tensor"] every tensor of g that holds a NaN is set to 0
    c = min(1, max_norm / (||g|| + 1e-6))           # torch clip_grad_norm_, global L2 norm
    theta <- Adam(lr, b1, b2, eps)(g * c)

Choices (config `optim.*`):

* `eps`: 1e-6 is the official value (the common config uses it); optax's own default
  would be 1e-8. With gradients clipped to norm 1 over ~1e6 parameters most entries are
  below 1e-6 at the first steps, so eps sets the step size there (linear regime).
* `nan_policy`: "skip_step" (default) leaves the state unchanged when the loss or the
  gradient norm is not finite (`train.step`); "zero_tensor" is the official behaviour,
  which zeroes the NaN tensors and still moves every parameter by Adam's momentum: a
  silent corruption we keep only to reproduce the reference.
* `amp_loss_scale`: 0 (default) clips the true gradient. The official README run uses
  fp16 AMP and clips the **scaled** gradient (it never calls `scaler.unscale_`, SPEC
  section 9 [bug]); `amp_loss_scale=65536` reproduces that order: the clip sees
  `S * g` and Adam receives `g * min(1, max_norm / (S * ||g|| + 1e-6))`, i.e. the
  gradient clipped to norm max_norm / S. (The GradScaler's scale growth and the fp16
  forward itself are not emulated.) We train in fp32 and clip the true gradient.

The learning rate is an injected hyperparameter (`optax.inject_hyperparams`), so the
plateau schedule can change it between steps without recompiling; it lives in the
optimizer state and is therefore checkpointed with it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

__all__ = [
  "NAN_POLICIES",
  "clip_grad_norm",
  "zero_nan_tensors",
  "create_optimizer",
  "get_learning_rate",
  "set_learning_rate",
]

NAN_POLICIES = ("skip_step", "zero_tensor")
_CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_: max_norm / (total_norm + 1e-6)


def zero_nan_tensors() -> optax.GradientTransformation:
  """Sets every gradient tensor that holds a NaN to zeros (the official NaN rule)."""

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda g: jnp.where(jnp.any(jnp.isnan(g)), jnp.zeros_like(g), g), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def clip_grad_norm(max_norm: float, loss_scale: float = 0.0) -> optax.GradientTransformation:
  """`g * min(1, max_norm / (s * ||g|| + 1e-6))` with s = loss_scale or 1.

  `||g||` is the global L2 norm over all tensors (as `torch.nn.utils.clip_grad_norm_`).
  With `loss_scale` > 0 the clip acts on the scaled gradient `s * g` and the result is
  unscaled afterwards, as the official AMP run does (module doc).
  """
  scale = float(loss_scale) if loss_scale and loss_scale > 0 else 1.0

  def update(updates, state, params=None):
    del params
    norm = optax.tree.norm(updates)
    coef = jnp.minimum(1.0, max_norm / (scale * norm + _CLIP_EPS))
    return jax.tree.map(lambda g: g * coef.astype(g.dtype), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _clip_then_adam(learning_rate, grad_clip: float, b1: float, b2: float, eps: float,
                    nan_policy: str, amp_loss_scale: float):
  parts = []
  if nan_policy == "zero_tensor":
    parts.append(zero_nan_tensors())
  if grad_clip and grad_clip > 0:
    parts.append(clip_grad_norm(grad_clip, amp_loss_scale))
  parts.append(optax.adam(learning_rate, b1=b1, b2=b2, eps=eps))
  return optax.chain(*parts)


def create_optimizer(
  learning_rate: float = 1e-4,
  grad_clip: float = 1.0,
  b1: float = 0.9,
  b2: float = 0.999,
  eps: float = 1e-6,
  nan_policy: str = "skip_step",
  amp_loss_scale: float = 0.0,
) -> optax.GradientTransformation:
  """[zero NaN tensors] -> clip the global norm to `grad_clip` -> Adam, lr injectable.

  Args:
    learning_rate: initial Adam learning rate (official: 1e-4).
    grad_clip: max global gradient norm; 0 or negative disables clipping.
    b1: Adam first-moment decay.
    b2: Adam second-moment decay.
    eps: Adam epsilon (official: 1e-6).
    nan_policy: "skip_step" (the train step skips non-finite steps) or "zero_tensor"
      (official: NaN tensors are zeroed and the step goes on); see module doc.
    amp_loss_scale: 0, or the official AMP run's loss scale to clip as it does.

  Returns:
    An optax transformation whose state holds `hyperparams["learning_rate"]`.

  Raises:
    ValueError: unknown nan_policy.
  """
  if nan_policy not in NAN_POLICIES:
    raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
  make = optax.inject_hyperparams(
    _clip_then_adam, static_args=("grad_clip", "b1", "b2", "eps", "nan_policy", "amp_loss_scale"))
  return make(learning_rate=learning_rate, grad_clip=grad_clip, b1=b1, b2=b2, eps=eps,
              nan_policy=nan_policy, amp_loss_scale=amp_loss_scale)


def get_learning_rate(opt_state) -> jax.Array:
  """The current learning rate stored in an `inject_hyperparams` state."""
  return opt_state.hyperparams["learning_rate"]


def set_learning_rate(opt_state, learning_rate: float | jax.Array):
  """A copy of `opt_state` with its learning rate replaced (same dtype, no recompile)."""
  old = opt_state.hyperparams["learning_rate"]
  hyper = dict(opt_state.hyperparams)
  hyper["learning_rate"] = jnp.asarray(learning_rate, dtype=old.dtype)
  return opt_state._replace(hyperparams=hyper)
