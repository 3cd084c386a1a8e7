"""One latent level's learned-context entropy model (LCEB): masks + iterative context.

The same `LevelEntropyModel` class serves both levels ("hyper": z at H/16 with P = 0,
"main": y at H/4 with P = h_s(z_hat)); each instance has its own g_mask,
context_prediction and entropy_parameters. One step (`step`) is CP then EP on the decoded
state; the training / eval forward runs the T steps in an `nn.scan` (compiled loop), and
the codec calls the very same `step` once per coding step.

Both loops are fully unrolled (`unroll=T`): XLA:CPU runs the gradients of the small
context-network convolutions about 20x slower inside a compiled loop than outside one
(3x3 67->96 conv, 2x64x64, 4 steps, forward + gradient: 14.1 s in `lax.scan`, 0.60 s
unrolled); unrolling made the default training step ~3x faster on CPU
(experiments/results/train_speed.md) and changes no value.

Per step i (SPEC section 4):
```
sigma, mu, q = step(u_hat, Q, K_i, P; S)                 # dense
q_c = q + gamma * [level == main and i == T - 1 - drop]  # coded step (both sides)
u_tilde = quantize(u; mu, q_c, mode);  p = likelihood(u_tilde; mu, sigma, q_c)
if level == main and i >= T - drop: u_tilde = mu, p = 1  # dropped step, nothing sent
Q += q * M_i;  u_hat += u_tilde * M_i;  R = LB(R + p * M_i, 1e-7);  K += M_i
```
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.entropy.gaussian import likelihood, quantize
from r2lcm_jax.entropy.lower_bound import lower_bound
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.order_masks import hard_gumbel_select, next_mask
from r2lcm_jax.models.transforms import (
  make_context_prediction,
  make_entropy_parameters,
  make_g_mask,
)

__all__ = ["LevelEntropyModel", "step_schedule", "is_dropped", "gamma_applies"]


def is_dropped(level: str, step, num_steps: int, drop_steps):
  """The drop rule: the last `drop_steps` main-level steps are not sent (decoder: mu).

  Written once for training (traced arrays), the codec (python ints) and the decoder.
  Args: level "hyper" | "main"; step: int or int array; drop_steps: int or traced int.
  Returns: bool, or a bool array shaped like `step` (always False for "hyper").
  """
  return level == "main" and step >= num_steps - drop_steps


def gamma_applies(level: str, step, num_steps: int, drop_steps):
  """The gamma rule: the last sent main-level step is coded with step 2^(q + gamma)."""
  return level == "main" and step == num_steps - 1 - drop_steps


def step_schedule(
  level: str, num_steps: int, drop_steps: int | jax.Array, gamma: float | jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Per-step rate controls of the training / eval forward (`is_dropped`, `gamma_applies`).

  Args:
    level: "hyper" or "main" (drop / gamma only act on "main").
    num_steps: T.
    drop_steps: number of trailing main-level steps not sent (0..T).
    gamma: log2 step offset of the last sent main-level step (step T-1-drop_steps).

  Returns:
    dropped bool (T,), q_offset float32 (T,).
  """
  i = jnp.arange(num_steps)
  dropped = jnp.broadcast_to(is_dropped(level, i, num_steps, drop_steps), (num_steps,))
  offset = jnp.where(gamma_applies(level, i, num_steps, drop_steps), gamma, 0.0)
  return dropped, jnp.broadcast_to(offset, (num_steps,)).astype(jnp.float32)


class LevelEntropyModel(nn.Module):
  """Masks, context prediction and entropy parameters of one level.

  Attributes:
    cfg: model configuration.
    level: "hyper" or "main".
  """

  cfg: R2LCMConfig
  level: str

  def setup(self):
    self.g_mask = make_g_mask(self.cfg)
    self.context_prediction = make_context_prediction(self.cfg)
    self.entropy_parameters = make_entropy_parameters(self.cfg)

  def mask_logits(self, P: jax.Array, known: jax.Array, s: jax.Array) -> jax.Array:
    """g_mask(cat[P, K]; S): P (B,h,w,2C), K (B,h,w,1) -> float32 (B, h, w, 2)."""
    return self.g_mask(jnp.concatenate([P, known], -1), s).astype(jnp.float32)

  def step(
    self,
    u_hat: jax.Array,
    q_map: jax.Array,
    known: jax.Array,
    P: jax.Array,
    s: jax.Array,
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One context step: CP(cat[u_hat*K, Q*K, K]; S), then EP(cat[P, ctx, K]; S).

    Args:
      u_hat: (B, h, w, C) decoded latent (0 where unknown).
      q_map: (B, h, w, C) decoded log2 steps (0 where unknown).
      known: (B, h, w, 1) or (B, h, w) known mask K in {0, 1}.
      P: (B, h, w, 2C) conditioning (zeros for the hyper level).
      s: (B, H, W, 3) sRGB.

    Returns:
      sigma, mu, q: float32 (B, h, w, C) each (sigma unbounded; q = 0 without adaptive
      quantisation).
    """
    if known.ndim == 3:
      known = known[..., None]
    known = known.astype(u_hat.dtype)
    ctx = self.context_prediction(
      jnp.concatenate([u_hat * known, q_map * known, known], -1), s
    )
    out = self.entropy_parameters(
      jnp.concatenate([P.astype(ctx.dtype), ctx, known.astype(ctx.dtype)], -1), s
    ).astype(jnp.float32)
    c = self.cfg.latent_channels
    sigma, mu = out[..., :c], out[..., c : 2 * c]
    q = out[..., 2 * c :] if self.cfg.adaptive_quant else jnp.zeros_like(mu)
    return sigma, mu, q

  def masks(self, P: jax.Array, s: jax.Array, gumbel: jax.Array) -> jax.Array:
    """Sequential order masks (compiled loop over T).

    Args:
      P: (B, h, w, 2C).
      s: (B, H, W, 3).
      gumbel: (T, B or 1, h, w, 2) Gumbel noise.

    Returns:
      float32 (T, B, h, w, 1) disjoint step masks M_i (straight-through gradients).
    """
    t = self.cfg.num_steps
    full = self.cfg.coverage == "full"

    def body(mdl, known, xs):
      g, i = xs
      b = hard_gumbel_select(mdl.mask_logits(P, known, s), g)
      m = next_mask(known, b, jnp.logical_and(full, i == t - 1))
      return known + m, m

    known0 = jnp.zeros(P.shape[:3] + (1,), jnp.float32)
    scan = nn.scan(
      body, variable_broadcast="params", split_rngs={"params": False}, length=t, unroll=t
    )
    _, ms = scan(self, known0, (gumbel, jnp.arange(t)))
    return ms

  def __call__(
    self,
    u: jax.Array,
    P: jax.Array,
    s: jax.Array,
    masks: jax.Array,
    noise: jax.Array,
    *,
    mode: str,
    drop_steps: int | jax.Array = 0,
    gamma: float | jax.Array = 0.0,
  ) -> dict[str, jax.Array]:
    """Iterative context model over T steps (compiled loop).

    Args:
      u: (B, h, w, C) continuous latent.
      P: (B, h, w, 2C) conditioning.
      s: (B, H, W, 3) sRGB.
      masks: (T, B, h, w, 1) step masks from `masks`.
      noise: (T, B, h, w, C) uniform noise in [-1/2, 1/2) (used by mode "noise").
      mode: "noise" | "ste" | "dequantize".
      drop_steps, gamma: rate controls (see `step_schedule`).

    Returns:
      dict with u_hat, likelihoods, q_map: float32 (B, h, w, C).
    """
    t = self.cfg.num_steps
    lb = self.cfg.likelihood_bound
    dropped, q_off = step_schedule(self.level, t, drop_steps, gamma)
    u = u.astype(jnp.float32)

    def body(mdl, carry, xs):
      u_hat, q_map, rate, known = carry
      m, eps, drop, off = xs
      sigma, mu, q = mdl.step(u_hat, q_map, known, P, s)
      q_c = q + off
      u_t = quantize(u, mu, q_c, mode, eps)
      p = likelihood(u_t, mu, sigma, q_c, scale_bound=self.cfg.scale_bound,
                     likelihood_bound=lb)
      u_t = jnp.where(drop, mu, u_t)
      p = jnp.where(drop, 1.0, p)
      carry = (
        u_hat + u_t * m,
        q_map + q * m,
        lower_bound(rate + p * m, lb),
        known + m,
      )
      return carry, None

    zeros = jnp.zeros_like(u)
    known0 = jnp.zeros(u.shape[:3] + (1,), jnp.float32)
    scan = nn.scan(
      body, variable_broadcast="params", split_rngs={"params": False}, length=t, unroll=t
    )
    (u_hat, q_map, rate, _), _ = scan(
      self, (zeros, zeros, zeros, known0), (masks, noise, dropped, q_off)
    )
    return {"u_hat": u_hat, "likelihoods": rate, "q_map": q_map}
