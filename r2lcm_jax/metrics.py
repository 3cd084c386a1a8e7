"""Image-quality and rate metrics in jnp: PSNR, SSIM and bits-per-pixel helpers.

SSIM reproduces `skimage.metrics.structural_similarity(x, y, data_range=1,
channel_axis=-1)` with its defaults: a 7x7 uniform window, sample covariance
(normalised by N-1 with N=49), K1=0.01, K2=0.03, the mean taken over the valid
region (3 pixels cropped at each border) and then over channels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["mse", "psnr", "ssim", "bits_to_bpp", "bytes_to_bpp", "score_pair", "PROTOCOL"]


def mse(x: jax.Array, y: jax.Array) -> jax.Array:
  """Per-image mean squared error.

  Args:
    x: (B, H, W, C) float images.
    y: (B, H, W, C) float images, same shape.

  Returns:
    (B,) float32 mean squared error of each image.
  """
  d = jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32)
  return jnp.mean(jnp.square(d), axis=tuple(range(1, d.ndim)))


def psnr(x: jax.Array, y: jax.Array, data_range: float = 1.0) -> jax.Array:
  """Per-image PSNR in dB, `10 log10(data_range^2 / mse)`.

  Args:
    x: (B, H, W, C) float images.
    y: (B, H, W, C) float images.
    data_range: peak value (1 for images in [0, 1]).

  Returns:
    (B,) float32 PSNR; +inf for identical images.
  """
  return 10.0 * jnp.log10(data_range**2 / mse(x, y))


def _box_mean(a: jax.Array, win_size: int) -> jax.Array:
  """Mean over every valid `win_size` x `win_size` window of a (B, H, W, C) array."""
  window = (1, win_size, win_size, 1)
  total = jax.lax.reduce_window(a, 0.0, jax.lax.add, window, (1, 1, 1, 1), "VALID")
  return total / (win_size * win_size)


def ssim(
  x: jax.Array,
  y: jax.Array,
  data_range: float = 1.0,
  win_size: int = 7,
  k1: float = 0.01,
  k2: float = 0.03,
) -> jax.Array:
  """Per-image mean structural similarity (skimage conventions, see module doc).

  Args:
    x: (B, H, W, C) float images, H and W >= `win_size`.
    y: (B, H, W, C) float images, same shape.
    data_range: dynamic range of the images (1 for [0, 1]).
    win_size: odd side of the uniform window.
    k1: luminance stabiliser constant.
    k2: contrast stabiliser constant.

  Returns:
    (B,) float32 SSIM, the mean over the valid region and over channels.
  """
  if x.shape != y.shape or x.ndim != 4:
    raise ValueError(f"ssim needs two (B, H, W, C) arrays of one shape, got {x.shape} and {y.shape}")
  if min(x.shape[1:3]) < win_size:
    raise ValueError(f"ssim needs H, W >= win_size={win_size}, got {x.shape[1:3]}")
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  n = win_size * win_size
  cov_norm = n / (n - 1)
  ux, uy = _box_mean(x, win_size), _box_mean(y, win_size)
  uxx, uyy, uxy = _box_mean(x * x, win_size), _box_mean(y * y, win_size), _box_mean(x * y, win_size)
  vx = cov_norm * (uxx - ux * ux)
  vy = cov_norm * (uyy - uy * uy)
  vxy = cov_norm * (uxy - ux * uy)
  c1 = (k1 * data_range) ** 2
  c2 = (k2 * data_range) ** 2
  s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
  return jnp.mean(s, axis=(1, 2, 3))


def bits_to_bpp(bits: jax.Array | float, height: int, width: int) -> jax.Array:
  """Bits per pixel of an image of `height` x `width` pixels.

  Args:
    bits: total bits (scalar or (B,) per image).
    height: image height in pixels.
    width: image width in pixels.

  Returns:
    float32 bpp with the shape of `bits`.
  """
  return jnp.asarray(bits, jnp.float32) / float(height * width)


def bytes_to_bpp(num_bytes: int, height: int, width: int) -> float:
  """Bits per pixel of a bitstream of `num_bytes` bytes for a `height` x `width` image."""
  if height <= 0 or width <= 0:
    raise ValueError(f"image size must be positive, got {height}x{width}")
  return 8.0 * num_bytes / (height * width)


PROTOCOL = (
  "PSNR on [0,1] over the original area, reconstruction not clamped; SSIM as skimage "
  "structural_similarity (data_range=1, 7x7 uniform window, sample covariance, mean over "
  "channels); bpp = 8*bytes/(H*W) from the files on disk (metadata only, and metadata + "
  "sRGB file)."
)


def score_pair(x, x_hat) -> tuple[float, float]:
  """(PSNR dB, SSIM) of x̂ against x, both (H, W, 3) on [0, 1] (see PROTOCOL)."""
  a = jnp.asarray(x, jnp.float32)[None]
  b = jnp.asarray(x_hat, jnp.float32)[None]
  return float(psnr(a, b)[0]), float(ssim(a, b)[0])
