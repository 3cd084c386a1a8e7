"""The fitted global map alone (`isp.fitted_map`) as a baseline: ~310 bytes per image.

The base of R2LCM's `base = "fitted"` models without the network: the encoder fits the
additive piecewise-linear sRGB -> raw map to the pair and the metadata is its quantised
parameters (9K int16 with K = 17: 310 bytes, ~0.003 bpp at 768x1024). It shows what the
network adds on top, and is the cheapest method that needs no knowledge of the ISP.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.errors import InputError, ShapeMismatchError
from r2lcm_jax.isp import fitted_map

__all__ = ["FittedMapBaseline"]


@dataclasses.dataclass(frozen=True)
class FittedMapBaseline:
  """sRGB -> raw-RGB by one fitted global map per image.

  Attributes:
    knots: K knots of each piecewise-linear curve.
  """

  knots: int = fitted_map.DEFAULT_KNOTS
  name: str = "fitted map"

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """The map's bytes for an (H, W, 3) raw-RGB / sRGB pair."""
    raw_rgb, srgb = check_image(raw_rgb, "raw-RGB"), check_image(srgb, "sRGB")
    if raw_rgb.shape != srgb.shape:
      raise ShapeMismatchError(f"raw-RGB {raw_rgb.shape} and sRGB {srgb.shape} differ")
    return fitted_map.fit(srgb, raw_rgb, knots=self.knots).to_bytes()

  def reconstruct(self, srgb: np.ndarray, metadata: bytes) -> np.ndarray:
    """(H, W, 3) float32 raw-RGB from the sRGB and the map's bytes."""
    srgb = check_image(srgb, "sRGB")
    if not metadata:
      raise InputError("the fitted-map baseline needs its metadata (the map's bytes)")
    return fitted_map.apply(fitted_map.FittedMap.from_bytes(metadata), srgb)
