"""The pixel searching encoder of PriorRAW (paper section 3.2).

A small ResNet-like network over sRGB with a total down-sampling of 2: a 3x3 stem, a
residual block, one stride-2 residual block, two residual blocks at half resolution and
a 1x1 projection to `embed_dim` channels (the project's `layers.blocks`, LeakyReLU).
The embedding of every half-resolution pixel is L2-normalised and scaled by
`exp(log_scale / 2)` (a learned scalar), so the inner product of two embeddings is
`exp(log_scale) * cosine`: the affinity of the paper with a learned temperature. Unit-norm
directions also make k-means with inner-product similarity well posed (`prior.kmeans`).

`half_resolution` puts raw / sRGB images on the embedding grid (2x2 mean), so every
embedding has the (sRGB, raw) value of the pixels it describes.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.layers.blocks import ResidualBlock, ResidualBlockWithStride
from r2lcm_jax.layers.conv import Conv, leaky_relu
from r2lcm_jax.prior.init import init_on_host

__all__ = ["PixelSearchEncoder", "half_resolution", "init_encoder_params"]


class PixelSearchEncoder(nn.Module):
  """sRGB (B, H, W, 3) in [0, 1], H and W even -> embeddings (B, H/2, W/2, embed_dim).

  Attributes:
    features: width at full resolution (doubled after the stride-2 block).
    embed_dim: embedding size D.
    init_scale: initial value of `exp(log_scale)` (inverse softmax temperature).
  """

  features: int = 16
  embed_dim: int = 32
  init_scale: float = 10.0

  @nn.compact
  def __call__(self, srgb: jax.Array) -> jax.Array:
    x = leaky_relu(Conv(self.features, 3, name="stem")(srgb))
    x = ResidualBlock(self.features, name="block0")(x)
    x = ResidualBlockWithStride(2 * self.features, stride=2, act="lrelu", name="down")(x)
    x = ResidualBlock(2 * self.features, name="block1")(x)
    x = ResidualBlock(2 * self.features, name="block2")(x)
    f = Conv(self.embed_dim, 1, name="embed")(x)
    log_scale = self.param("log_scale", nn.initializers.constant(math.log(self.init_scale)), ())
    norm = jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True) + 1e-12)
    return f / norm * jnp.exp(0.5 * log_scale)


def half_resolution(x: jax.Array) -> jax.Array:
  """2x2 mean pooling: (B, H, W, C) with H, W even -> (B, H/2, W/2, C)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def init_encoder_params(model: PixelSearchEncoder, key: jax.Array, size: int = 16):
  """Parameters of `model` for a PRNG key (`prior.init`, host side; the tree of an init at
  a (1, size, size, 3) input)."""
  return init_on_host(lambda k: model.init(k, jnp.zeros((1, size, size, 3), jnp.float32)), key,
                      {"log_scale": math.log(model.init_scale)})
