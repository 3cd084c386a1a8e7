"""Factorized entropy bottleneck (Ballé et al. 2018) as a Flax module.

The hyper latent of the CVPR'23 model is coded with it: every channel has its own
learned univariate density (`entropy.factorized`); no context, no conditioning.
Values are quantised to the integers (no median offset; the CVPR model's optional
channel mean is subtracted by the caller before this module).

Modes (z: (B, h, w, C) float32):
  "noise":      z_t = z + u, u ~ U(-1/2, 1/2) (given, or drawn from rng "noise");
                the likelihood of the noisy value is a smooth rate proxy.
  "ste":        z_t = z + stop_gradient(round(z) - z): forward exactly round(z),
                gradient of the identity (the official `rounding_aux forward`).
  "dequantize": z_t = round(z) (evaluation and the codec).
The likelihood is `bin_probability(z_t)` lower-bounded (with the pass-through gradient of
`entropy.lower_bound`) by `likelihood_bound`.

Parameters: `_matrix{k}`, `_bias{k}`, `_factor{k}` (see `entropy.factorized`; the same
names and shapes as CompressAI's `EntropyBottleneck`, channels first).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.entropy import factorized
from r2lcm_jax.entropy.lower_bound import lower_bound

__all__ = ["FactorizedBottleneck", "BOTTLENECK_MODES"]

BOTTLENECK_MODES = ("noise", "ste", "dequantize")


def _const(value: float):
  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.full(shape, value, dtype)
  return init


class FactorizedBottleneck(nn.Module):
  """Learned per-channel density of a latent and its quantisation.

  Attributes:
    channels: C.
    filters: hidden widths of each channel's cumulative network.
    init_scale: initial width of the density.
    likelihood_bound: lower bound of the returned likelihoods (CompressAI: 1e-9).
  """

  channels: int
  filters: tuple[int, ...] = factorized.DEFAULT_FILTERS
  init_scale: float = factorized.DEFAULT_INIT_SCALE
  likelihood_bound: float = 1e-9

  def setup(self):
    widths = (1,) + tuple(self.filters) + (1,)
    scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
    c = self.channels
    leaves = {}
    for k in range(len(widths) - 1):
      out, inp = widths[k + 1], widths[k]
      leaves[f"_matrix{k}"] = self.param(
        f"_matrix{k}", _const(float(np.log(np.expm1(1.0 / scale / out)))), (c, out, inp))
      leaves[f"_bias{k}"] = self.param(
        f"_bias{k}", lambda key, s: jax.random.uniform(key, s, jnp.float32, -0.5, 0.5),
        (c, out, 1))
      if k < len(self.filters):
        leaves[f"_factor{k}"] = self.param(f"_factor{k}", nn.initializers.zeros, (c, out, 1))
    self.density = leaves

  def likelihood(self, z_t: jax.Array) -> jax.Array:
    """Bounded bin probability of integer-centred values z_t (B, h, w, C) -> float32."""
    p = factorized.bin_probability(self.density, z_t.astype(jnp.float32), jnp,
                                   jax.lax.stop_gradient)
    return lower_bound(p, self.likelihood_bound)

  def __call__(self, z: jax.Array, *, mode: str, noise: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """Quantises z and evaluates its likelihood.

    Args:
      z: (B, h, w, C) continuous latent.
      mode: one of BOTTLENECK_MODES (module docstring).
      noise: (B, h, w, C) U(-1/2, 1/2) for mode "noise" (drawn from rng "noise" if None).

    Returns:
      z_t float32 (B, h, w, C) and its likelihoods float32 (B, h, w, C) in
      [likelihood_bound, 1].
    """
    z = z.astype(jnp.float32)
    if mode == "noise":
      if noise is None:
        noise = jax.random.uniform(self.make_rng("noise"), z.shape, jnp.float32, -0.5, 0.5)
      z_t = z + noise
    elif mode == "ste":
      z_t = z + jax.lax.stop_gradient(jnp.round(z) - z)
    elif mode == "dequantize":
      z_t = jnp.round(z)
    else:
      raise ValueError(f"mode must be one of {BOTTLENECK_MODES}, got {mode!r}")
    return z_t, self.likelihood(z_t)
