"""Uniform sampling + one global colour mapping (RIR-like baseline).

Same metadata as SAM (`metadata_file`: raw-RGB samples on the uniform grid), but the
decoder fits ONE map sRGB -> raw-RGB for the whole image, with no spatial input:

    raw = sum_j w_j phi(|s - c_j|) + cubic polynomial(s),    s = (r, g, b) in [0, 1]

phi(r) = r^3. The centres c_j are chosen as in RIR's colour-space partitioning: the
sample colours are binned in a `bins`^3 grid of the sRGB cube (default 8^3) and each
occupied bin gives one centre, the mean colour of its samples (at most 512 centres).
Weights and the 20 cubic-polynomial coefficients are fitted to all samples by ridge-
regularised least squares (`rbf.fit_regression`), then the map is applied to every pixel
in chunks (bounded memory).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.baselines import metadata_file as mf
from r2lcm_jax.baselines import rbf
from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.errors import ShapeMismatchError
from r2lcm_jax.io.images import srgb_to_float

__all__ = ["GlobalMappingBaseline", "colour_centres", "fit_global_map", "apply_global_map"]


def colour_centres(colours: np.ndarray, bins: int = 8) -> np.ndarray:
  """Mean colour of the samples in each occupied cell of a bins^3 sRGB grid.

  Args:
    colours: (N, 3) float sRGB in [0, 1].

  Returns:
    (M, 3) float64 centres, M <= min(N, bins^3), ordered by cell index.
  """
  c = np.asarray(colours, np.float64)
  cell = np.clip((c * bins).astype(np.int64), 0, bins - 1)
  key = (cell[:, 0] * bins + cell[:, 1]) * bins + cell[:, 2]
  uniq, inv = np.unique(key, return_inverse=True)
  sums = np.zeros((len(uniq), 3))
  np.add.at(sums, inv, c)
  return sums / np.bincount(inv, minlength=len(uniq))[:, None]


def fit_global_map(colours: np.ndarray, values: np.ndarray, *, bins: int = 8, degree: int = 3,
                   ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
  """Fits the global map on samples.

  Args:
    colours: (N, 3) sRGB of the samples; values: (N, 3) their raw-RGB.

  Returns:
    centres (M, 3) and coefficients (M + T, 3), T = monomials of `degree` in 3 variables.
  """
  centres = colour_centres(colours, bins)
  coef = rbf.fit_regression(colours, values, centres, kernel_name="cubic", degree=degree,
                            ridge=ridge)
  return centres, coef


def apply_global_map(srgb: np.ndarray, centres: np.ndarray, coef: np.ndarray, *, degree: int = 3,
                     chunk: int = 65536) -> np.ndarray:
  """Applies a fitted map to an (H, W, 3) float sRGB image -> (H, W, 3) float32 in [0, 1]."""
  flat = srgb.reshape(-1, 3)
  out = np.empty(flat.shape, np.float32)
  for s in range(0, len(flat), chunk):
    f = rbf.regression_features(flat[s:s + chunk], centres, kernel_name="cubic", degree=degree)
    out[s:s + chunk] = f @ coef
  return np.clip(out, 0.0, 1.0).reshape(srgb.shape)


@dataclasses.dataclass(frozen=True)
class GlobalMappingBaseline:
  """Grid samples as metadata (same file as SAM), one global sRGB -> raw map.

  Attributes:
    step: grid step of the samples (rate 48 / step^2 bpp + 160 bits per image).
    bins: colour-grid resolution that picks the RBF centres.
    degree: polynomial degree of the map.
    ridge: relative Tikhonov weight of the least-squares fit.
  """

  step: int = 8
  bins: int = 8
  degree: int = 3
  ridge: float = 1e-6
  name: str = "global_mapping"

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """Metadata file bytes: the raw-RGB grid samples."""
    raw_rgb, srgb = check_image(raw_rgb, "raw-RGB"), check_image(srgb, "sRGB")
    if raw_rgb.shape != srgb.shape:
      raise ShapeMismatchError(f"raw-RGB {raw_rgb.shape} and sRGB {srgb.shape} differ")
    return mf.encode_samples(mf.sample_grid(raw_rgb, self.step))

  def reconstruct(self, srgb: np.ndarray, metadata: bytes) -> np.ndarray:
    """(H, W, 3) float32 raw-RGB: the global map applied to every pixel."""
    grid = mf.decode_samples(metadata)
    srgb = srgb_to_float(check_image(srgb, "sRGB"))
    if srgb.shape[:2] != (grid.height, grid.width):
      raise ShapeMismatchError(
        f"sRGB is {srgb.shape[0]}x{srgb.shape[1]} but the metadata describes"
        f" {grid.height}x{grid.width}")
    ys, xs = grid.positions()
    colours = srgb[ys[:, None], xs[None, :]].reshape(-1, 3)
    centres, coef = fit_global_map(colours, grid.values().reshape(-1, 3), bins=self.bins,
                                   degree=self.degree, ridge=self.ridge)
    out = apply_global_map(srgb, centres, coef, degree=self.degree)
    out[ys[:, None], xs[None, :]] = grid.values()
    return out
