"""Naive inverse ISP (0 bpp): undo tone curve, sRGB transfer, colour matrix and white balance.

Wraps `isp.pipeline.invert_render` with the camera's known ISP parameters, given directly
(`IspParams`) or read from a rendered dataset's manifest
(`data.manifest.params_from_manifest`). Clipped highlights / gamut and the 8-bit
quantisation are not undone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.errors import BitstreamError
from r2lcm_jax.isp import pipeline

__all__ = ["NaiveInverseBaseline"]


@dataclasses.dataclass(frozen=True)
class NaiveInverseBaseline:
  """The ISP inverted stage by stage with known parameters; no metadata.

  Attributes:
    params: the ISP parameters the sRGB was rendered with.
  """

  params: pipeline.IspParams
  name: str = "naive_inverse"

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """No metadata: b""."""
    check_image(raw_rgb, "raw-RGB")
    check_image(srgb, "sRGB")
    return b""

  def reconstruct(self, srgb: np.ndarray, metadata: bytes = b"") -> np.ndarray:
    """(H, W, 3) float32 raw-RGB = `invert_render(srgb, params)`."""
    if metadata:
      raise BitstreamError(f"naive inverse takes no metadata, got {len(metadata)} bytes")
    return pipeline.invert_render(check_image(srgb, "sRGB"), self.params)
