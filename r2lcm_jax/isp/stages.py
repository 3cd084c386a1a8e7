"""ISP stages: each a small pure numpy function, most with an `invert_*` partner.

Order of the forward pipeline (see `r2lcm_jax.isp.pipeline`):
  normalise_mosaic -> demosaic_bilinear      (RAW -> raw-RGB, what the models reconstruct)
  white_balance -> clip_highlights -> apply_ccm -> clip_gamut
  -> srgb_encode -> tone_curve -> quantise_8bit      (raw-RGB -> 8-bit sRGB)
All arrays are float32 NHWC-like (H, W, 3) unless stated; values in [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from r2lcm_jax.io.raw import XYZ_FROM_SRGB, cfa_masks

__all__ = [
  "normalise_mosaic",
  "demosaic_bilinear",
  "mosaic_from_rgb",
  "white_balance",
  "invert_white_balance",
  "clip_highlights",
  "ccm_from_xyz_to_cam",
  "apply_ccm",
  "invert_ccm",
  "clip_gamut",
  "srgb_encode",
  "srgb_decode",
  "tone_curve",
  "invert_tone_curve",
  "quantise_8bit",
  "dequantise_8bit",
  "GENERIC_CCM",
]

# Generic camera->linear-sRGB matrix (rows sum to 1) for sensors without one (INTEL-TAU):
# the mean of the two camera matrices in the project's real data (Canon EOS 550D DNG and
# GoPro HERO7 DNG, as computed by LibRaw), rounded to 3 decimals.
GENERIC_CCM = np.array(
  [[1.675, -0.571, -0.104],
   [-0.257, 1.726, -0.469],
   [-0.024, -0.455, 1.479]], dtype=np.float32)

_K_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4.0
_K_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4.0


def normalise_mosaic(mosaic: np.ndarray, black_level: np.ndarray, white_level: float) -> np.ndarray:
  """Black-level subtraction and normalisation by the white level.

  Args:
    mosaic: (H, W) uint16 sensor values (H, W even).
    black_level: (4,) black level per 2x2 CFA position in raster order.
    white_level: saturation value.

  Returns:
    (H, W) float32 `(v - black) / (white - black)` clipped to [0, 1].
  """
  h, w = mosaic.shape
  black = np.tile(np.asarray(black_level, np.float32).reshape(2, 2), (h // 2, w // 2))
  out = (mosaic.astype(np.float32) - black) / (np.float32(white_level) - black)
  return np.clip(out, 0.0, 1.0)


def demosaic_bilinear(mosaic: np.ndarray, cfa: str) -> np.ndarray:
  """Bilinear demosaicing of a Bayer mosaic.

  Each missing sample is the mean of its nearest same-colour neighbours (G: 4-neighbours;
  R/B: 2 or 4 neighbours); measured samples are kept. Borders mirror the image without
  repeating the edge pixel, which keeps the CFA parity, so border pixels use the same
  formula.

  Args:
    mosaic: (H, W) float32, H and W even.
    cfa: 2x2 Bayer phase, e.g. "RGGB".

  Returns:
    (H, W, 3) float32 raw-RGB.
  """
  mosaic = np.asarray(mosaic, np.float32)
  h, w = mosaic.shape
  masks = cfa_masks(cfa, h, w)
  out = np.empty((h, w, 3), np.float32)
  for c, kernel in enumerate((_K_RB, _K_G, _K_RB)):
    out[..., c] = ndimage.correlate(np.where(masks[c], mosaic, 0.0).astype(np.float32),
                                    kernel, mode="mirror")
  return out


def mosaic_from_rgb(rgb: np.ndarray, cfa: str) -> np.ndarray:
  """Samples (H, W, 3) RGB on a Bayer pattern -> (H, W) mosaic (same dtype)."""
  h, w, _ = rgb.shape
  masks = cfa_masks(cfa, h, w)
  return np.sum(np.where(masks.transpose(1, 2, 0), rgb, 0), axis=-1).astype(rgb.dtype)


def white_balance(rgb: np.ndarray, wb: np.ndarray) -> np.ndarray:
  """Multiplies each channel by its gain. rgb (..., 3), wb (3,) -> float32 (..., 3)."""
  return (rgb * np.asarray(wb, np.float32)).astype(np.float32)


def invert_white_balance(rgb: np.ndarray, wb: np.ndarray) -> np.ndarray:
  """Inverse of `white_balance` (divides by the gains)."""
  return (rgb / np.asarray(wb, np.float32)).astype(np.float32)


def clip_highlights(rgb: np.ndarray) -> np.ndarray:
  """Clips white-balanced camera RGB to [0, 1]: saturated sensor values become white."""
  return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def ccm_from_xyz_to_cam(xyz_to_cam: np.ndarray) -> np.ndarray:
  """Camera -> linear sRGB matrix from an XYZ -> camera matrix (dcraw convention).

  `cam_from_srgb = xyz_to_cam @ XYZ_FROM_SRGB`, rows normalised to sum to one (so that a
  white-balanced neutral stays neutral), then inverted.

  Returns:
    (3, 3) float32 matrix C with `srgb_linear = C @ cam_rgb_white_balanced`.
  """
  cam_from_srgb = np.asarray(xyz_to_cam, np.float64) @ XYZ_FROM_SRGB
  cam_from_srgb = cam_from_srgb / cam_from_srgb.sum(axis=1, keepdims=True)
  return np.linalg.inv(cam_from_srgb).astype(np.float32)


def apply_ccm(rgb: np.ndarray, ccm: np.ndarray) -> np.ndarray:
  """Applies a 3x3 colour matrix per pixel: out[..., i] = sum_j ccm[i, j] rgb[..., j]."""
  return np.einsum("...j,ij->...i", rgb, np.asarray(ccm, np.float32)).astype(np.float32)


def invert_ccm(rgb: np.ndarray, ccm: np.ndarray) -> np.ndarray:
  """Inverse of `apply_ccm` (applies inv(ccm))."""
  return apply_ccm(rgb, np.linalg.inv(np.asarray(ccm, np.float64)).astype(np.float32))


def clip_gamut(rgb: np.ndarray) -> np.ndarray:
  """Clips linear sRGB to [0, 1] (out-of-gamut and over-range values)."""
  return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
  """sRGB transfer curve (IEC 61966-2-1) on [0, 1] linear values."""
  x = np.clip(linear, 0.0, 1.0)
  out = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)
  return out.astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
  """Inverse of `srgb_encode`."""
  y = np.clip(encoded, 0.0, 1.0)
  out = np.where(y <= 0.04045, y / 12.92, np.power((y + 0.055) / 1.055, 2.4))
  return out.astype(np.float32)


def tone_curve(x: np.ndarray, strength: float = 0.5) -> np.ndarray:
  """Global S-shaped tone curve: (1 - s) x + s (3x^2 - 2x^3) on [0, 1].

  Monotone for s in [0, 1] (s = 0: identity, s = 1: smoothstep); fixes 0, 0.5 and 1.
  """
  x = np.clip(x, 0.0, 1.0).astype(np.float32)
  s = np.float32(strength)
  return ((1 - s) * x + s * x * x * (3 - 2 * x)).astype(np.float32)


def invert_tone_curve(y: np.ndarray, strength: float = 0.5) -> np.ndarray:
  """Inverse of `tone_curve` (closed form for s = 1, safeguarded Newton otherwise)."""
  y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
  s = float(strength)
  if s == 0.0:
    return y.astype(np.float32)
  if s == 1.0:
    return (0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)).astype(np.float32)
  x = y.copy()
  lo, hi = np.zeros_like(y), np.ones_like(y)
  for _ in range(30):
    f = (1 - s) * x + s * x * x * (3 - 2 * x) - y
    lo = np.where(f < 0, x, lo)
    hi = np.where(f >= 0, x, hi)
    df = (1 - s) + 6 * s * x * (1 - x)
    step = x - f / np.maximum(df, 1e-12)
    x = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
  return x.astype(np.float32)


def quantise_8bit(x: np.ndarray) -> np.ndarray:
  """[0, 1] float -> uint8 with round-half-to-even of 255 x (values clipped first)."""
  return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def dequantise_8bit(q: np.ndarray) -> np.ndarray:
  """uint8 -> float32 q / 255."""
  return (np.asarray(q, np.float32) / 255.0).astype(np.float32)

