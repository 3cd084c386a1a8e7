"""CAM's content-aware sampler on a grid of cells (Nam et al., CVPR'22), in JAX.

The sampler network outputs, for every pixel, 9 logits: a soft assignment (softmax) of
the pixel to its own `g` x `g` cell and to the 8 neighbouring cells, in the order of
superpixel-FCN (offset (dy, dx) = (k // 3 - 1, k % 3 - 1) for channel k; channel 4 is the
pixel's own cell). From it:

- **Selection** (`select_offsets`): every cell keeps exactly one pixel, the pixel of the
  cell with the highest probability of belonging to it (channel 4), so an image of
  ceil(H/g) x ceil(W/g) cells gets exactly that many samples (g = 8: 1.5625 % of the
  pixels) and a position costs log2(g^2) bits at most (the paper's 6 bits at g = 8).
  Deviation from the official code, which keeps per cell the best pixel of its 3g x 3g
  neighbourhood (so two cells may pick the same pixel and a sample may leave its cell):
  restricting the choice to the own cell gives the exact budget and the 6-bit position
  the paper's rate counts. The pixels are ranked by the log-odds of channel 4,
  `logit_4 - logsumexp(other logits)`, strictly increasing in its probability, so the
  choice is the same as by probability; but the probabilities saturate to exactly 1.0 in
  float32 once the logits grow (they did, to thousands, in a CPU training run) and every
  pixel then ties, while the log-odds stay distinct.
- **Differentiable mask** (`ste_mask`, training): the hard one-hot mask of the selection
  in the forward pass, gradient straight through to the selected probabilities (the
  official straight-through estimator; the official also clips that gradient to [-1, 1],
  not done here).
- **SLIC loss** (`slic_loss`): cell centres of the features are the probability-weighted
  means over the pixels assigned to them (`pool_cells`), every pixel's feature is rebuilt
  from the 9 centres (`unpool_cells`), and the loss is
  `alpha mse(sRGB) + (1 - alpha) mse(raw) + m^2 / g^2 mse(xy)` on features
  [255 sRGB, 255 raw, x, y] (official alpha 0.2, m 10, weight 1e-4).

Every array here covers whole cells: (B, Hc g, Wc g, ...) with Hc x Wc cells.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["NUM_ASSIGN", "OWN_CELL", "cell_view", "own_cell_log_odds", "select_offsets",
           "offsets_to_mask", "ste_mask", "pool_cells", "unpool_cells", "slic_loss"]

NUM_ASSIGN = 9  # own cell + 8 neighbours
OWN_CELL = 4


def _offsets() -> list[tuple[int, int]]:
  return [(k // 3 - 1, k % 3 - 1) for k in range(NUM_ASSIGN)]


def cell_view(x: jax.Array, grid: int) -> jax.Array:
  """(B, Hc g, Wc g, C) -> (B, Hc, Wc, g * g, C): the pixels of every cell, raster order."""
  b, h, w, c = x.shape
  if h % grid or w % grid:
    raise ValueError(f"size {h}x{w} is not a multiple of the cell size {grid}")
  x = x.reshape(b, h // grid, grid, w // grid, grid, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // grid, w // grid, grid * grid, c)


def _from_cells(x: jax.Array, grid: int) -> jax.Array:
  """Inverse of `cell_view`: (B, Hc, Wc, g * g, C) -> (B, Hc g, Wc g, C)."""
  b, hc, wc, _, c = x.shape
  x = x.reshape(b, hc, wc, grid, grid, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, hc * grid, wc * grid, c)


def own_cell_log_odds(logits: jax.Array) -> jax.Array:
  """(..., 9) assignment logits -> (...) log(p_4 / (1 - p_4)), p = softmax(logits)."""
  others = jnp.concatenate([logits[..., :OWN_CELL], logits[..., OWN_CELL + 1:]], -1)
  return logits[..., OWN_CELL] - jax.nn.logsumexp(others, axis=-1)


def select_offsets(logits: jax.Array, grid: int, valid: jax.Array | None = None) -> jax.Array:
  """The sample of every cell: the pixel with the highest own-cell probability, ranked by
  its log-odds (module doc).

  Args:
    logits: (B, Hc g, Wc g, 9) assignment logits (probabilities: softmax over the last axis).
    grid: cell size g.
    valid: optional (Hc g, Wc g) bool, False for padding pixels (never chosen; every cell
      must hold at least one valid pixel).

  Returns:
    (B, Hc, Wc) int32 offsets dy * g + dx of the chosen pixel inside its cell (ties: the
    first in raster order).
  """
  score = cell_view(own_cell_log_odds(logits)[..., None], grid)[..., 0]
  if valid is not None:
    ok = cell_view(valid[None, :, :, None], grid)[..., 0]
    score = jnp.where(ok, score, -jnp.inf)
  return jnp.argmax(score, axis=-1).astype(jnp.int32)


def offsets_to_mask(offsets: jax.Array, grid: int) -> jax.Array:
  """(B, Hc, Wc) int offsets -> (B, Hc g, Wc g, 1) float32 mask, 1 at every sample."""
  onehot = jax.nn.one_hot(offsets, grid * grid, dtype=jnp.float32)[..., None]
  return _from_cells(onehot, grid)


def ste_mask(logits: jax.Array, grid: int) -> jax.Array:
  """(B, Hc g, Wc g, 9) logits -> (B, Hc g, Wc g, 1) mask with a straight-through
  gradient: forward the hard one-hot of `select_offsets`, backward d mask / d p = 1 at
  the selected pixels (p their own-cell probability, softmax of the logits), 0 elsewhere."""
  prob = jax.nn.softmax(logits, -1)
  hard = jax.lax.stop_gradient(offsets_to_mask(select_offsets(logits, grid), grid))
  picked = prob[..., OWN_CELL:OWN_CELL + 1] * hard
  return hard + picked - jax.lax.stop_gradient(picked)


def _shift_cells(x: jax.Array, dy: int, dx: int) -> jax.Array:
  """out[:, i, j] = x[:, i - dy, j - dx] on (B, Hc, Wc, C), zero outside."""
  b, hc, wc, c = x.shape
  pad = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return jax.lax.dynamic_slice(pad, (0, 1 - dy, 1 - dx, 0), (b, hc, wc, c))


def pool_cells(feat: jax.Array, prob: jax.Array, grid: int) -> jax.Array:
  """Cell centres: (B, Hc g, Wc g, C) features, (B, Hc g, Wc g, 9) probabilities ->
  (B, Hc, Wc, C), the mean of the features weighted by each pixel's probability of
  belonging to the cell (pixels of the cell and of its 8 neighbours)."""
  num = jnp.zeros(())
  den = jnp.zeros(())
  ones = jnp.ones(feat.shape[:-1] + (1,), feat.dtype)
  fx = jnp.concatenate([feat, ones], -1)
  for k, (dy, dx) in enumerate(_offsets()):
    # pixels of cell q with channel k belong to cell q + (dy, dx)
    s = cell_view(fx * prob[..., k:k + 1], grid).sum(axis=3)
    s = _shift_cells(s, dy, dx)
    num = num + s[..., :-1]
    den = den + s[..., -1:]
  return num / (den + 1e-8)


def unpool_cells(centres: jax.Array, prob: jax.Array, grid: int) -> jax.Array:
  """Features rebuilt from the centres: (B, Hc, Wc, C), (B, Hc g, Wc g, 9) ->
  (B, Hc g, Wc g, C) = sum_k prob_k x centre of the cell at offset k (0 outside)."""
  out = jnp.zeros(())
  for k, (dy, dx) in enumerate(_offsets()):
    c = _shift_cells(centres, -dy, -dx)  # c[q] = centres[q + (dy, dx)]
    up = jnp.repeat(jnp.repeat(c, grid, axis=1), grid, axis=2)
    out = out + up * prob[..., k:k + 1]
  return out


def slic_loss(prob: jax.Array, srgb: jax.Array, raw: jax.Array, grid: int, *,
              alpha: float = 0.2, m: float = 10.0) -> jax.Array:
  """Superpixel (SLIC-like) loss of the assignment (module doc).

  Args:
    prob: (B, Hc g, Wc g, 9) assignment probabilities.
    srgb, raw: (B, Hc g, Wc g, 3) float32 in [0, 1].
    grid: cell size g.
    alpha: weight of the sRGB colour term (raw: 1 - alpha).
    m: weight of the spatial term (m^2 / g^2).

  Returns:
    scalar float32.
  """
  b, h, w, _ = srgb.shape
  yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
  xy = jnp.broadcast_to(jnp.stack([xx, yy], -1), (b, h, w, 2))
  feat = jnp.concatenate([255.0 * srgb, 255.0 * raw, xy], -1)
  rebuilt = unpool_cells(pool_cells(feat, prob, grid), prob, grid)
  err = (rebuilt - feat) ** 2
  return (alpha * err[..., 0:3].mean() + (1.0 - alpha) * err[..., 3:6].mean()
          + m**2 / grid**2 * err[..., 6:8].mean())
