"""Coding-order options of the context model (CVPR'23 supplement, Table 2, + checkerboard).

An order map O (B, h, w) int32 says at which context step 0..T-1 each latent position is
coded (T = never coded). The context model is the same for every option: only the order
in which positions become known changes, so one trained model codes with any of them and
the decoder rebuilds the map from what it already has (no side information):

- "learned" (default): the sRGB-guided sequential masks with the fixed codec Gumbel keys
  (`order_masks.codec_gumbel`), exactly how the model is evaluated.
- "argmax": the same sequential g_mask conditioning on K_i, but without Gumbel noise:
  position selected at step i iff logit0 >= logit1 (the supplement's "deterministic
  mask", the argmax of the mask network's logits).
- "random": random sparse masks whose union is all ones: a balanced random partition of
  the h*w positions into T steps (step sizes differ by at most one), from a fixed key
  derived from (seed, level, h, w). Independent of the image.
- "checkerboard": the standard two-pass anchor / non-anchor context (He et al. 2021; the
  official `raw_checkboard.py`): step 0 codes the anchors, positions with (row + col) odd
  (the official `[0::2, 1::2]` and `[1::2, 0::2]`), step 1 the others; steps 2..T-1 code
  nothing. Needs T >= 2.

"random" and "checkerboard" cover every position exactly once; "learned" and "argmax"
cover every position when the model's coverage is "full" (with coverage "official",
positions no step selects stay T, as in the reference).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models.config import LEVELS
from r2lcm_jax.models.order_masks import codec_gumbel, order_from_masks

__all__ = [
  "ORDERS",
  "DEFAULT_ORDER",
  "check_order",
  "order_noise",
  "random_order",
  "checkerboard_order",
  "coding_order",
]

ORDERS = ("learned", "argmax", "random", "checkerboard")
DEFAULT_ORDER = "learned"
_RANDOM_STREAM = 0x52414E44  # separates the random-order keys from the Gumbel keys


def check_order(order: str, num_steps: int | None = None) -> str:
  """Returns `order`; ConfigError if it is unknown (or checkerboard with T < 2)."""
  if order not in ORDERS:
    raise ConfigError(f"coding order must be one of {ORDERS}, got {order!r}")
  if order == "checkerboard" and num_steps is not None and num_steps < 2:
    raise ConfigError(f"the checkerboard order needs at least 2 context steps, got T={num_steps}")
  return order


def order_noise(order: str, level: str, num_steps: int, h: int, w: int,
                seed: int = 0) -> jax.Array:
  """Gumbel noise the mask network is run with for a mask-network order.

  Returns:
    float32 (T, 1, h, w, 2): the codec keys for "learned", zeros for "argmax".
  """
  if order == "learned":
    return codec_gumbel(level, num_steps, h, w, seed)
  if order == "argmax":
    return jnp.zeros((num_steps, 1, h, w, 2), jnp.float32)
  raise ConfigError(f"order {order!r} does not use the mask network")


def random_order(level: str, num_steps: int, batch: int, h: int, w: int,
                 seed: int = 0) -> jax.Array:
  """Balanced random partition of the positions into T steps (same for every image).

  Key = fold_in(key(seed), stream, level id, h, w); a random permutation of the h*w
  positions in raster order, the k-th of them goes to step floor(k * T / (h*w)).

  Returns:
    int32 (B, h, w) in 0..T-1.
  """
  key = jax.random.fold_in(jax.random.key(seed), _RANDOM_STREAM)
  for v in (LEVELS.index(level), h, w):
    key = jax.random.fold_in(key, v)
  n = h * w
  if n * num_steps >= 2**31:
    raise ConfigError(f"latent of {h}x{w} positions is too large for the random order")
  rank = jax.random.permutation(key, n).astype(jnp.int32)  # slot of position p
  steps = (rank * num_steps) // n
  return jnp.broadcast_to(steps.reshape(1, h, w), (batch, h, w))


def checkerboard_order(num_steps: int, batch: int, h: int, w: int) -> jax.Array:
  """Anchor (row + col odd) -> step 0, non-anchor -> step 1.

  Returns:
    int32 (B, h, w) in {0, 1}.
  """
  check_order("checkerboard", num_steps)
  r = jnp.arange(h, dtype=jnp.int32)[:, None]
  c = jnp.arange(w, dtype=jnp.int32)[None, :]
  step = 1 - (r + c) % 2
  return jnp.broadcast_to(step[None], (batch, h, w)).astype(jnp.int32)


def coding_order(
  order: str,
  level: str,
  num_steps: int,
  shape: tuple[int, int, int],
  masks_fn: Callable[[jax.Array], jax.Array],
  seed: int = 0,
) -> jax.Array:
  """The order map of one level for a coding-order option.

  Args:
    order: one of ORDERS.
    level: "hyper" or "main".
    num_steps: T.
    shape: (B, h, w) of the level's latent.
    masks_fn: Gumbel noise (T, 1, h, w, 2) -> step masks (T, B, h, w, 1) of the level's
      mask network (only called for "learned" and "argmax").
    seed: the model's codec seed.

  Returns:
    int32 (B, h, w): step 0..T-1 of every position, T = never coded.
  """
  check_order(order, num_steps)
  b, h, w = shape
  if order in ("learned", "argmax"):
    return order_from_masks(masks_fn(order_noise(order, level, num_steps, h, w, seed)))
  if order == "random":
    return random_order(level, num_steps, b, h, w, seed)
  return checkerboard_order(num_steps, b, h, w)
