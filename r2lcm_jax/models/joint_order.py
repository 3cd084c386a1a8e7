"""CVPR'23 coding order: the T order masks of a level predicted jointly.

One network `h_mask` maps the hyper features P (and the sRGB) to T logits per position,
`m = h_mask(P; S)` (B, h, w, T). Each position is assigned to exactly one of the T steps
by a hard Gumbel-softmax over the T categories (straight-through):
```
k*   = argmax_k (m_k + g_k)                          # category = coding step
M_k  = onehot(k*)_k + softmax((m + g) / tau)_k - stop_gradient(softmax(...)_k)
```
Forward values are exactly one-hot, so the masks are disjoint and their union is all
ones (every position is coded, no coverage rule needed); the gradient is that of the
softmax. This is the rule the CVPR supplement (section 2.4) states for its masks: the
deterministic variant is `M^k = [argmax_c m^c = k]` (g = 0, the "argmax" order), and the
published one adds "a pre-sampled random matrix g" kept in the model so that encoder and
decoder build the same masks. Here g is the fixed Gumbel draw of `joint_codec_gumbel`
(one key per latent size), derived on both sides: nothing is sent.

SPEC section 14 [inferred]: `h_mask` (3 convs, T outputs) exists in the official
`raw_checkboard.py` but is unused there; this module is how the CVPR model used it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["joint_masks", "joint_codec_gumbel", "JOINT_STREAM"]

# Separates the joint-mask keys from the sequential ones of `order_masks.codec_gumbel`.
JOINT_STREAM = 0x43565052  # "CVPR"


def joint_codec_gumbel(num_steps: int, h: int, w: int, seed: int = 0) -> jax.Array:
  """Fixed Gumbel noise of the joint masks outside training (the "pre-sampled g").

  Key = fold_in(key(seed), JOINT_STREAM, h, w).

  Returns:
    float32 (1, h, w, T), broadcast over the batch.
  """
  key = jax.random.fold_in(jax.random.key(seed), JOINT_STREAM)
  key = jax.random.fold_in(jax.random.fold_in(key, h), w)
  return jax.random.gumbel(key, (1, h, w, num_steps), jnp.float32)


def joint_masks(logits: jax.Array, gumbel: jax.Array, tau: float = 1.0) -> jax.Array:
  """T disjoint step masks from T logits per position.

  Args:
    logits: (B, h, w, T) h_mask output.
    gumbel: broadcastable to logits (zeros = the deterministic argmax masks).
    tau: softmax temperature of the straight-through gradient.

  Returns:
    float32 (T, B, h, w, 1): M_k, exactly one-hot over k in the forward pass (argmax ties
    go to the lowest k), straight-through softmax gradients.
  """
  y = (logits.astype(jnp.float32) + gumbel) / tau
  t = y.shape[-1]
  soft = jax.nn.softmax(y, axis=-1)
  hard = jax.nn.one_hot(jnp.argmax(y, axis=-1), t, dtype=jnp.float32)
  m = hard + (soft - jax.lax.stop_gradient(soft))
  return jnp.moveaxis(m, -1, 0)[..., None]
