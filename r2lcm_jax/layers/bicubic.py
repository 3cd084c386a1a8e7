"""Bicubic upsampling identical to PyTorch `interpolate(mode="bicubic", align_corners=False)`.

Half-pixel mapping `src = (dst + 0.5) / s - 0.5`, Keys cubic with A = -0.75, taps outside
the image clamped to the border pixel (replicate), separable (rows, then columns).
`jax.image.resize("cubic")` uses A = -0.5 and renormalises at the edges; it does not match.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["bicubic_upsample", "cubic_taps"]

_A = -0.75


def _keys(t: np.ndarray) -> np.ndarray:
  t = np.abs(t)
  near = ((_A + 2) * t - (_A + 3)) * t * t + 1
  far = ((_A * t - 5 * _A) * t + 8 * _A) * t - 4 * _A
  return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@functools.lru_cache(maxsize=64)
def cubic_taps(n_in: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
  """Static gather indices and weights of one axis.

  Args:
    n_in: input length.
    scale: integer upscale factor.

  Returns:
    idx int32 (n_in*scale, 4) clamped source indices; w float32 (n_in*scale, 4) weights.
  """
  dst = np.arange(n_in * scale, dtype=np.float64)
  src = (dst + 0.5) / scale - 0.5
  base = np.floor(src)
  t = src - base
  offs = np.arange(-1, 3)
  idx = np.clip(base[:, None] + offs[None, :], 0, n_in - 1).astype(np.int32)
  w = _keys(t[:, None] - offs[None, :]).astype(np.float32)
  return idx, w


def _axis(x: jax.Array, axis: int, scale: int) -> jax.Array:
  idx, w = cubic_taps(x.shape[axis], scale)
  taps = jnp.take(x, jnp.asarray(idx.reshape(-1)), axis=axis)
  shape = list(x.shape)
  shape[axis] = idx.shape[0]
  shape.insert(axis + 1, 4)
  taps = taps.reshape(shape)
  wshape = [1] * len(shape)
  wshape[axis] = idx.shape[0]
  wshape[axis + 1] = 4
  return jnp.sum(taps * jnp.asarray(w, x.dtype).reshape(wshape), axis=axis + 1)


def bicubic_upsample(x: jax.Array, scale: int) -> jax.Array:
  """x: (B, h, w, C) -> (B, h*scale, w*scale, C), PyTorch bicubic (A=-0.75, clamped)."""
  if scale == 1:
    return x
  return _axis(_axis(x, 1, scale), 2, scale)
