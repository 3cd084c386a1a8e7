"""The sRGB conditioning rule (official `JpegConditionedSequential`).

Layers run in order. Activations (plain functions), `PCALayer`s and layers flagged
`no_srgb` are applied to the current tensor; every other layer receives
`cat[resize(S -> current h x w), current]` (sRGB channels first). The resize is PyTorch's
legacy nearest mode, `src = floor(dst * in / out)`, which for an integer factor k is
`S[:, ::k, ::k]` (top-left sample, not half-pixel).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.layers.pca import PCALayer

__all__ = ["ConditionedSequential", "resize_nearest", "with_srgb"]


def resize_nearest(s: jax.Array, h: int, w: int) -> jax.Array:
  """PyTorch legacy nearest resize of s: (B, H, W, 3) -> (B, h, w, 3)."""
  big_h, big_w = s.shape[1], s.shape[2]
  if (big_h, big_w) == (h, w):
    return s
  if big_h % h == 0 and big_w % w == 0:
    return s[:, :: big_h // h, :: big_w // w]
  rows = np.floor(np.arange(h) * big_h / h).astype(np.int32)
  cols = np.floor(np.arange(w) * big_w / w).astype(np.int32)
  return s[:, rows][:, :, cols]


def with_srgb(x: jax.Array, s: jax.Array) -> jax.Array:
  """cat[resize(s -> x's size), x] along channels: (B, h, w, 3 + c)."""
  sr = resize_nearest(s, x.shape[1], x.shape[2]).astype(x.dtype)
  return jnp.concatenate([sr, x], axis=-1)


class ConditionedSequential(nn.Module):
  """Sequential network conditioned on the sRGB image before each parametric layer.

  Attributes:
    layers: modules or plain functions, applied in order (submodules `layers_{i}`).
    no_srgb: indices of modules that must NOT receive the sRGB.
  """

  layers: Sequence[Callable]
  no_srgb: tuple[int, ...] = ()

  def __call__(
    self, x: jax.Array, s: jax.Array, *, return_intermediates: bool = False
  ):
    """Runs the network.

    Args:
      x: (B, h, w, c) input features.
      s: (B, H, W, 3) full-resolution sRGB in [0, 1].
      return_intermediates: also return every layer's own output.

    Returns:
      The last layer's output, or (output, [layer outputs]).
    """
    outs = []
    for i, layer in enumerate(self.layers):
      plain = not isinstance(layer, nn.Module) or isinstance(layer, PCALayer)
      if plain or i in self.no_srgb:
        x = layer(x)
      else:
        x = layer(with_srgb(x, s))
      outs.append(x)
    return (x, outs) if return_intermediates else x
