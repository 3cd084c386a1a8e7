"""The ISP as one documented, deterministic pipeline: RAW -> raw-RGB -> 8-bit sRGB.

    raw_rgb = demosaic_bilinear(normalise_mosaic(mosaic, black, white), cfa)
    srgb    = quantise_8bit(tone_curve(srgb_encode(clip_gamut(
                ccm @ clip_highlights(exposure * wb * raw_rgb))), tone_strength))
    (optional) srgb = decode(JPEG(srgb, quality))

`raw_rgb` (float32 (H, W, 3) in [0, 1]) is the signal the models reconstruct; it is
stored as 16-bit (round(65535 x)). `invert_render` is the naive inverse (the 0-bpp
baseline): it undoes each invertible stage and cannot recover clipped values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from r2lcm_jax.io.images import decode_jpeg, encode_jpeg
from r2lcm_jax.io.raw import RawImage
from r2lcm_jax.isp import stages

__all__ = [
  "IspParams",
  "RenderResult",
  "raw_rgb_from_raw",
  "params_for",
  "params_for_illuminant",
  "render_srgb",
  "render_raw_rgb",
  "render",
  "invert_render",
]

DEFAULT_TONE_STRENGTH = 0.5


@dataclasses.dataclass(frozen=True, eq=False)
class IspParams:
  """Parameters of the raw-RGB -> sRGB stages.

  Attributes:
    wb: (3,) float32 white-balance gains (G = 1).
    ccm: (3, 3) float32 camera (white-balanced) -> linear sRGB matrix, rows sum to 1.
    exposure: scalar gain applied before white balance (1 = none).
    tone_strength: S-curve strength in [0, 1] of `stages.tone_curve`.
    ccm_source: where the matrix came from ("file", "generic", "identity").
    wb_source: where the gains came from ("as_shot", "illuminant", "given").
  """

  wb: np.ndarray
  ccm: np.ndarray
  exposure: float = 1.0
  tone_strength: float = DEFAULT_TONE_STRENGTH
  ccm_source: str = "file"
  wb_source: str = "as_shot"

  def to_dict(self) -> dict[str, Any]:
    """JSON-serialisable dict (lists of floats)."""
    return {
      "wb": [float(v) for v in np.asarray(self.wb).reshape(-1)],
      "ccm": [[float(v) for v in row] for row in np.asarray(self.ccm)],
      "exposure": float(self.exposure),
      "tone_strength": float(self.tone_strength),
      "ccm_source": self.ccm_source,
      "wb_source": self.wb_source,
      "stages": ["white_balance", "clip_highlights", "apply_ccm", "clip_gamut",
                 "srgb_encode", "tone_curve", "quantise_8bit"],
    }

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> IspParams:
    """Inverse of `to_dict`."""
    return cls(wb=np.asarray(d["wb"], np.float32), ccm=np.asarray(d["ccm"], np.float32),
               exposure=float(d.get("exposure", 1.0)),
               tone_strength=float(d.get("tone_strength", DEFAULT_TONE_STRENGTH)),
               ccm_source=str(d.get("ccm_source", "file")), wb_source=str(d.get("wb_source", "given")))


@dataclasses.dataclass(frozen=True, eq=False)
class RenderResult:
  """Output of `render`.

  Attributes:
    raw_rgb: (H, W, 3) float32 demosaiced raw-RGB in [0, 1].
    srgb: (H, W, 3) uint8 sRGB (the decoded JPEG when a quality was given).
    jpeg_bytes: the JPEG file contents, or None.
    params: the stage parameters used.
  """

  raw_rgb: np.ndarray
  srgb: np.ndarray
  jpeg_bytes: bytes | None
  params: IspParams


def raw_rgb_from_raw(raw: RawImage) -> np.ndarray:
  """Black level, white level and bilinear demosaic: RawImage -> (H, W, 3) float32 [0, 1]."""
  mosaic = stages.normalise_mosaic(raw.mosaic, raw.black_level, raw.white_level)
  return np.clip(stages.demosaic_bilinear(mosaic, raw.cfa), 0.0, 1.0)


def params_for(raw: RawImage, *, tone_strength: float = DEFAULT_TONE_STRENGTH) -> IspParams:
  """ISP parameters from the RAW's metadata: as-shot WB, file colour matrix (or generic)."""
  if raw.xyz_to_cam is not None:
    ccm, source = stages.ccm_from_xyz_to_cam(raw.xyz_to_cam), "file"
  else:
    ccm, source = stages.GENERIC_CCM.copy(), "generic"
  wb = np.asarray(raw.as_shot_wb, np.float32)
  return IspParams(wb=wb / wb[1], ccm=ccm, tone_strength=tone_strength, ccm_source=source,
                   wb_source="as_shot")


def params_for_illuminant(illuminant: np.ndarray, *, ccm: np.ndarray | None = None,
                          tone_strength: float = DEFAULT_TONE_STRENGTH) -> IspParams:
  """ISP parameters that white-balance a known illuminant (raw RGB, any scale) to grey."""
  ill = np.asarray(illuminant, np.float64)
  if ill.shape != (3,) or np.any(ill <= 0):
    raise ValueError(f"illuminant must be 3 positive values, got {illuminant}")
  wb = (ill[1] / ill).astype(np.float32)
  if ccm is None:
    return IspParams(wb=wb, ccm=stages.GENERIC_CCM.copy(), tone_strength=tone_strength,
                     ccm_source="generic", wb_source="illuminant")
  return IspParams(wb=wb, ccm=np.asarray(ccm, np.float32), tone_strength=tone_strength,
                   ccm_source="given", wb_source="illuminant")


def render_raw_rgb(raw_rgb: np.ndarray, params: IspParams) -> np.ndarray:
  """raw-RGB -> display-referred float sRGB before quantisation, (H, W, 3) float32 [0, 1]."""
  x = stages.white_balance(raw_rgb * np.float32(params.exposure), params.wb)
  x = stages.clip_highlights(x)
  x = stages.clip_gamut(stages.apply_ccm(x, params.ccm))
  return stages.tone_curve(stages.srgb_encode(x), params.tone_strength)


def render_srgb(raw_rgb: np.ndarray, params: IspParams) -> np.ndarray:
  """raw-RGB (H, W, 3) float32 [0, 1] -> sRGB (H, W, 3) uint8."""
  return stages.quantise_8bit(render_raw_rgb(raw_rgb, params))


def invert_render(srgb: np.ndarray, params: IspParams) -> np.ndarray:
  """Naive inverse ISP: sRGB (uint8, or float in [0, 1]) -> raw-RGB estimate float32.

  Undoes quantisation scale, tone curve, transfer curve, colour matrix, white balance and
  exposure; clipping is not undone (result clipped to [0, 1]).
  """
  x = stages.dequantise_8bit(srgb) if np.asarray(srgb).dtype == np.uint8 else np.asarray(srgb, np.float32)
  x = stages.srgb_decode(stages.invert_tone_curve(x, params.tone_strength))
  x = stages.invert_white_balance(stages.invert_ccm(x, params.ccm), params.wb)
  return np.clip(x / np.float32(params.exposure), 0.0, 1.0).astype(np.float32)


def render(raw: RawImage, jpeg_quality: int | None = None,
           params: IspParams | None = None) -> RenderResult:
  """Full ISP of a RAW frame.

  Args:
    raw: the RAW frame.
    jpeg_quality: None/0 for lossless 8-bit sRGB, else JPEG quality 1..100 (the returned
      `srgb` is then the decoded JPEG).
    params: stage parameters; default `params_for(raw)`.

  Returns:
    RenderResult with raw_rgb (H, W, 3) float32 and srgb (H, W, 3) uint8.
  """
  params = params_for(raw) if params is None else params
  raw_rgb = raw_rgb_from_raw(raw)
  srgb = render_srgb(raw_rgb, params)
  jpeg_bytes = None
  if jpeg_quality:
    jpeg_bytes = encode_jpeg(srgb, int(jpeg_quality))
    srgb = decode_jpeg(jpeg_bytes)
  return RenderResult(raw_rgb=raw_rgb, srgb=srgb, jpeg_bytes=jpeg_bytes, params=params)
