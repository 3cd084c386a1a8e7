"""Simplified attention block of Cheng et al. 2020 (as used by the official model).

ResidualUnit(n): conv1x1(n -> n//2) -> ReLU -> conv3x3(n//2 -> n//2, reflect) -> ReLU ->
conv1x1(n//2 -> n), plus the input, then ReLU. Branch A = 3 units; branch B = 3 units +
conv1x1(n -> n). Output `A * sigmoid(B) + x` (n channels in and out).
Submodule names follow the official state_dict: `conv_a_{0,1,2}`, `conv_b_{0,1,2,3}`, and
inside a unit `conv_0`, `conv_2`, `conv_4`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.layers.conv import Conv

__all__ = ["AttentionBlock", "ResidualUnit"]


class ResidualUnit(nn.Module):
  """Bottleneck residual unit; (B, H, W, n) -> (B, H, W, n)."""

  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n = x.shape[-1]
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = jax.nn.relu(Conv(n // 2, 1, name="conv_0", **kw)(x))
    h = jax.nn.relu(Conv(n // 2, 3, padding="reflect", name="conv_2", **kw)(h))
    h = Conv(n, 1, name="conv_4", **kw)(h)
    return jax.nn.relu(h + x.astype(self.dtype))


class AttentionBlock(nn.Module):
  """`A(x) * sigmoid(B(x)) + x`; (B, H, W, n) -> (B, H, W, n)."""

  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    a = x
    for i in range(3):
      a = ResidualUnit(name=f"conv_a_{i}", **kw)(a)
    b = x
    for i in range(3):
      b = ResidualUnit(name=f"conv_b_{i}", **kw)(b)
    b = Conv(x.shape[-1], 1, name="conv_b_3", **kw)(b)
    return a * jax.nn.sigmoid(b) + x.astype(self.dtype)
