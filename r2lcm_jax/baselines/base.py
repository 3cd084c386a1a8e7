"""The common interface of the baselines and their rate in bits per pixel.

A baseline is any object with

    name: str
    encode(raw_rgb (H, W, 3) float32 [0, 1], srgb (H, W, 3) uint8 or float [0, 1]) -> bytes
    reconstruct(srgb (H, W, 3) uint8 or float [0, 1], metadata: bytes) -> (H, W, 3) float32

so the benchmark can run all of them the same way (sRGB to float32:
`io.images.srgb_to_float`, as the codec does). The rate is measured on the real
metadata bytes: bpp = 8 * len(metadata) / (H * W).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from r2lcm_jax.errors import ShapeMismatchError

__all__ = ["Baseline", "bits_per_pixel", "check_image"]


@runtime_checkable
class Baseline(Protocol):
  """sRGB -> raw-RGB reconstruction with (possibly empty) metadata."""

  name: str

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """Metadata bytes for this (raw-RGB, sRGB) pair; b"" when the method needs none."""
    ...

  def reconstruct(self, srgb: np.ndarray, metadata: bytes) -> np.ndarray:
    """(H, W, 3) float32 raw-RGB estimate in [0, 1]."""
    ...


def bits_per_pixel(metadata: bytes, height: int, width: int) -> float:
  """`8 * len(metadata) / (height * width)`: the rate of a metadata blob."""
  if height <= 0 or width <= 0:
    raise ValueError(f"image size must be positive, got {height}x{width}")
  return 8.0 * len(metadata) / float(height * width)


def check_image(arr: np.ndarray, what: str) -> np.ndarray:
  """Checks an (H, W, 3) image with H, W >= 1; ShapeMismatchError otherwise."""
  arr = np.asarray(arr)
  if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
    raise ShapeMismatchError(f"{what} must be an (H, W, 3) image, got shape {arr.shape}")
  return arr
