"""sRGB-guided learned coding order: hard Gumbel-softmax masks and order maps.

For one level, with conditioning P and sRGB S (SPEC section 3):
```
K_0 = 0
for i in 0..T-1:
  L_i = g_mask(cat[P, K_i]; S)                       # 2 logits
  b_i = hard_gumbel(L_i + g_i)[component 0]           # {0, 1}, straight-through
  M_i = max(K_i, b_i) - K_i;  K_{i+1} = K_i + M_i
```
With coverage "full" the last step takes every remaining position: M_{T-1} = 1 - K_{T-1}.
Order map O = i where M_i = 1, O = T where nothing selected the position.

Gumbel noise g_i: random in training (rng "gumbel"); outside training it comes from a fixed
key per (level, step, latent height, latent width) and is the same for every image of a
batch, so an encoder and a decoder that both know P (decoded z_hat) and S rebuild the same
order map: nothing is sent out of band and nothing is left uncounted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from r2lcm_jax.models.config import LEVELS

__all__ = [
  "codec_gumbel",
  "hard_gumbel_select",
  "next_mask",
  "order_from_masks",
]


def codec_gumbel(level: str, num_steps: int, h: int, w: int, seed: int = 0) -> jax.Array:
  """Fixed Gumbel noise used outside training.

  Key = fold_in(key(seed), level id, step, h, w), level id 0 = hyper, 1 = main.

  Returns:
    float32 (T, 1, h, w, 2), broadcast over the batch.
  """
  base = jax.random.fold_in(jax.random.key(seed), LEVELS.index(level))
  out = []
  for i in range(num_steps):
    k = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(base, i), h), w)
    out.append(jax.random.gumbel(k, (1, h, w, 2), jnp.float32))
  return jnp.stack(out)


def hard_gumbel_select(logits: jax.Array, gumbel: jax.Array, tau: float = 1.0) -> jax.Array:
  """Component 0 of a hard Gumbel-softmax over the last axis (2 logits).

  Forward value is exactly 0 or 1 (1 iff logit0 + g0 >= logit1 + g1, argmax ties go to
  component 0); the gradient is that of softmax((logits + g) / tau)[..., 0].

  Args:
    logits: (B, h, w, 2).
    gumbel: broadcastable to logits.

  Returns:
    float32 (B, h, w, 1).
  """
  y = (logits.astype(jnp.float32) + gumbel) / tau
  soft = jax.nn.softmax(y, axis=-1)[..., :1]
  hard = (y[..., :1] >= y[..., 1:2]).astype(jnp.float32)
  return hard + (soft - jax.lax.stop_gradient(soft))


def next_mask(known: jax.Array, b: jax.Array, take_rest: bool | jax.Array) -> jax.Array:
  """Newly selected mask M_i = max(K_i, b_i) - K_i (or 1 - K_i when take_rest).

  Args:
    known: (B, h, w, 1) K_i in {0, 1}.
    b: (B, h, w, 1) selection sample.
    take_rest: python or traced bool; coverage "full" at the last step.

  Returns:
    (B, h, w, 1) M_i in {0, 1}.
  """
  m = jnp.maximum(known, b) - known
  return jnp.where(take_rest, 1.0 - known, m)


def order_from_masks(masks: jax.Array) -> jax.Array:
  """Order map from the stacked step masks.

  Args:
    masks: (T, B, h, w, 1) disjoint {0,1} masks.

  Returns:
    int32 (B, h, w): step at which each position is selected, T if never.
  """
  t = masks.shape[0]
  sel = masks[..., 0] > 0.5
  steps = jnp.arange(t, dtype=jnp.int32).reshape(t, 1, 1, 1)
  return jnp.min(jnp.where(sel, steps, t), axis=0).astype(jnp.int32)
