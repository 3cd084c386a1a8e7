"""The serial baseline: a PixelCNN-style context model in raster order ("Ours (serial)").

The CVPR'23 supplement (Table 1) compares the sRGB-guided parallel context model with the
"commonly used PixelCNN based context model" (Minnen et al. 2018, as in CompressAI's
`JointAutoregressiveHierarchicalPriors`): each latent position is predicted from the
already decoded positions before it in raster order, through a 5x5 convolution with
mask type A (the centre tap and everything after it are zero):

    ctx   = MaskedConvA_5x5(v)                        (B, h, w, N), zero padding
    sigma, mu = EP(cat[P, ctx])                       1x1 MLP, (B, h, w, C) each

Configuration `R2LCMConfig(context="serial")` puts it in place of the learned-order model
on both levels (hyper: P = 0, main: P = h_s(z_hat)), with the same transforms. As in the
reference joint prior: no sRGB in the context model, no order masks, no adaptive
quantisation (q = 0: integer symbols around mu), no variable-rate step dropping
(`drop_steps` / `gamma` have no effect).

Training forward (`__call__`, parallel, one masked-conv pass): the context reads
v = u + U(-1/2, 1/2) (main, "noise"), round_ste(u) (hyper, "ste") or round(u)
(evaluation), the coded value is u_tilde = quantize(u; mu, 0, mode) and the rate is
-log2 p(u_tilde; mu, sigma) (CompressAI's convention: the context sees round(u), the coder
codes mu + round(u - mu)).

Serial decode (`window_params`): position (i, j) only needs the 5x5 window of decoded
values centred on it (rows i-2..i+2, cols j-2..j+2, later positions are masked out) and
P[i, j]; `models.serial_coding` runs it once per position, encoder and decoder alike.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.entropy.gaussian import likelihood, quantize
from r2lcm_jax.entropy.lower_bound import lower_bound
from r2lcm_jax.layers.conv import Conv, leaky_relu, torch_uniform_init
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.context_model import LevelEntropyModel

__all__ = ["MaskedConvA", "SerialLevelModel", "level_model", "mask_a", "KERNEL", "RADIUS"]

KERNEL = 5
RADIUS = KERNEL // 2


def mask_a(k: int = KERNEL) -> np.ndarray:
  """float32 (k, k): 1 at the taps strictly before the centre in raster order."""
  m = np.zeros((k, k), np.float32)
  m[: k // 2] = 1.0
  m[k // 2, : k // 2] = 1.0
  return m


class MaskedConvA(nn.Module):
  """5x5 mask-A convolution, zero padding (PixelCNN / Minnen et al. context).

  Attributes: features. Params: `kernel` (5, 5, C, features) HWIO (masked when used),
  `bias` (features,).
  """

  features: int
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  def _kernel(self, cin: int) -> tuple[jax.Array, jax.Array]:
    init = torch_uniform_init(cin * KERNEL * KERNEL)
    kernel = self.param("kernel", init, (KERNEL, KERNEL, cin, self.features), self.param_dtype)
    bias = self.param("bias", init, (self.features,), self.param_dtype)
    m = jnp.asarray(mask_a())[:, :, None, None]
    return (kernel * m).astype(self.dtype), bias.astype(self.dtype)

  @nn.compact
  def __call__(self, v: jax.Array, padding: str = "SAME") -> jax.Array:
    """v (B, h, w, C) -> (B, h, w, features) ("SAME") or (B, h-4, w-4, features) ("VALID")."""
    kernel, bias = self._kernel(v.shape[-1])
    y = jax.lax.conv_general_dilated(
      v.astype(self.dtype), kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + bias


class _EntropyParameters(nn.Module):
  """1x1 MLP cat[P (2C), ctx (N)] -> (B, h, w, 2C) = [sigma | mu]."""

  cfg: R2LCMConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.cfg.dtype, param_dtype=self.cfg.pdtype)
    hidden = 2 * self.cfg.N
    x = leaky_relu(Conv(hidden, 1, name="layers_0", **kw)(x))
    x = leaky_relu(Conv(hidden, 1, name="layers_2", **kw)(x))
    return Conv(2 * self.cfg.latent_channels, 1, name="layers_4", **kw)(x)


class SerialLevelModel(nn.Module):
  """Raster-order context model of one level (same interface as `LevelEntropyModel`).

  Attributes:
    cfg: model configuration (context "serial").
    level: "hyper" or "main".
  """

  cfg: R2LCMConfig
  level: str

  def setup(self):
    kw = dict(dtype=self.cfg.dtype, param_dtype=self.cfg.pdtype)
    self.context_prediction = MaskedConvA(self.cfg.N, **kw)
    self.entropy_parameters = _EntropyParameters(self.cfg)

  def _params(self, ctx: jax.Array, P: jax.Array) -> tuple[jax.Array, jax.Array]:
    out = self.entropy_parameters(jnp.concatenate([P.astype(ctx.dtype), ctx], -1))
    out = out.astype(jnp.float32)
    c = self.cfg.latent_channels
    return out[..., :c], out[..., c:]

  def dense_params(self, v: jax.Array, P: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Every position's (sigma, mu) from values v in one masked pass (training forward).

    Args:
      v: (B, h, w, C) the values the context reads.
      P: (B, h, w, 2C) conditioning.

    Returns:
      sigma, mu: float32 (B, h, w, C); position (i, j) depends only on v before it in
      raster order (and on P[i, j]).
    """
    return self._params(self.context_prediction(v), P)

  def window_params(self, window: jax.Array, P_ij: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sigma, mu) of one position from its 5x5 window of decoded values.

    Args:
      window: (B, 5, 5, C) values at rows i-2..i+2, cols j-2..j+2 (zero outside the
        latent; entries at or after (i, j) are ignored).
      P_ij: (B, 1, 1, 2C) conditioning at (i, j).

    Returns:
      sigma, mu: float32 (B, 1, 1, C).
    """
    return self._params(self.context_prediction(window, "VALID"), P_ij)

  # --- the LevelEntropyModel interface used by R2LCM and parameter initialisation ----

  def mask_logits(self, P: jax.Array, known: jax.Array, s: jax.Array) -> jax.Array:
    """No mask network: constant logits (B, h, w, 2) that select every position at
    step 0 (the raster scan happens inside that one step)."""
    del known, s
    one = jnp.ones(P.shape[:3] + (1,), jnp.float32)
    return jnp.concatenate([one, 0.0 * one], -1)

  def masks(self, P: jax.Array, s: jax.Array, gumbel: jax.Array) -> jax.Array:
    """(T, B, h, w, 1): step 0 takes every position, steps 1..T-1 none."""
    del s
    t = gumbel.shape[0]
    m = jnp.zeros((t,) + P.shape[:3] + (1,), jnp.float32)
    return m.at[0].set(1.0)

  def step(self, u_hat, q_map, known, P, s):
    """(sigma, mu, q = 0) from the known values u_hat * K (B, h, w, C) in one pass."""
    del q_map, s
    if known.ndim == 3:
      known = known[..., None]
    sigma, mu = self.dense_params(u_hat * known.astype(u_hat.dtype), P)
    return sigma, mu, jnp.zeros_like(mu)

  def __call__(self, u, P, s, masks, noise, *, mode: str, drop_steps=0, gamma=0.0):
    """Training / evaluation forward (module doc). Shapes as `LevelEntropyModel`:
    u (B, h, w, C), P (B, h, w, 2C), noise (T, B, h, w, C) (step 0 used); masks, s,
    drop_steps and gamma are ignored. Returns dict u_hat, likelihoods, q_map (zeros)."""
    del s, masks, drop_steps, gamma
    u = u.astype(jnp.float32)
    zero = jnp.zeros_like(u)
    eps = noise[0]
    v = quantize(u, zero, zero, mode, eps)
    sigma, mu = self.dense_params(v, P)
    u_t = quantize(u, mu, zero, mode, eps)
    p = likelihood(u_t, mu, sigma, zero, scale_bound=self.cfg.scale_bound,
                   likelihood_bound=self.cfg.likelihood_bound)
    return {"u_hat": u_t, "likelihoods": lower_bound(p, self.cfg.likelihood_bound),
            "q_map": zero}


def level_model(cfg: R2LCMConfig) -> type[nn.Module]:
  """The level entropy-model class of a configuration (`R2LCMConfig.context`)."""
  return SerialLevelModel if cfg.context == "serial" else LevelEntropyModel
