"""The base of `R2LCMConfig.base` ("isp_inverse", "fitted"): raw-RGB <-> the residual domain.

A base is a cheap estimate of the raw-RGB from the sRGB that the decoder can compute
from the sRGB and the bitstream header alone; the network then spends its metadata on
what the base cannot know:

  "isp_inverse": the sRGB was rendered by a known global ISP (the project's own, from a
    DNG); its naive inverse recovers the raw-RGB up to 8-bit / JPEG loss and clipping.
    The 14 ISP values travel in the header. Only valid for sRGB that ISP made
    (`check_rendered_by` refuses others).
  "fitted": the sRGB came from any ISP; the encoder fits a global sRGB -> raw map to
    the pair (`isp.fitted_map`) and its 310 parameter bytes travel in the header.

    x_base = invert_render(sRGB, isp) | fitted_map.apply(fm, sRGB)   (H, W, 3) in [0, 1]
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
from r2lcm_jax.isp import fitted_map, pipeline
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["needs_isp", "needs_fit", "has_base", "base_image", "to_residual", "residual_delta",
           "from_residual", "header_values", "params_from_header", "check_rendered_by",
           "fit_base", "rerender_psnr", "MIN_RERENDER_PSNR"]

# The sRGB given with an ISP-base model must match the project's ISP re-rendered from
# the RAW at least this well: PSNR in dB between the 8x8 block means of the two 8-bit
# images (block means keep tone and colour, where ISPs differ, and drop most of the
# JPEG error). Measured on the shared frames by `experiments/rerender_threshold.py`
# (Canon chart, INTEL-TAU 005/018, a HERO7 crop; `experiments/README.md`): the project's
# own render as JPEG q90 / q50 / q10 / q5 gives 53-54 / 44-45 / 33-34 / 27.5-29 dB;
# darktable 4.2 renders (style default) 18.7-20.9 dB and RawTherapee 5.9 renders (style
# default, a global auto-matched curve close to ours) 29.3-30.4 dB. JPEG below q10 of the
# project's own render is refused too.
MIN_RERENDER_PSNR = 31.0
_RERENDER_BLOCK = 8


def needs_isp(cfg: R2LCMConfig) -> bool:
  """True if the model reconstructs over the naive inverse (and needs ISP parameters)."""
  return cfg.base == "isp_inverse"


def needs_fit(cfg: R2LCMConfig) -> bool:
  """True if the model reconstructs over a map fitted per image (`isp.fitted_map`)."""
  return cfg.base == "fitted"


def has_base(cfg: R2LCMConfig) -> bool:
  """True if the network codes a residual over a base (any base but "none")."""
  return cfg.base != "none"


def fit_base(cfg: R2LCMConfig, srgb: np.ndarray, raw: np.ndarray) -> fitted_map.FittedMap:
  """The encoder's fitted map of an (sRGB, raw) pair (H, W, 3) at the model's knots."""
  return fitted_map.fit(srgb, raw, knots=cfg.fitted_knots)


def base_image(cfg: R2LCMConfig, srgb: np.ndarray, isp: pipeline.IspParams | None,
               fitted: fitted_map.FittedMap | None = None) -> np.ndarray | None:
  """x_base (H, W, 3) float32 for sRGB (H, W, 3) uint8 or float in [0, 1]; None if base="none".

  Raises:
    InputError: the model needs ISP parameters (or a fitted map) and none were given.
  """
  if needs_fit(cfg):
    if fitted is None:
      raise InputError("this model reconstructs over a fitted map (base='fitted'): "
                       "the fitted map is missing")
    return fitted_map.apply(fitted, srgb)
  if not needs_isp(cfg):
    return None
  if isp is None:
    raise InputError(
      "this model reconstructs over the naive inverse ISP (base='isp_inverse'): give the "
      "ISP parameters the sRGB was rendered with (a render manifest, or the DNG)")
  return pipeline.invert_render(srgb, isp)


def _block_means(x: np.ndarray) -> np.ndarray:
  """(H, W, 3) -> (ceil(H/8), ceil(W/8), 3) means of 8x8 blocks (edge blocks smaller)."""
  b = _RERENDER_BLOCK
  h, w = x.shape[:2]
  rows = np.add.reduceat(x.astype(np.float64), np.arange(0, h, b), axis=0)
  sums = np.add.reduceat(rows, np.arange(0, w, b), axis=1)
  counts = np.outer(np.diff(np.r_[np.arange(0, h, b), h]), np.diff(np.r_[np.arange(0, w, b), w]))
  return sums / counts[..., None]


def rerender_psnr(srgb: np.ndarray, raw: np.ndarray, isp: pipeline.IspParams) -> float:
  """PSNR (dB) of 8x8 block means of `srgb` against the project ISP's render of `raw`.

  srgb: (H, W, 3) uint8 or float in [0, 1]; raw: (H, W, 3) raw-RGB in [0, 1].
  """
  s = np.asarray(srgb)
  s = s.astype(np.float32) if s.dtype == np.uint8 else np.asarray(s, np.float32) * 255.0
  again = pipeline.render_srgb(np.asarray(raw, np.float32), isp).astype(np.float32)
  mse = float(np.mean((_block_means(s) - _block_means(again)) ** 2))
  return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def check_rendered_by(srgb: np.ndarray, raw: np.ndarray, isp: pipeline.IspParams) -> float:
  """Refuses an sRGB that the project's ISP with `isp` did not make from `raw`.

  Re-renders `raw` (H, W, 3) with `isp` and compares it with `srgb` (H, W, 3, uint8 or
  float in [0, 1]) in 8-bit units, on 8x8 block means (see MIN_RERENDER_PSNR).

  Returns:
    The block-mean PSNR (dB) of `srgb` against the re-render.

  Raises:
    InputError: the PSNR is below MIN_RERENDER_PSNR.
  """
  psnr = rerender_psnr(srgb, raw, isp)
  if psnr < MIN_RERENDER_PSNR:
    raise InputError(
      f"this sRGB was not rendered by the project's ISP with these parameters "
      f"({psnr:.1f} dB against a re-render, need >= {MIN_RERENDER_PSNR:.0f}); the model "
      f"(base='isp_inverse') would invert the wrong ISP: use a model with base 'fitted' "
      f"or 'none' for sRGB from another ISP (a camera JPEG, darktable, RawTherapee)")
  return psnr


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
