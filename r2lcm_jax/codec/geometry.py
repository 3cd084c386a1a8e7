"""Padding of images to the model's granularity, and the crop that undoes it.

The model needs H and W divisible by 16 (two stride-2 stages to the main latent, two more
to the hyper latent). Images are reflect-padded symmetrically (the extra pixel goes to
the bottom/right), unlike the official test script, which pads to multiples of 128 and
adds 128 pixels to sides that are already multiples of 128. The crop is written into
the bitstream, and metrics and bpp use the original area.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.errors import InputError

__all__ = ["Padding", "MIN_SIDE", "GRANULE", "plan_padding", "pad", "crop"]

GRANULE = 16
MIN_SIDE = 32


@dataclasses.dataclass(frozen=True)
class Padding:
  """Where the original (height, width) image sits inside the padded one."""

  height: int
  width: int
  top: int
  left: int
  padded_height: int
  padded_width: int

  @property
  def crop(self) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the original area in the padded image."""
    return (self.top, self.left, self.height, self.width)


def plan_padding(height: int, width: int, granule: int = GRANULE) -> Padding:
  """Smallest symmetric padding of (height, width) to multiples of `granule`."""
  if height < MIN_SIDE or width < MIN_SIDE:
    raise InputError(
      f"image of {height}x{width} pixels is too small: both sides must be >= {MIN_SIDE}"
    )
  ph = -(-height // granule) * granule
  pw = -(-width // granule) * granule
  return Padding(height, width, (ph - height) // 2, (pw - width) // 2, ph, pw)


def pad(image: np.ndarray, p: Padding) -> np.ndarray:
  """(H, W, C) -> (H', W', C) reflect-padded as planned."""
  bottom = p.padded_height - p.height - p.top
  right = p.padded_width - p.width - p.left
  return np.pad(image, ((p.top, bottom), (p.left, right), (0, 0)), mode="reflect")


def crop(image: np.ndarray, p: Padding) -> np.ndarray:
  """(H', W', C) -> (H, W, C): the original area."""
  return image[p.top : p.top + p.height, p.left : p.left + p.width]
