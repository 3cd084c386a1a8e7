"""Residual / plain conv blocks of the official model (PyTorch semantics, NHWC).

Every 3x3 conv here is reflect-padded except the sub-pixel convs (zero padded). `act` is
"gdn" (GDN in down blocks, inverse GDN in up blocks) or "lrelu" (LeakyReLU 0.01).
Submodule names follow the official state_dict (`conv1`, `conv2`, `act`, `skip`,
`subpel_conv`, `conv`, `upsample`) so checkpoint porting is a renaming.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.layers.conv import Conv, SubpelConv, leaky_relu
from r2lcm_jax.layers.gdn import GDN

__all__ = [
  "ResidualBlockWithStride",
  "ResidualBlock",
  "ResidualBlockUpsample",
  "ConvBlock",
  "ConvBlockWithStride",
  "ConvBlockUpsample",
]


def _act(mdl: nn.Module, kind: str, inverse: bool, x: jax.Array) -> jax.Array:
  if kind == "gdn":
    return GDN(inverse=inverse, dtype=mdl.dtype, param_dtype=mdl.param_dtype,
               name="act")(x)
  if kind == "lrelu":
    return leaky_relu(x)
  raise ValueError(f"unknown activation {kind!r}")


class ResidualBlockWithStride(nn.Module):
  """conv3x3(s) -> LReLU -> conv3x3 -> act, plus skip (conv1x1(s) if s != 1 or in != out).

  (B, H, W, in) -> (B, ceil(H/s), ceil(W/s), features).
  """

  features: int
  stride: int = 2
  act: str = "gdn"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(Conv(self.features, 3, self.stride, name="conv1", **kw)(x))
    h = _act(self, self.act, False, Conv(self.features, 3, name="conv2", **kw)(h))
    if self.stride != 1 or x.shape[-1] != self.features:
      skip = Conv(self.features, 1, self.stride, name="skip", **kw)(x)
    else:
      skip = x.astype(self.dtype)
    return h + skip


class ResidualBlock(nn.Module):
  """conv3x3 -> LReLU -> conv3x3 -> LReLU, plus skip (conv1x1 if in != out)."""

  features: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, H, W, in) -> (B, H, W, features)."""
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(Conv(self.features, 3, name="conv1", **kw)(x))
    h = leaky_relu(Conv(self.features, 3, name="conv2", **kw)(h))
    if x.shape[-1] != self.features:
      skip = Conv(self.features, 1, name="skip", **kw)(x)
    else:
      skip = x.astype(self.dtype)
    return h + skip


class ResidualBlockUpsample(nn.Module):
  """subpel(r) -> LReLU -> conv3x3 -> act(inverse), plus a separate subpel(r) skip.

  (B, H, W, in) -> (B, H*r, W*r, features).
  """

  features: int
  r: int = 1
  act: str = "gdn"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(SubpelConv(self.features, self.r, name="subpel_conv", **kw)(x))
    h = _act(self, self.act, True, Conv(self.features, 3, name="conv", **kw)(h))
    return h + SubpelConv(self.features, self.r, name="upsample", **kw)(x)


class ConvBlock(nn.Module):
  """conv3x3 -> LReLU -> conv3x3 -> LReLU (no skip); (B,H,W,in) -> (B,H,W,features)."""

  features: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(Conv(self.features, 3, name="conv1", **kw)(x))
    return leaky_relu(Conv(self.features, 3, name="conv2", **kw)(h))


class ConvBlockWithStride(nn.Module):
  """conv3x3(s) -> LReLU -> conv3x3 -> act (no skip); output (B, ceil(H/s), ...)."""

  features: int
  stride: int = 2
  act: str = "lrelu"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(Conv(self.features, 3, self.stride, name="conv1", **kw)(x))
    return _act(self, self.act, False, Conv(self.features, 3, name="conv2", **kw)(h))


class ConvBlockUpsample(nn.Module):
  """subpel(r) -> LReLU -> conv3x3 -> act(inverse) (no skip); output (B, H*r, W*r, f)."""

  features: int
  r: int = 2
  act: str = "lrelu"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(SubpelConv(self.features, self.r, name="subpel_conv", **kw)(x))
    return _act(self, self.act, True, Conv(self.features, 3, name="conv", **kw)(h))
