"""GDN and inverse GDN (Balle et al.) with the CompressAI reparametrisation.

Per pixel: `norm_i = beta_i + sum_j gamma[i, j] * x_j**2`; GDN `x / sqrt(norm)`,
inverse GDN `x * sqrt(norm)`.

Parameters are stored **reparametrised**, exactly as in the official state_dict (so ported
values need no conversion): effective `beta = LB(beta_s, sqrt(1e-6 + ped))**2 - ped` and
`gamma = LB(gamma_s, 2**-18)**2 - ped`, ped = 2**-36, where LB is `lower_bound` (custom
gradient). `gamma` is (C, C) in PyTorch layout: row = output channel i.
Init: beta = 1, gamma = 0.1 * I (stored as sqrt(value + ped)).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.entropy.lower_bound import lower_bound

__all__ = ["GDN", "PEDESTAL", "BETA_BOUND", "GAMMA_BOUND"]

PEDESTAL = 2.0**-36
BETA_BOUND = math.sqrt(1e-6 + PEDESTAL)
GAMMA_BOUND = math.sqrt(PEDESTAL)


class GDN(nn.Module):
  """Generalised divisive normalisation (or its inverse).

  Attributes:
    inverse: False = GDN, True = inverse GDN (IGDN).

  Params: `beta` (C,), `gamma` (C, C), both stored reparametrised (see module doc).
  """

  inverse: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, H, W, C) -> (B, H, W, C)."""
    c = x.shape[-1]
    beta_s = self.param(
      "beta", lambda k, s, d: jnp.full(s, math.sqrt(1.0 + PEDESTAL), d), (c,),
      self.param_dtype,
    )
    gamma_s = self.param(
      "gamma",
      lambda k, s, d: jnp.sqrt(0.1 * jnp.eye(s[0], dtype=d) + PEDESTAL).astype(d),
      (c, c),
      self.param_dtype,
    )
    beta = lower_bound(beta_s, BETA_BOUND) ** 2 - PEDESTAL
    gamma = lower_bound(gamma_s, GAMMA_BOUND) ** 2 - PEDESTAL
    xc = x.astype(self.dtype)
    norm = jnp.einsum(
      "bhwj,ij->bhwi", xc * xc, gamma.astype(self.dtype),
      precision=jax.lax.Precision.HIGHEST,
    ) + beta.astype(self.dtype)
    if self.inverse:
      return xc * jnp.sqrt(norm)
    return xc * jax.lax.rsqrt(norm)
