"""PCALayer: multiplicative 1x1 gating `x * conv1x1(x)` (no sigmoid), never gets sRGB."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.layers.conv import Conv

__all__ = ["PCALayer"]


class PCALayer(nn.Module):
  """`x * conv1x1(x)`; channel count preserved. Submodule `conv1x1`."""

  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, H, W, n) -> (B, H, W, n)."""
    g = Conv(x.shape[-1], 1, dtype=self.dtype, param_dtype=self.param_dtype,
             name="conv1x1")(x)
    return x.astype(self.dtype) * g
