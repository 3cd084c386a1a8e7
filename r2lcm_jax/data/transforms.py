"""Array transforms shared by the data pipelines; every function keeps raw and sRGB aligned.

All images are (H, W, C) arrays; functions taking a pair apply the same geometry to both.
"""

from __future__ import annotations

import numpy as np

__all__ = [
  "to_landscape",
  "centre_crop_to_multiple",
  "pad_to_multiple",
  "random_patch",
  "random_flip_rotate",
]


def to_landscape(raw: np.ndarray, srgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Rotates both images 90 degrees counter-clockwise when they are portrait (H > W)."""
  if raw.shape[0] > raw.shape[1]:
    return np.ascontiguousarray(np.rot90(raw, 1)), np.ascontiguousarray(np.rot90(srgb, 1))
  return raw, srgb


def centre_crop_to_multiple(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
  """Centre crop to multiples of `multiple` (official test protocol: start (h mod m)//2).

  Returns:
    (cropped array (H', W', C), (top, left, H', W') of the crop inside the original).
  """
  h, w = x.shape[:2]
  hh, ww = h - h % multiple, w - w % multiple
  if hh == 0 or ww == 0:
    raise ValueError(f"image {h}x{w} is smaller than the multiple {multiple}")
  top, left = (h % multiple) // 2, (w % multiple) // 2
  return x[top:top + hh, left:left + ww], (top, left, hh, ww)


def pad_to_multiple(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
  """Reflect-pads to multiples of `multiple`, split evenly (the odd pixel bottom/right).

  Returns:
    (padded array, (top, left, H, W) of the original area inside the padded array).
  """
  h, w = x.shape[:2]
  ph, pw = (-h) % multiple, (-w) % multiple
  top, left = ph // 2, pw // 2
  pad = [(top, ph - top), (left, pw - left)] + [(0, 0)] * (x.ndim - 2)
  mode = "reflect" if min(h, w) > max(ph, pw) else "symmetric"
  return np.pad(x, pad, mode=mode), (top, left, h, w)


def random_patch(raw: np.ndarray, srgb: np.ndarray, patch: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """The same random `patch` x `patch` window of both images (uniform top-left corner)."""
  h, w = raw.shape[:2]
  if h < patch or w < patch:
    raise ValueError(f"image {h}x{w} is smaller than the patch {patch}")
  top = int(rng.integers(0, h - patch + 1))
  left = int(rng.integers(0, w - patch + 1))
  return raw[top:top + patch, left:left + patch], srgb[top:top + patch, left:left + patch]


def random_flip_rotate(raw: np.ndarray, srgb: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """One of the 8 dihedral transforms (rotation by k*90 degrees, optional flip), on both.

  Rotations by 90/270 degrees are only drawn for square images, so shapes are kept.
  """
  k = int(rng.integers(0, 4 if raw.shape[0] == raw.shape[1] else 2)) * (
    1 if raw.shape[0] == raw.shape[1] else 2)
  flip = bool(rng.integers(0, 2))
  out = []
  for x in (raw, srgb):
    y = np.rot90(x, k)
    if flip:
      y = y[:, ::-1]
    out.append(np.ascontiguousarray(y))
  return out[0], out[1]
