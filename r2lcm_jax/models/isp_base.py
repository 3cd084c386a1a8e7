"""The ISP base of `R2LCMConfig.base = "isp_inverse"`: raw-RGB <-> the residual domain.

When the sRGB was rendered by a known global ISP (the project's own, from a DNG), the
naive inverse of that ISP already recovers the raw-RGB up to 8-bit / JPEG loss and
clipping. The network then spends its metadata on what the inverse cannot know:

    x_base = invert_render(sRGB, isp)          (H, W, 3) float32 in [0, 1]
    r      = residual_gain * (x_raw - x_base)  what g_a sees and the latents describe
    x_hat  = clip(x_base + r_hat / residual_gain, 0, 1)   what the decoder returns

raw-RGB lies in [0, 1] by construction (`isp.pipeline.raw_rgb_from_raw`), so the decoder
clips: where the sRGB clipped, the residual is large and the network may overshoot, and
the clip can only bring x_hat closer to the raw. (The paper's model, base "none", is not
clamped, as in the official evaluation.) Training measures the unclipped error.

The entropy model only ever sees the sRGB and the decoded latents, so the bitstream's
bytes do not depend on x_base; the ISP parameters are carried in the header.
With `base = "none"` (the paper) every function here is the identity on x_raw.
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.errors import InputError
from r2lcm_jax.isp import pipeline
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["needs_isp", "base_image", "to_residual", "residual_delta", "from_residual",
           "header_values", "params_from_header"]


def needs_isp(cfg: R2LCMConfig) -> bool:
  """True if the model reconstructs over the naive inverse (and needs ISP parameters)."""
  return cfg.base == "isp_inverse"


def base_image(cfg: R2LCMConfig, srgb: np.ndarray, isp: pipeline.IspParams | None) -> np.ndarray | None:
  """x_base (H, W, 3) float32 for sRGB (H, W, 3) uint8 or float in [0, 1]; None if base="none".

  Raises:
    InputError: the model needs ISP parameters and none were given.
  """
  if not needs_isp(cfg):
    return None
  if isp is None:
    raise InputError(
      "this model reconstructs over the naive inverse ISP (base='isp_inverse'): give the "
      "ISP parameters the sRGB was rendered with (a render manifest, or the DNG)")
  return pipeline.invert_render(srgb, isp)


def to_residual(cfg: R2LCMConfig, x_raw: np.ndarray, x_base: np.ndarray | None) -> np.ndarray:
  """The network's target: residual_gain * (x_raw - x_base), or x_raw for base="none"."""
  if x_base is None:
    return x_raw
  return (np.float32(cfg.residual_gain) * (np.asarray(x_raw, np.float32) - x_base)).astype(np.float32)


def residual_delta(cfg: R2LCMConfig, r_hat: np.ndarray) -> np.ndarray:
  """The network output in raw units: float32 r_hat / residual_gain (same shape)."""
  return (np.asarray(r_hat, np.float32) / np.float32(cfg.residual_gain)).astype(np.float32)


def from_residual(cfg: R2LCMConfig, r_hat: np.ndarray, x_base: np.ndarray | None) -> np.ndarray:
  """Raw-RGB from the network output: clip(x_base + r_hat / gain, 0, 1) (r_hat for "none")."""
  if x_base is None:
    return r_hat
  return np.clip(x_base + residual_delta(cfg, r_hat), 0.0, 1.0).astype(np.float32)


def header_values(isp: pipeline.IspParams) -> tuple[float, ...]:
  """The 14 values the bitstream header stores (float32-exact): wb, ccm, exposure, tone."""
  vals = np.concatenate([
    np.asarray(isp.wb, np.float32).reshape(3), np.asarray(isp.ccm, np.float32).reshape(9),
    np.asarray([isp.exposure, isp.tone_strength], np.float32)])
  return tuple(float(v) for v in vals)


def params_from_header(values) -> pipeline.IspParams:
  """Inverse of `header_values` (the decoder's ISP; the encoder uses it too)."""
  v = np.asarray(values, np.float32)
  return pipeline.IspParams(wb=v[0:3].copy(), ccm=v[3:12].reshape(3, 3).copy(),
                            exposure=float(v[12]), tone_strength=float(v[13]),
                            ccm_source="given", wb_source="given")
