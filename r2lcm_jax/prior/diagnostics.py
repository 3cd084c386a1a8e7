"""What limits a metadata-free (0 bpp) reconstruction: the per-image channel-gain oracle.

An sRGB renderer white-balances and exposes each image; the raw keeps the scene
illuminant and exposure. A 0-bpp method must infer those per-image factors from the
sRGB alone (colour constancy). `gain_oracle` measures how much of a prediction's error is
only that: the per-channel gains g_c = <pred_c, raw_c> / <pred_c, pred_c> (least squares
against the ground truth, 3 numbers per image) applied to the prediction. A large gap
between `psnr` and `psnr` after the oracle says the error is mostly a per-image
global colour / exposure error, which no per-pixel refinement can fix without
metadata; a small gap says the error is local (texture, tone, highlights).
"""

from __future__ import annotations

import numpy as np

__all__ = ["channel_gains", "gain_oracle", "psnr_np"]


def channel_gains(pred: np.ndarray, raw: np.ndarray) -> np.ndarray:
  """(3,) least-squares gains g with g * pred ~ raw, per channel, of (H, W, 3) images
  (1 for an all-zero channel)."""
  p = np.asarray(pred, np.float64).reshape(-1, pred.shape[-1])
  r = np.asarray(raw, np.float64).reshape(-1, raw.shape[-1])
  den = np.sum(p * p, axis=0)
  return np.where(den > 0, np.sum(p * r, axis=0) / np.maximum(den, 1e-30), 1.0)


def psnr_np(pred: np.ndarray, raw: np.ndarray) -> float:
  """PSNR (dB) of two images in [0, 1] (float64 mean squared error)."""
  mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(raw, np.float64)) ** 2))
  return float("inf") if mse == 0 else -10.0 * np.log10(mse)


def gain_oracle(pred: np.ndarray, raw: np.ndarray) -> tuple[float, np.ndarray]:
  """(PSNR of clip(g * pred, 0, 1) against raw, the gains g (3,)) for (H, W, 3) images."""
  g = channel_gains(pred, raw)
  return psnr_np(np.clip(np.asarray(pred, np.float64) * g, 0.0, 1.0), raw), g
