"""PriorRAW (0 bpp): raw-RGB from the sRGB alone, with a prior built offline from train pairs.

Wraps the tiled whole-image inference of `prior.inference.reconstruct_image` (Algorithm 3:
pixel searching encoder + reconstructor attending to the prior entries). The prior and
the networks are fixed per camera / training set, not per image, so nothing travels
with an image: `encode` returns b"" and the rate is 0 bpp, like the naive inverse ISP
and the U-Net. Build one with `PriorRawBaseline.from_files(model.msgpack, prior.npz)`,
the files the PriorRAW stages (`prior.stages`) write.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.errors import BitstreamError, CheckpointError
from r2lcm_jax.io.images import srgb_to_float
from r2lcm_jax.prior.inference import check_prior_matches, reconstruct_image
from r2lcm_jax.prior.model_file import PriorModel, load_model
from r2lcm_jax.prior.prior_file import Prior, load_prior

__all__ = ["PriorRawBaseline"]


@dataclasses.dataclass(frozen=True, eq=False)
class PriorRawBaseline:
  """Trained PriorRAW as a 0-bpp baseline.

  Attributes:
    model: encoder + trained reconstructor.
    prior: prior built with this encoder (K entries).
    tile, halo: reconstruction window core and context in pixels (multiples of 8).

  Raises:
    CheckpointError: at construction, a model without reconstructor or a prior of
      another encoder.
  """

  model: PriorModel
  prior: Prior
  tile: int = 512
  halo: int = 64
  name: str = "prior_raw"

  def __post_init__(self):
    if self.model.reconstructor is None:
      raise CheckpointError("PriorRAW needs a model with a trained reconstructor")
    check_prior_matches(self.model, self.prior)

  @classmethod
  def from_files(cls, model_path: str | os.PathLike, prior_path: str | os.PathLike,
                 **kwargs) -> PriorRawBaseline:
    """From a `model.msgpack` (encoder + reconstructor) and its `prior.npz`."""
    return cls(load_model(model_path, need_reconstructor=True), load_prior(prior_path), **kwargs)

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """No metadata: b""."""
    check_image(raw_rgb, "raw-RGB")
    check_image(srgb, "sRGB")
    return b""

  def reconstruct(self, srgb: np.ndarray, metadata: bytes = b"") -> np.ndarray:
    """(H, W, 3) uint8 or float [0, 1] sRGB -> (H, W, 3) float32 raw-RGB in [0, 1]."""
    if metadata:
      raise BitstreamError(f"PriorRAW takes no metadata, got {len(metadata)} bytes")
    x = srgb_to_float(check_image(srgb, "sRGB"))
    out = reconstruct_image(self.model, self.prior, x, tile=self.tile, halo=self.halo)
    return np.asarray(out, np.float32)
